"""Handing pairs to annotators.

Invariants, on PostgreSQL and SQLite alike:
- nobody gets a pair they judged, skipped or hold (one Assignment row per pair and annotator);
- a pair's judgments plus live leases never exceed the project's overlap (`Pair.taken`, counted
  by the rules in labeling/sql.py that both the ORM and the PostgreSQL statement use);
- an expired lease gives its slot back;
- nobody gets a new lease once `judgments_left` (labeling/selectors.py) says 0;
- with the project's `avoid_repeat_prompt`, a pair of another prompt than that of the
  annotator's latest lease comes first; the same prompt again only when nothing else is free.

`Pair.taken` only changes while the pair row is locked: `SELECT ... FOR NO KEY UPDATE SKIP LOCKED`
on PostgreSQL, and on SQLite every transaction begins IMMEDIATE (see settings), which serialises
writers for the whole database.

Locking rules on PostgreSQL, which keep the request path free of deadlocks (see
tests/labeling/test_concurrency.py):
- lock only the rows a query is about (`of=("self",)`): `select_related` with a plain
  `select_for_update` would also lock the joined project row, which every insert of an
  assignment or judgment needs a KEY SHARE lock on at commit;
- lock pairs `FOR NO KEY UPDATE`, which inserts referencing them (KEY SHARE) do not wait for;
- a transaction holding a pair never waits for an assignment; several pairs are locked in id order.
"""

import random
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from labeling import sql
from labeling.models import Assignment, Pair, Project
from labeling.selectors import judgments_left

# Candidates looked at per attempt; SKIP LOCKED passes over rows other annotators hold.
_BATCH = 8


def lease_expiry(*, project: Project, now: datetime) -> datetime:
    """When a lease made or extended at `now` runs out (both paths, and extensions)."""
    return now + timedelta(minutes=project.lease_minutes)


def assignment_current(*, project: Project, annotator: User) -> Assignment | None:
    """The annotator's live lease in this project, if any (reload, back button, second tab)."""
    # Usually there is none (the last one was just submitted): ask for the id alone first,
    # which costs a third of loading the lease with its pair, prompt and candidates.
    live = (
        Assignment.objects.filter(
            project=project,
            annotator=annotator,
            status=Assignment.Status.LEASED,
            expires_at__gt=timezone.now(),
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:1]
    )
    pk = next(iter(live), None)
    if pk is None:
        return None
    return (
        Assignment.objects.select_related("pair__prompt", "pair__candidate_a", "pair__candidate_b")
        .filter(pk=pk, status=Assignment.Status.LEASED)
        .first()
    )


def assignment_next(
    *, project: Project, annotator: User, rng: random.Random | None = None
) -> Assignment | None:
    """Return the annotator's live lease, or lease them the next pair; None when no work is left
    or they gave all the judgments asked of them."""
    left = judgments_left(project=project, annotator=annotator)
    if left is not None and left <= 0:
        return assignment_current(project=project, annotator=annotator)
    rng = rng or random.Random()
    gold = project.gold_rate > 0 and rng.random() < project.gold_rate
    if connection.vendor == "postgresql":
        return _next_in_one_statement(project=project, annotator=annotator, gold=gold, rng=rng)
    current = assignment_current(project=project, annotator=annotator)
    if current is not None:
        return current
    if gold:
        assignment = _lease(project=project, annotator=annotator, gold=True, rng=rng)
        if assignment is not None:
            return assignment
    assignment = _lease(project=project, annotator=annotator, gold=False, rng=rng)
    if assignment is None and leases_reclaim_expired(project=project):
        assignment = _lease(project=project, annotator=annotator, gold=False, rng=rng)
    return assignment


def _next_in_one_statement(
    *, project: Project, annotator: User, gold: bool, rng: random.Random
) -> Assignment | None:
    """PostgreSQL: the live lease or a new one in a single statement (see labeling/sql.py)."""
    tries = ([True] if gold else []) + [False, False]
    for attempt, gold_queue in enumerate(tries):
        if attempt == len(tries) - 1 and not leases_reclaim_expired(project=project):
            return None  # the ordinary queue was empty and no expired lease gave a pair back
        now = timezone.now()
        for _race in range(3):
            try:
                # A statement is atomic by itself; inside an outer transaction (tests), a
                # savepoint keeps that transaction usable after a lost race.
                with transaction.atomic() if connection.in_atomic_block else nullcontext():
                    assignment = sql.lease_or_current(
                        project=project,
                        annotator_id=annotator.pk,
                        gold=gold_queue,
                        left_is_a=rng.random() < 0.5,
                        now=now,
                        expires=lease_expiry(project=project, now=now),
                    )
                break
            except IntegrityError:
                # The same annotator leased this pair in a parallel request; look again.
                continue
        else:
            assignment = None
        if assignment is not None:
            return assignment
    return None


def _lease(
    *, project: Project, annotator: User, gold: bool, rng: random.Random
) -> Assignment | None:
    mine = Assignment.objects.filter(pair=OuterRef("pk"), annotator=annotator)
    candidates = Pair.objects.filter(project=project, is_gold=gold).exclude(Exists(mine))
    if not gold:
        # Gold pairs are shown to every annotator once; only ordinary pairs fill up.
        candidates = candidates.filter(is_full=False)
    candidates = candidates.order_by("-priority", "id").select_related(
        "prompt", "candidate_a", "candidate_b"
    )
    for avoid_repeat in [True, False] if project.avoid_repeat_prompt else [False]:
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    pair = _lock_first(
                        candidates,
                        project=project,
                        annotator=annotator,
                        gold=gold,
                        avoid_repeat=avoid_repeat,
                    )
                    if pair is None:
                        break
                    return _create_lease(project=project, pair=pair, annotator=annotator, rng=rng)
            except IntegrityError:
                # The same annotator leased this pair in a parallel request; look again.
                continue
    return None


