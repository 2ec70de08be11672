"""Which open pair is served first: the project's selection strategy, written as `Pair.priority`.

The lease (services/assignment.py, labeling/sql.py) serves the open queue by `priority DESC, id`
on the partial index `pair_open_queue`, and stays exactly that: a strategy turns the reward
model's stored predictions (`predicted_p_a`, `predicted_margin`, written by a scoring run) into
priorities here, when the pairs are scored and when a manager changes the strategy. Random
exploration is drawn here too (a random interleave of the queue), not in the lease, so the
request path pays nothing for it.

Strategies (`SelectionStrategy`):
- fifo: priorities are left as they are (import or admin; 0 by default, so by age). Switching
  back to fifo from another strategy sets the open pairs' priority to 0.
- random: a random order.
- uncertainty: P(a > b) closest to 1/2 first (smallest |margin|).
- large-margin: largest predicted quality gap |r(a) - r(b)| first.
With an exploration share e (uncertainty, large-margin), each place of the queue is, with
probability e, the next pair of a random order instead of the strategy's next pair.
Pairs without a prediction come after the scored ones, oldest first. A non-fifo strategy
replaces the priorities that import or admin set.

Writes go in batches of BATCH_ROWS rows, each batch one statement in its own short
transaction, rows in id order, with a rest after each: leases skip a batch's rows for the
milliseconds it holds them (SKIP LOCKED), no long lock is ever taken on the queue, and the
writer leaves most of the machine to labelling (bench/README.md, "Rescoring while people
label").
"""

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from labeling.models import AuditAction, Pair, Project, ScoreAfterReward, SelectionStrategy
from labeling.services.audit import audit_record

logger = logging.getLogger(__name__)

BATCH_ROWS = 1000
# After each batch the writer rests as long as the batch took: a rescoring takes at most half a
# core and half the database's time for its rows, leaving the rest to labelling.
PAUSE_PER_BATCH_TIME = 1.0


class PairPrediction(NamedTuple):
    pair_id: int
    margin: float | None  # r(a) - r(b); None when the pair was never scored


class PairUpdate(NamedTuple):
    """New values of one pair; None keeps the stored value."""

    pair_id: int
    priority: float | None = None
    predicted_p_a: float | None = None
    predicted_margin: float | None = None
    scored_at: datetime | None = None


def p_a_preferred(margin: float) -> float:
    """Bradley-Terry: P(a > b) = sigmoid(r(a) - r(b)), without overflow for large margins."""
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    e = math.exp(margin)
    return e / (1.0 + e)


def queue_order(
    predictions: Sequence[PairPrediction],
    *,
    strategy: str,
    exploration_share: float = 0.0,
    rng: random.Random | None = None,
) -> list[int]:
    """The pair ids in the order the strategy serves them (fifo: oldest first)."""
    if strategy not in SelectionStrategy.values:
        raise ValueError(
            f"selection_strategy: unknown strategy {strategy!r}; "
            f"expected one of {', '.join(SelectionStrategy.values)}"
        )
    if not 0.0 <= exploration_share <= 1.0:
        raise ValueError(f"exploration_share: must be between 0 and 1, got {exploration_share}")
    rng = rng or random.Random()
    ids = [p.pair_id for p in predictions]
    if strategy == SelectionStrategy.FIFO:
        return sorted(ids)
    if strategy == SelectionStrategy.RANDOM:
        rng.shuffle(ids)
        return ids
    scored = [p for p in predictions if p.margin is not None]
    unscored = sorted(p.pair_id for p in predictions if p.margin is None)
    if strategy == SelectionStrategy.UNCERTAINTY:
        scored.sort(key=lambda p: (abs(p.margin or 0.0), p.pair_id))
    else:
        scored.sort(key=lambda p: (-abs(p.margin or 0.0), p.pair_id))
    best = [p.pair_id for p in scored] + unscored
    if exploration_share == 0.0:
        return best
    return _interleave(best, exploration_share, rng)


