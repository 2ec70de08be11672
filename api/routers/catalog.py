"""Prompts, candidates and pairs of a project, with their judgment counts (managers only)."""

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Router
from ninja.pagination import CursorPagination, paginate

from api.access import manager_project_or_404
from api.schemas import (
    CandidateRow,
    Id,
    PairOut,
    PrioritiesIn,
    PrioritiesOut,
    PromptRow,
    answers,
)
from labeling.models import Candidate, Pair, Prompt
from labeling.selectors_catalog import candidates_with_counts, pairs_of, prompts_with_counts
from labeling.services.selection import PairUpdate, pairs_update

router = Router(tags=["prompts, candidates and pairs"])


def _one(queryset: QuerySet, pk: int, what: str):  # type: ignore[no-untyped-def]
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise Http404(f"No such {what}")
    return found


@router.get("/projects/{slug}/prompts", response=answers(list[PromptRow]))
@paginate(CursorPagination, ordering=("id",))
def prompts_list(request: HttpRequest, slug: str, heldout: bool | None = None) -> QuerySet[Prompt]:
    project = manager_project_or_404(request, slug)
    return prompts_with_counts(project=project, heldout=heldout)


@router.get("/projects/{slug}/prompts/{int:prompt_id}", response=answers(PromptRow))
def prompt_read(request: HttpRequest, slug: str, prompt_id: int) -> Prompt:
    project = manager_project_or_404(request, slug)
    return _one(prompts_with_counts(project=project), prompt_id, "prompt")


@router.get("/projects/{slug}/candidates", response=answers(list[CandidateRow]))
@paginate(CursorPagination, ordering=("id",))
def candidates_list(
    request: HttpRequest, slug: str, prompt_id: Id | None = None, source: str | None = None
) -> QuerySet[Candidate]:
    project = manager_project_or_404(request, slug)
    return candidates_with_counts(project=project, prompt_id=prompt_id, source=source)


@router.get("/projects/{slug}/candidates/{int:candidate_id}", response=answers(CandidateRow))
def candidate_read(request: HttpRequest, slug: str, candidate_id: int) -> Candidate:
    project = manager_project_or_404(request, slug)
    return _one(candidates_with_counts(project=project), candidate_id, "candidate")


@router.get("/projects/{slug}/pairs", response=answers(list[PairOut]))
@paginate(CursorPagination, ordering=("id",))
def pairs_list(
    request: HttpRequest,
    slug: str,
    prompt_id: Id | None = None,
    is_gold: bool | None = None,
    is_full: bool | None = None,
) -> QuerySet[Pair]:
    """Pairs with `judgment_count`; `is_full`: false for the open queue."""
    project = manager_project_or_404(request, slug)
    return pairs_of(project=project, prompt_id=prompt_id, is_gold=is_gold, is_full=is_full)


@router.get("/projects/{slug}/pairs/{int:pair_id}", response=answers(PairOut))
def pair_read(request: HttpRequest, slug: str, pair_id: int) -> Pair:
    project = manager_project_or_404(request, slug)
    return _one(pairs_of(project=project), pair_id, "pair")


@router.post("/projects/{slug}/pairs/priority", response=answers(PrioritiesOut))
def pairs_priority_set(request: HttpRequest, slug: str, payload: PrioritiesIn) -> PrioritiesOut:
    """Set many pairs' priority at once (higher is served first); other projects' pair ids
    are left alone. The project's selection strategy rewrites priorities when it reorders."""
    project = manager_project_or_404(request, slug)
    updates = [PairUpdate(pair_id=p.pair_id, priority=p.priority) for p in payload.priorities]
    return PrioritiesOut(updated=pairs_update(project=project, updates=updates, pause=0))
