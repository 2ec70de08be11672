"""Reads for the selection of pairs: what a scoring run scores, and what the queue looks like."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q

from labeling.models import Pair, Project, SelectionStrategy
from labeling.selectors_export import preference_row

# Bins of the predicted margin r(a) - r(b) on the dashboard; the outer two are open-ended.
MARGIN_BIN_EDGES = (-4.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0)


def open_pairs_for_scoring(*, project: Project, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """The project's open pairs (ordinary, not full) as {"id", "prompt", "a", "b"}, formatted as
    a snapshot's conversational preference rows, so a reward model reads them as in training."""
    rows = (
        Pair.objects.filter(project=project, is_full=False, is_gold=False)
        .order_by("pk")
        .values_list("pk", "prompt__messages", "candidate_a__text", "candidate_b__text")
    )
    for pair_id, messages, text_a, text_b in rows.iterator(chunk_size=chunk_size):
        row = preference_row(messages, text_a, text_b, conversational=True)
        yield {"id": pair_id, "prompt": row["prompt"], "a": row["chosen"], "b": row["rejected"]}


@dataclass(frozen=True)
class MarginBin:
    """One bar of the histogram, with its place in the page's SVG (100 units per bar, bars
    up to 100 high above a baseline at 120)."""

    index: int
    label: str
    count: int
    height: int  # % of the tallest bar

    @property
    def x(self) -> int:
        return 100 * self.index + 8

    @property
    def middle(self) -> int:
        return 100 * self.index + 50

    @property
    def top(self) -> int:
        return 120 - self.height


@dataclass(frozen=True)
class SelectionSummary:
    strategy: str
    strategy_label: str
    exploration_share: float
    open_pairs: int
    scored_open_pairs: int
    last_scored_at: datetime | None
    # The open pairs' predicted margins, binned (empty before any scoring).
    margin_bins: list[MarginBin] = field(default_factory=list)


def _bin_label(index: int) -> str:
    edges = MARGIN_BIN_EDGES
    if index == 0:
        return f"< {edges[0]:g}"
    if index == len(edges):
        return f"≥ {edges[-1]:g}"
    return f"{edges[index - 1]:g} to {edges[index]:g}"


def selection_summary(*, project: Project) -> SelectionSummary:
    open_pairs = Pair.objects.filter(project=project, is_full=False, is_gold=False)
    facts = open_pairs.aggregate(
        total=Count("pk"), scored=Count("predicted_margin"), last=Max("scored_at")
    )
    last = facts["last"] or Pair.objects.filter(project=project).aggregate(m=Max("scored_at"))["m"]
    counts = [0] * (len(MARGIN_BIN_EDGES) + 1)
    if facts["scored"]:
        # One query: a filtered count per bin, over the partial index of the open queue.
        edges = (None, *MARGIN_BIN_EDGES, None)
        bins = {
            f"bin{i}": Count(
                "pk",
                filter=Q(
                    **({"predicted_margin__gte": low} if low is not None else {}),
                    **({"predicted_margin__lt": high} if high is not None else {}),
                    predicted_margin__isnull=False,
                ),
            )
            for i, (low, high) in enumerate(zip(edges, edges[1:], strict=False))
        }
        found = open_pairs.aggregate(**bins)
        counts = [found[f"bin{i}"] for i in range(len(counts))]
    tallest = max(counts) or 1
    return SelectionSummary(
        strategy=project.selection_strategy,
        strategy_label=SelectionStrategy(project.selection_strategy).label,
        exploration_share=project.exploration_share,
        open_pairs=facts["total"],
        scored_open_pairs=facts["scored"],
        last_scored_at=last,
        margin_bins=[
            MarginBin(i, _bin_label(i), count, round(100 * count / tallest))
            for i, count in enumerate(counts)
        ]
        if facts["scored"]
        else [],
    )