def _interleave(best: list[int], share: float, rng: random.Random) -> list[int]:
    """Each place: with probability `share` the next of a random order, else the next best."""
    shuffled = best[:]
    rng.shuffle(shuffled)
    order: list[int] = []
    used: set[int] = set()
    i = j = 0
    while len(order) < len(best):
        source, k = (shuffled, j) if rng.random() < share else (best, i)
        while source[k] in used:
            k += 1
        used.add(source[k])
        order.append(source[k])
        if source is shuffled:
            j = k + 1
        else:
            i = k + 1
    return order


def priorities_for(order: Sequence[int]) -> dict[int, float]:
    """Priorities that make the lease serve `order` (n for the first pair ... 1 for the last);
    above 0, so pairs added later with the default priority come after them."""
    n = len(order)
    return {pair_id: float(n - position) for position, pair_id in enumerate(order)}


def score_after_reward(project: Project) -> bool:
    """Whether a new reward model of the project should score its open pairs."""
    if project.score_after_reward == ScoreAfterReward.AUTO:
        return project.selection_strategy != SelectionStrategy.FIFO
    return project.score_after_reward == ScoreAfterReward.ALWAYS


def _open_pairs(project: Project) -> list[PairPrediction]:
    rows = Pair.objects.filter(project=project, is_full=False, is_gold=False).values_list(
        "pk", "predicted_margin"
    )
    return [PairPrediction(pk, margin) for pk, margin in rows.iterator(chunk_size=10_000)]


