"""What a project holds, for lists: prompts, candidates and pairs with their counts."""

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from labeling.models import Candidate, Judgment, Pair, Project, Prompt


def _count_of(queryset: QuerySet, outer: str) -> Coalesce:
    """A correlated COUNT (a subquery per row, so several counts do not multiply each other)."""
    counted = (
        queryset.filter(**{outer: OuterRef("pk")})
        .order_by()
        .values(outer)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def prompts_with_counts(*, project: Project, heldout: bool | None = None) -> QuerySet[Prompt]:
    prompts = Prompt.objects.filter(project=project).annotate(
        candidate_count=_count_of(Candidate.objects.all(), "prompt"),
        pair_count=_count_of(Pair.objects.all(), "prompt"),
        judgment_count=_count_of(Judgment.objects.all(), "pair__prompt"),
    )
    return prompts if heldout is None else prompts.filter(heldout=heldout)


def candidates_with_counts(
    *, project: Project, prompt_id: int | None = None, source: str | None = None
) -> QuerySet[Candidate]:
    candidates = Candidate.objects.filter(prompt__project=project).annotate(
        pair_count=_count_of(Pair.objects.all(), "candidate_a")
        + _count_of(Pair.objects.all(), "candidate_b"),
    )
    if prompt_id is not None:
        candidates = candidates.filter(prompt_id=prompt_id)
    if source:
        candidates = candidates.filter(source=source)
    return candidates


def pairs_of(
    *,
    project: Project,
    prompt_id: int | None = None,
    is_gold: bool | None = None,
    is_full: bool | None = None,
) -> QuerySet[Pair]:
    """A project's pairs; `judgment_count` is kept on the row."""
    pairs = Pair.objects.filter(project=project)
    if prompt_id is not None:
        pairs = pairs.filter(prompt_id=prompt_id)
    if is_gold is not None:
        pairs = pairs.filter(is_gold=is_gold)
    if is_full is not None:
        pairs = pairs.filter(is_full=is_full)
    return pairs
