"""Recording what an annotator said about a pair."""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from labeling import sql
from labeling.models import Assignment, Choice, Judgment, Pair

# What the annotator clicked, in screen terms; the service turns it into a / b.
SIDES = ("left", "right", "tie", "both_bad")


class JudgmentRefused(Exception):
    """The submission cannot be stored; the message says why, in the annotator's words."""


@dataclass(frozen=True)
class Recorded:
    judgment: Judgment
    created: bool  # False when this was a resubmission of an already stored judgment


def judgment_record(
    *,
    assignment_id: int,
    annotator: User,
    side: str,
    strength: int | None = None,
    rationale: str = "",
    time_spent_ms: int | None = None,
) -> Recorded:
    """Store the judgment and close its lease in one transaction.

    Submitting the same assignment again returns the stored judgment unchanged, so a double
    click, a retry after a dropped connection or the back button never makes a second one.
    """
    if side not in SIDES:
        raise JudgmentRefused(f"Unknown answer {side!r}.")
    if strength is not None and not 1 <= strength <= 3:
        raise JudgmentRefused("Strength must be 1, 2 or 3.")
    if connection.vendor == "postgresql":
        # The usual case in one statement (labeling/sql.py); anything else (a resubmission, a
        # refusal, a lost race) is settled and explained by the transaction below.
        stored = sql.judgment_insert_if_leased(
            assignment_id=assignment_id,
            annotator_id=annotator.pk,
            side=side,
            choices=(_choice(side, left_is_a=True), _choice(side, left_is_a=False)),
            strength=strength,
            rationale=rationale.strip(),
            time_spent_ms=time_spent_ms,
            now=timezone.now(),
        )
        if stored is not None:
            return Recorded(judgment=stored, created=True)
    with transaction.atomic():
        assignment = (
            # Only the assignment's row: locking the joined project too would make every
            # submission in the project wait for the others (see services/assignment.py).
            Assignment.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project")
            .filter(pk=assignment_id, annotator=annotator)
            .first()
        )
        if assignment is None:
            raise JudgmentRefused("This pair is not assigned to you.")
        if assignment.status == Assignment.Status.DONE:
            return Recorded(judgment=Judgment.objects.get(assignment=assignment), created=False)
        if assignment.status != Assignment.Status.LEASED or assignment.expires_at <= timezone.now():
            raise JudgmentRefused(
                "Your time on this pair ran out and it went back to the pool; nothing was saved."
            )
        project = assignment.project
        if side == "tie" and not project.allow_tie:
            raise JudgmentRefused("This project does not allow ties.")
        if side == "both_bad" and not project.allow_both_bad:
            raise JudgmentRefused("This project does not allow 'both bad'.")
        judgment = Judgment.objects.create(
            project=project,
            pair_id=assignment.pair_id,
            annotator=annotator,
            assignment=assignment,
            choice=_choice(side, left_is_a=assignment.left_is_a),
            strength=strength if project.ask_strength else None,
            rationale=rationale.strip() if project.ask_rationale else "",
            left_is_a=assignment.left_is_a,
            time_spent_ms=time_spent_ms,
        )
        now = timezone.now()
        Assignment.objects.filter(pk=assignment.pk).update(
            status=Assignment.Status.DONE, closed_at=now
        )
        # The lease's slot becomes the judgment's: `taken` is unchanged.
        Pair.objects.filter(pk=assignment.pair_id).update(judgment_count=F("judgment_count") + 1)
    return Recorded(judgment=judgment, created=True)


def _choice(side: str, *, left_is_a: bool) -> Choice:
    if side == "left":
        return Choice.A if left_is_a else Choice.B
    if side == "right":
        return Choice.B if left_is_a else Choice.A
    return Choice.TIE if side == "tie" else Choice.BOTH_BAD