def _last_prompt_id(*, project: Project, annotator: User) -> int | None:
    """The prompt of the annotator's latest lease in the project."""
    latest = (
        Assignment.objects.filter(project=project, annotator=annotator)
        .order_by("-id")
        .values_list("pair__prompt_id", flat=True)[:1]
    )
    return next(iter(latest), None)


def _lock_first(
    candidates: QuerySet[Pair],
    *,
    project: Project,
    annotator: User,
    gold: bool,
    avoid_repeat: bool,
) -> Pair | None:
    if avoid_repeat and connection.vendor != "sqlite":
        # (SQLite asks for the last prompt inside its one query below.)
        last_prompt = _last_prompt_id(project=project, annotator=annotator)
        if last_prompt is not None:
            candidates = candidates.exclude(prompt_id=last_prompt)
    if connection.features.has_select_for_update_skip_locked:
        return candidates.select_for_update(skip_locked=True, no_key=True, of=("self",)).first()
    # SQLite: the IMMEDIATE transaction around this already holds the database's write lock.
    if connection.vendor == "sqlite":
        # SQLite plans a bound project id without its statistics and sorts the whole project
        # (10-20 ms at 50,000 pairs); the id is picked on the open queue's index instead.
        pair_id = sql.first_free_pair_id_sqlite(
            project_id=project.pk,
            annotator_id=annotator.pk,
            gold=gold,
            avoid_repeat=avoid_repeat,
        )
        return None if pair_id is None else candidates.filter(pk=pair_id).first()
    return candidates.first()


def _create_lease(
    *, project: Project, pair: Pair, annotator: User, rng: random.Random
) -> Assignment:
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=project,
        pair=pair,
        annotator=annotator,
        left_is_a=rng.random() < 0.5,
        expires_at=lease_expiry(project=project, now=now),
    )
    sql.pair_slots_change(pair_id=pair.pk, delta=1, overlap=project.overlap)
    return assignment


def assignment_extend(*, project: Project, annotator: User, assignment_id: int) -> datetime | None:
    """Give the annotator's live lease a full lease length from now (they are still at work).

    Returns the new expiry, or None when the lease is not theirs or no longer live: one that
    ran out stays out (its slot may already be someone else's), as for a submission.
    """
    now = timezone.now()
    expires = lease_expiry(project=project, now=now)
    extended = Assignment.objects.filter(
        pk=assignment_id,
        project=project,
        annotator=annotator,
        status=Assignment.Status.LEASED,
        expires_at__gt=now,
    ).update(expires_at=expires)
    return expires if extended else None


def assignment_skip(*, assignment: Assignment) -> None:
    """Give the pair back; the annotator is not offered it again."""
    with transaction.atomic():
        locked = (
            Assignment.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project")
            .get(pk=assignment.pk)
        )
        if locked.status != Assignment.Status.LEASED:
            return
        Assignment.objects.filter(pk=locked.pk).update(
            status=Assignment.Status.SKIPPED, closed_at=timezone.now()
        )
        sql.pair_slots_change(pair_id=locked.pair_id, delta=-1, overlap=locked.project.overlap)


def leases_reclaim_expired(
    *, project: Project | None = None, now: datetime | None = None, limit: int = 1000
) -> int:
    """Mark leases past their expiry as expired and give their slots back. Returns how many."""
    now = now or timezone.now()
    expired = Assignment.objects.filter(status=Assignment.Status.LEASED, expires_at__lte=now)
    if project is not None:
        expired = expired.filter(project=project)
    return _leases_close(expired, now=now, limit=limit)


def leases_release(*, project: Project, annotator: User | None = None) -> int:
    """End the live leases at once (of one annotator, or everyone's) and give their slots back:
    a removed member or an archived project holds no pair until its lease would expire."""
    live = Assignment.objects.filter(project=project, status=Assignment.Status.LEASED)
    if annotator is not None:
        live = live.filter(annotator=annotator)
    released = 0
    while batch := _leases_close(live, now=timezone.now(), limit=1000):
        released += batch
    return released


def _leases_close(leases_qs: QuerySet[Assignment], *, now: datetime, limit: int) -> int:
    """Close up to `limit` leases as expired and give their slots back."""
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            # Leases being submitted right now are skipped: their submission settles them.
            leases_qs = leases_qs.select_for_update(skip_locked=True, no_key=True, of=("self",))
        leases = list(
            leases_qs.order_by("expires_at").values_list("pk", "pair_id", "project__overlap")[
                :limit
            ]
        )
        if not leases:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _, _ in leases]).update(
            status=Assignment.Status.EXPIRED, closed_at=now
        )
        freed: dict[int, tuple[int, int]] = {}
        for _pk, pair_id, overlap in leases:
            count, _ = freed.get(pair_id, (0, overlap))
            freed[pair_id] = (count + 1, overlap)
        # In id order, so that two reclaimers never wait for each other's pairs.
        for pair_id in sorted(freed):
            count, overlap = freed[pair_id]
            sql.pair_slots_change(pair_id=pair_id, delta=-count, overlap=overlap)
    return len(leases)
