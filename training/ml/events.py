"""The progress protocol between a training child process and whoever launched it.

The child prints one JSON object per line on stdout; every other line (stdout or stderr) is free
log text. Events, in the order a successful run emits them:

    {"event": "start", "total_steps": N}
    {"event": "progress", "step": s, "total_steps": N}          # after each optimizer step
    {"event": "metrics", "step": s, "values": {"loss": ..., ...}}
    {"event": "log", "message": "..."}
    {"event": "done", "output_dir": "...", "metrics": {...}}     # last line of a successful run
    {"event": "error", "message": "..."}                         # last line of a failed run

Only the process of rank 0 emits (the others of an `accelerate launch` stay silent), and the
parent decides by the exit code, not by the presence of "error". `parse_event` is the reader.
"""

import json
import math
import os
import sys
from typing import Any, TextIO

EVENT_TYPES = frozenset({"start", "progress", "metrics", "log", "done", "error"})


def is_main_process() -> bool:
    """True in a single process and in rank 0 of a launch (torchrun/accelerate set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


def _json_safe(value: Any) -> Any:
    """Floats that JSON cannot carry (nan, inf) become None so the line stays parseable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def emit(event: str, stream: TextIO | None = None, **fields: Any) -> None:
    """Print one event line (rank 0 only) and flush so the parent sees it at once."""
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown event {event!r}")
    if not is_main_process():
        return
    line = json.dumps({"event": event, **_json_safe(fields)}, allow_nan=False)
    out = stream or sys.stdout
    out.write(line + "\n")
    out.flush()


def parse_event(line: str) -> dict[str, Any] | None:
    """The event a line carries, or None for free log text (anything not a known JSON event)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("event") not in EVENT_TYPES:
        return None
    return obj
