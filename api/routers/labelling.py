"""Labelling for custom front ends: the page's lease, submit and skip, for any project member."""

from django.http import HttpRequest
from ninja import Router, Status

from api.access import member_or_404
from api.auth import caller
from api.errors import form_error
from api.idempotency import replayed_or_run
from api.schemas import (
    AnswerRules,
    ExtendOut,
    Lease,
    NextOut,
    SkipIn,
    SkipOut,
    SubmitIn,
    SubmitOut,
    UndoIn,
    answers,
)
from labeling.forms import JudgmentForm, SkipForm
from labeling.models import Assignment, Project
from labeling.selectors import assignment_of, judged_count
from labeling.services.assignment import assignment_extend, assignment_next, assignment_skip
from labeling.services.judgment import SIDES, JudgmentRefused, judgment_record, judgment_undo

router = Router(tags=["labelling"])


def _rules(project: Project) -> AnswerRules:
    allowed = {"tie": project.allow_tie, "both_bad": project.allow_both_bad}
    return AnswerRules(
        sides=[side for side in SIDES if allowed.get(side, True)],
        ask_strength=project.ask_strength,
        ask_rationale=project.ask_rationale,
        instructions=project.instructions,
    )


def _lease(assignment: Assignment) -> Lease:
    prompt = assignment.pair.prompt
    return Lease.model_validate(
        {
            "assignment_id": assignment.pk,
            "expires_at": assignment.expires_at,
            "prompt": {"id": prompt.pk, "messages": prompt.messages},
            "left": {"id": assignment.left.pk, "text": assignment.left.text},
            "right": {"id": assignment.right.pk, "text": assignment.right.text},
        }
    )


@router.post("/projects/{slug}/labelling/next", response=answers(NextOut))
def labelling_next(request: HttpRequest, slug: str) -> NextOut:
    """The caller's live lease, or a new lease on the next pair; `lease` is null when no work
    is left. Calling again before submitting returns the same lease."""
    project = member_or_404(request, slug).project
    assignment = assignment_next(project=project, annotator=caller(request))
    return NextOut(
        lease=_lease(assignment) if assignment is not None else None,
        judged=judged_count(project=project, annotator=caller(request)),
        rules=_rules(project),
    )


@router.post("/projects/{slug}/labelling/submit", response=answers(SubmitOut, extra=(400, 409)))
def labelling_submit(request: HttpRequest, slug: str, payload: SubmitIn) -> Status:
    """Store the judgment of a lease (sides: left, right, tie, both_bad). Resubmitting a lease
    returns the stored judgment (`created` false); with an `Idempotency-Key` header a retry gets
    the first answer again, byte for byte. An expired or foreign lease is refused (409)."""
    project = member_or_404(request, slug).project

    def submit() -> SubmitOut:
        form = JudgmentForm(payload.dict(), project=project)
        if not form.is_valid():
            raise form_error(form)
        recorded = judgment_record(
            project=project,
            annotator=caller(request),
            **form.cleaned_data,
        )
        judgment = recorded.judgment
        return SubmitOut(
            judgment_id=judgment.pk,
            assignment_id=form.cleaned_data["assignment_id"],
            pair_id=judgment.pair_id,
            choice=judgment.choice,
            strength=judgment.strength,
            rationale=judgment.rationale,
            created_at=judgment.created_at,
            created=recorded.created,
        )

    return replayed_or_run(request, submit)


@router.post("/projects/{slug}/labelling/skip", response=answers(SkipOut, extra=(400,)))
def labelling_skip(request: HttpRequest, slug: str, payload: SkipIn) -> SkipOut:
    """Give a lease's pair back; the caller is not offered it again."""
    project = member_or_404(request, slug).project
    form = SkipForm(payload.dict())
    if not form.is_valid():
        raise form_error(form)
    assignment = assignment_of(
        assignment_id=form.cleaned_data["assignment_id"],
        annotator=caller(request),
        project=project,
    )
    if assignment is None:
        return SkipOut(skipped=False)
    assignment_skip(assignment=assignment)
    return SkipOut(skipped=True)


@router.post("/projects/{slug}/labelling/extend", response=answers(ExtendOut, extra=(409,)))
def labelling_extend(request: HttpRequest, slug: str, payload: SkipIn) -> ExtendOut:
    """The caller is still at work on this lease: a full lease length from now. A lease that
    ran out stays out (409), as for a submission."""
    project = member_or_404(request, slug).project
    expires = assignment_extend(
        project=project, annotator=caller(request), assignment_id=payload.assignment_id
    )
    if expires is None:
        raise JudgmentRefused("This pair is no longer yours: its time ran out or it was answered.")
    return ExtendOut(expires_at=expires)


@router.post("/projects/{slug}/labelling/undo", response=answers(Lease, extra=(409,)))
def labelling_undo(request: HttpRequest, slug: str, payload: UndoIn) -> Lease:
    """Take back the caller's last judgment (within the page's window); its lease is live
    again and is answered with it."""
    project = member_or_404(request, slug).project
    assignment = judgment_undo(
        project=project, annotator=caller(request), judgment_id=payload.judgment_id
    )
    return _lease(assignment)