def selection_apply(
    *,
    project: Project,
    new: dict[int, tuple[float, float]] | None = None,
    scored_at: datetime | None = None,
    rng: random.Random | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """Store new predictions ({pair id: (P(a > b), margin)}) and rewrite the open pairs'
    priorities by the project's strategy (fifo: priorities untouched). Returns rows written.

    `keep_going` is asked between batches (a cancelled scoring run stops writing).
    """
    new = new or {}
    scored_at = scored_at or timezone.now()
    strategy = project.selection_strategy
    priorities: dict[int, float] = {}
    if strategy != SelectionStrategy.FIFO:
        current = _open_pairs(project)
        merged = [
            PairPrediction(p.pair_id, new[p.pair_id][1] if p.pair_id in new else p.margin)
            for p in current
        ]
        order = queue_order(
            merged, strategy=strategy, exploration_share=project.exploration_share, rng=rng
        )
        priorities = priorities_for(order)
    updates = []
    for pair_id in sorted(set(priorities) | set(new)):
        p_a, margin = new.get(pair_id, (None, None))
        updates.append(
            PairUpdate(
                pair_id,
                priorities.get(pair_id),
                p_a,
                margin,
                scored_at if pair_id in new else None,
            )
        )
    return pairs_update(project=project, updates=updates, keep_going=keep_going)


def selection_set(
    *,
    project: Project,
    strategy: str,
    exploration_share: float,
    score_after: str,
    actor: User | None = None,
) -> Project:
    """A manager's choice of strategy. The open queue is reordered by a task of the default
    worker once this is committed (a big queue takes seconds to rewrite, gently)."""
    queue_order([], strategy=strategy, exploration_share=exploration_share)  # validates
    if score_after not in ScoreAfterReward.values:
        raise ValueError(
            f"score_after_reward: expected one of {', '.join(ScoreAfterReward.values)}"
        )
    # Leaving another strategy for fifo: its priorities replaced the imported ones, so the
    # queue goes back to oldest first.
    reset = strategy == SelectionStrategy.FIFO and project.selection_strategy != strategy
    Project.objects.filter(pk=project.pk).update(
        selection_strategy=strategy,
        exploration_share=exploration_share,
        score_after_reward=score_after,
    )
    project.selection_strategy = strategy
    project.exploration_share = exploration_share
    project.score_after_reward = score_after
    if actor is not None:
        audit_record(
            project=project,
            actor=actor,
            action=AuditAction.QUEUE_ORDER_CHANGED,
            details={
                "strategy": strategy,
                "exploration_share": exploration_share,
                "score_after_reward": score_after,
            },
        )
    if strategy != SelectionStrategy.FIFO or reset:
        transaction.on_commit(lambda: queue_reorder_send(project_id=project.pk, reset=reset))
    return project


def queue_reorder(*, project_id: int, reset: bool = False) -> int:
    """Rewrite the open pairs' priorities by the project's strategy as it is now (reset: set
    them to 0, oldest first); returns the rows written. The task `labeling.tasks.reorder_queue`."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    if project.selection_strategy != SelectionStrategy.FIFO:
        return selection_apply(project=project)
    if not reset:
        return 0
    ids = Pair.objects.filter(project=project, is_full=False, is_gold=False).values_list(
        "pk", flat=True
    )
    return pairs_update(project=project, updates=[PairUpdate(pk, 0.0) for pk in sorted(ids)])


def queue_reorder_send(*, project_id: int, reset: bool) -> None:
    """Queue the reorder; when the broker cannot be reached, reorder here instead, so that a
    manager's choice always takes effect."""
    from labeling.tasks import reorder_queue  # tasks import services; import late

    try:
        reorder_queue.delay(project_id, reset)
    except Exception:
        logger.warning("project %s: the reorder could not be queued; done now", project_id)
        queue_reorder(project_id=project_id, reset=reset)


# --- bulk writes ------------------------------------------------------------------------------

_PG_UPDATE = """
UPDATE labeling_pair p SET
    priority = COALESCE(v.priority, p.priority),
    predicted_p_a = COALESCE(v.p_a, p.predicted_p_a),
    predicted_margin = COALESCE(v.margin, p.predicted_margin),
    scored_at = COALESCE(v.scored_at, p.scored_at)
FROM (VALUES {values}) AS v(id, priority, p_a, margin, scored_at)
WHERE p.id = v.id AND p.project_id = %s
"""
_PG_ROW = (
    "(%s::bigint, %s::double precision, %s::double precision, %s::double precision, "
    "%s::timestamptz)"
)
_SQLITE_UPDATE = """
UPDATE labeling_pair SET
    priority = COALESCE(%s, priority),
    predicted_p_a = COALESCE(%s, predicted_p_a),
    predicted_margin = COALESCE(%s, predicted_margin),
    scored_at = COALESCE(%s, scored_at)
WHERE id = %s AND project_id = %s
"""


def _batches(items: Sequence[PairUpdate], size: int) -> Iterable[Sequence[PairUpdate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def pairs_update(
    *,
    project: Project,
    updates: Sequence[PairUpdate],
    batch_rows: int = BATCH_ROWS,
    keep_going: Callable[[], bool] = lambda: True,
    pause: float = PAUSE_PER_BATCH_TIME,
) -> int:
    """Write many pairs' priority and predictions: one statement per batch (PostgreSQL:
    UPDATE ... FROM (VALUES ...); SQLite: executemany), each batch its own transaction.

    Only the project's own pairs are touched. Returns the rows written.
    """
    written = 0
    adapt = connection.ops.adapt_datetimefield_value  # the ORM's storage form (SQLite: text)
    updates = sorted(updates, key=lambda u: u.pair_id)  # id order: no two writers deadlock
    took = 0.0
    for batch in _batches(updates, batch_rows):
        if not keep_going():
            break
        if took and pause:
            time.sleep(pause * took)
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as db:
            if connection.vendor == "postgresql":
                sql = _PG_UPDATE.format(values=", ".join([_PG_ROW] * len(batch)))
                params: list[Any] = [
                    value
                    for u in batch
                    for value in (
                        u.pair_id,
                        u.priority,
                        u.predicted_p_a,
                        u.predicted_margin,
                        adapt(u.scored_at),
                    )
                ]
                db.execute(sql, [*params, project.pk])
                written += db.rowcount
            else:
                db.executemany(
                    _SQLITE_UPDATE,
                    [
                        (
                            u.priority,
                            u.predicted_p_a,
                            u.predicted_margin,
                            adapt(u.scored_at),
                            u.pair_id,
                            project.pk,
                        )
                        for u in batch
                    ],
                )
                written += db.rowcount
        took = time.monotonic() - started
    return written
