"""Handing pairs to annotators.

Invariants, on PostgreSQL and SQLite alike:
- nobody gets a pair they judged, skipped or hold (one Assignment row per pair and annotator);
- a pair's judgments plus live leases never exceed the project's overlap (`Pair.taken`);
- an expired lease gives its slot back.

`Pair.taken` only changes while the pair row is locked: `SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL, and on SQLite every transaction begins IMMEDIATE (see settings), which serialises
writers for the whole database.
"""

import random
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from labeling.models import Assignment, Pair, Project

# Candidates looked at per attempt; SKIP LOCKED passes over rows other annotators hold.
_BATCH = 8


def assignment_current(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """The annotator's live lease in this project, if any (reload, back button, second tab)."""
    return (
        Assignment.objects.filter(
            project=project,
            annotator=annotator,
            status=Assignment.Status.LEASED,
            expires_at__gt=timezone.now(),
        )
        .select_related("pair__prompt", "pair__candidate_a", "pair__candidate_b")
        .order_by("created_at")
        .first()
    )


def assignment_next(
    *, project: Project, annotator: AbstractBaseUser, rng: random.Random | None = None
) -> Assignment | None:
    """Return the annotator's live lease, or lease them the next pair; None when no work is left."""
    current = assignment_current(project=project, annotator=annotator)
    if current is not None:
        return current
    rng = rng or random.Random()
    if project.gold_rate > 0 and rng.random() < project.gold_rate:
        assignment = _lease(project=project, annotator=annotator, gold=True, rng=rng)
        if assignment is not None:
            return assignment
    assignment = _lease(project=project, annotator=annotator, gold=False, rng=rng)
    if assignment is None and leases_reclaim_expired(project=project):
        assignment = _lease(project=project, annotator=annotator, gold=False, rng=rng)
    return assignment


def _lease(
    *, project: Project, annotator: AbstractBaseUser, gold: bool, rng: random.Random
) -> Assignment | None:
    mine = Assignment.objects.filter(pair=OuterRef("pk"), annotator=annotator)
    candidates = Pair.objects.filter(project=project, is_gold=gold).exclude(Exists(mine))
    if not gold:
        # Gold pairs are shown to every annotator once; only ordinary pairs fill up.
        candidates = candidates.filter(is_full=False)
    candidates = candidates.order_by("-priority", "id").select_related(
        "prompt", "candidate_a", "candidate_b"
    )
    for _attempt in range(3):
        try:
            with transaction.atomic():
                pair = _lock_first(candidates)
                if pair is None:
                    return None
                return _create_lease(project=project, pair=pair, annotator=annotator, rng=rng)
        except IntegrityError:
            # The same annotator leased this pair in a parallel request; look again.
            continue
    return None


def _lock_first(candidates) -> Pair | None:
    if connection.features.has_select_for_update_skip_locked:
        return candidates.select_for_update(skip_locked=True, of=("self",)).first()
    # SQLite: the IMMEDIATE transaction around this already holds the database's write lock.
    return candidates.first()


def _create_lease(
    *, project: Project, pair: Pair, annotator: AbstractBaseUser, rng: random.Random
) -> Assignment:
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=project,
        pair=pair,
        annotator=annotator,
        left_is_a=rng.random() < 0.5,
        expires_at=now + timedelta(minutes=project.lease_minutes),
    )
    if not pair.is_gold:
        taken = pair.taken + 1
        Pair.objects.filter(pk=pair.pk).update(taken=taken, is_full=taken >= project.overlap)
    return assignment


def assignment_skip(*, assignment: Assignment) -> None:
    """Give the pair back; the annotator is not offered it again."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status != Assignment.Status.LEASED:
            return
        _close_lease(locked, Assignment.Status.SKIPPED)


def leases_reclaim_expired(
    *, project: Project | None = None, now: datetime | None = None, limit: int = 1000
) -> int:
    """Mark leases past their expiry as expired and give their slots back. Returns how many."""
    now = now or timezone.now()
    reclaimed = 0
    with transaction.atomic():
        expired = Assignment.objects.filter(status=Assignment.Status.LEASED, expires_at__lte=now)
        if project is not None:
            expired = expired.filter(project=project)
        if connection.features.has_select_for_update_skip_locked:
            expired = expired.select_for_update(skip_locked=True)
        for assignment in expired.order_by("expires_at")[:limit]:
            _close_lease(assignment, Assignment.Status.EXPIRED)
            reclaimed += 1
    return reclaimed


def _close_lease(assignment: Assignment, status: str) -> None:
    """Close a LEASED assignment and free its slot; the caller holds the assignment's lock."""
    Assignment.objects.filter(pk=assignment.pk).update(status=status, closed_at=timezone.now())
    pair = Pair.objects.select_for_update().select_related("project").get(pk=assignment.pair_id)
    if not pair.is_gold:
        Pair.objects.filter(pk=pair.pk).update(
            taken=F("taken") - 1, is_full=pair.taken - 1 >= pair.project.overlap
        )
