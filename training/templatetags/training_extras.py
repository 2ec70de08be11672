"""Formatting for the training dashboard: durations, metric values, the metrics worth a glance."""

from datetime import timedelta
from typing import Any

from django import template

from training.selectors_dashboard import key_metrics as _key_metrics

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min'; '—' when unknown."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def metric(value: Any) -> str:
    """Four significant digits for floats; anything else as it is."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e9:
            return str(int(value))  # counts: 12420 tokens, not 1.242e+04
        return f"{value:.4g}"
    return str(value)


@register.filter
def key_metrics(metrics: dict[str, Any] | None) -> list[tuple[str, Any]]:
    return _key_metrics(metrics or {})


@register.filter
def lookup(mapping: dict | None, key: Any) -> Any:
    """`mapping[key]`, or None: a row's entry in a dict the view passed (artifact ratings)."""
    return mapping.get(key) if mapping else None
