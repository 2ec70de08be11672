"""Recording what an annotator said about a pair."""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from labeling import sql
from labeling.models import Assignment, Choice, Judgment, Project
from labeling.services.assignment import lease_expiry

# What the annotator clicked, in screen terms; the service turns it into a / b.
SIDES = ("left", "right", "tie", "both_bad")
# Strength says how much better one side is, so only these answers carry one.
SIDES_WITH_STRENGTH = ("left", "right")
STRENGTHS = (1, 2, 3)
# How long after submitting an annotator may take their last judgment back.
UNDO_WINDOW = timedelta(minutes=2)


class JudgmentRefused(Exception):
    """The submission cannot be stored; the message says why, in the annotator's words."""


@dataclass(frozen=True)
class Recorded:
    judgment: Judgment
    created: bool  # False when this was a resubmission of an already stored judgment


@dataclass(frozen=True)
class Answer:
    """An annotator's answer as it is stored, after the project's rules."""

    side: str
    strength: int | None
    rationale: str

    def choice(self, *, left_is_a: bool) -> Choice:
        if self.side == "left":
            return Choice.A if left_is_a else Choice.B
        if self.side == "right":
            return Choice.B if left_is_a else Choice.A
        return Choice.TIE if self.side == "tie" else Choice.BOTH_BAD


def answer_to_store(*, project: Project, side: str, strength: int | None, rationale: str) -> Answer:
    """The one definition of what a submission may say and what of it is kept.

    Both ways of storing a judgment (the PostgreSQL statement and the ORM transaction) store
    exactly this. Answers the project does not allow are refused; a strength or rationale it
    does not ask for is dropped, and so is a strength sent with a tie or "both bad" (the page's
    keys let an annotator pick one after the other).
    """
    if side not in SIDES:
        raise JudgmentRefused(f"Unknown answer {side!r}.")
    if side == "tie" and not project.allow_tie:
        raise JudgmentRefused("This project does not allow ties.")
    if side == "both_bad" and not project.allow_both_bad:
        raise JudgmentRefused("This project does not allow 'both bad'.")
    if strength is not None and strength not in STRENGTHS:
        raise JudgmentRefused("Strength must be 1, 2 or 3.")
    keeps_strength = project.ask_strength and side in SIDES_WITH_STRENGTH
    return Answer(
        side=side,
        strength=strength if keeps_strength else None,
        rationale=rationale.strip() if project.ask_rationale else "",
    )


def judgment_record(
    *,
    project: Project,
    assignment_id: int,
    annotator: User,
    side: str,
    strength: int | None = None,
    rationale: str = "",
    time_spent_ms: int | None = None,
    source: str = Judgment.Source.ANNOTATOR,
) -> Recorded:
    """Store the judgment and close its lease in one transaction.

    Submitting the same assignment again returns the stored judgment unchanged, so a double
    click, a retry after a dropped connection or the back button never makes a second one.
    """
    answer = answer_to_store(project=project, side=side, strength=strength, rationale=rationale)
    if connection.vendor == "postgresql":
        # The usual case in one statement (labeling/sql.py); anything else (a resubmission, a
        # refusal, a lost race) is settled and explained by the transaction below.
        stored = sql.judgment_insert_if_leased(
            project_id=project.pk,
            assignment_id=assignment_id,
            annotator_id=annotator.pk,
            choices=(answer.choice(left_is_a=True), answer.choice(left_is_a=False)),
            strength=answer.strength,
            rationale=answer.rationale,
            time_spent_ms=time_spent_ms,
            now=timezone.now(),
            source=source,
        )
        if stored is not None:
            return Recorded(judgment=stored, created=True)
    with transaction.atomic():
        assignment = (
            # Only the assignment's row: locking the project too would make every submission
            # in the project wait for the others (see services/assignment.py).
            Assignment.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk=assignment_id, annotator=annotator, project=project)
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
        judgment = Judgment.objects.create(
            project=project,
            pair_id=assignment.pair_id,
            annotator=annotator,
            assignment=assignment,
            choice=answer.choice(left_is_a=assignment.left_is_a),
            strength=answer.strength,
            rationale=answer.rationale,
            left_is_a=assignment.left_is_a,
            time_spent_ms=time_spent_ms,
            source=source,
        )
        Assignment.objects.filter(pk=assignment.pk).update(
            status=Assignment.Status.DONE, closed_at=timezone.now()
        )
        sql.pair_judged(pair_id=assignment.pair_id)
    return Recorded(judgment=judgment, created=True)


def judgment_undo(*, project: Project, annotator: User, judgment_id: int) -> Assignment:
    """Take back the annotator's last judgment and reopen its lease, so they answer it again.

    The reverse of `judgment_record`, in one transaction: the judgment is deleted and its lease
    is live again for a full lease length, holding the slot the judgment held (`Pair.taken` and
    `is_full` are unchanged, `judgment_count` is one less). Only the annotator's latest judgment
    in the project, within UNDO_WINDOW of submitting it.
    """
    with transaction.atomic():
        # Lock order as for a submission: the lease's row, then the pair's (by its update).
        assignment = (
            Assignment.objects.select_for_update(no_key=True, of=("self",))
            .filter(
                judgment__pk=judgment_id,
                annotator=annotator,
                project=project,
                status=Assignment.Status.DONE,
            )
            .first()
        )
        latest = (
            Judgment.objects.filter(project=project, annotator=annotator)
            .order_by("-id")
            .values_list("pk", "created_at")
            .first()
        )
        if assignment is None or latest is None or latest[0] != judgment_id:
            raise JudgmentRefused("Only your last judgment can be taken back.")
        now = timezone.now()
        if latest[1] < now - UNDO_WINDOW:
            minutes = int(UNDO_WINDOW.total_seconds() // 60)
            raise JudgmentRefused(
                f"A judgment can be taken back for {minutes} minutes after submitting it."
            )
        Judgment.objects.filter(pk=judgment_id).delete()
        Assignment.objects.filter(pk=assignment.pk).update(
            status=Assignment.Status.LEASED,
            expires_at=lease_expiry(project=project, now=now),
            closed_at=None,
        )
        sql.pair_unjudged(pair_id=assignment.pair_id)
    assignment.refresh_from_db()
    return assignment
