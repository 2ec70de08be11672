"""The labelling request path on PostgreSQL, one statement per step.

`assignment_next` and `judgment_record` on PostgreSQL run these single statements (data-modifying
CTEs) instead of their ORM sequence of queries: a statement is atomic by itself, so there is no
BEGIN/COMMIT round trip, and the ORM's query building (most of the request's CPU) is skipped.
Anything out of the ordinary (no row, a refusal, a lost race) falls back to the ORM code, which
explains itself; the SQLite default always runs the ORM code.

The locks are those of the ORM code (services/assignment.py explains them): the pair row
`FOR NO KEY UPDATE SKIP LOCKED` while its lease is inserted, the assignment row
`FOR NO KEY UPDATE` while its judgment is inserted. PostgreSQL re-checks a locked row's WHERE
conditions against its newest version, so a lease closed or expired meanwhile is not matched.

The statements run on Django's own cursor. On PostgreSQL it binds parameters on the server
(settings: `server_side_binding`), so psycopg prepares each statement once per connection
(`prepare_threshold`) and PostgreSQL skips parsing and planning it again (bench/README.md).
"""

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from labeling.models import (
    Assignment,
    Candidate,
    Choice,
    Judgment,
    Membership,
    Pair,
    Project,
    Prompt,
)
from labeling.rows import columns, instance, instances

_LEASED = Assignment.Status.LEASED.value
_DONE = Assignment.Status.DONE.value


@cache
def _membership_sql() -> str:
    return (
        f"SELECT {columns(Membership, 'm')}, {columns(Project, 'p')} "
        "FROM labeling_membership m JOIN labeling_project p ON p.id = m.project_id "
        "WHERE m.user_id = %s AND p.slug = %s"
    )


def membership_with_project(*, user_id: int, project_slug: str) -> Membership | None:
    """Membership and its project in one query (any database: plain SQL)."""
    with connection.cursor() as db:
        db.execute(_membership_sql(), [user_id, project_slug])
        row = db.fetchone()
    if row is None:
        return None
    membership, project = instances(row, Membership, Project)
    membership.project = project
    return membership


def judged_count(*, project_id: int, annotator_id: int) -> int:
    with connection.cursor() as db:
        db.execute(
            "SELECT COUNT(*) FROM labeling_judgment WHERE project_id = %s AND annotator_id = %s",
            [project_id, annotator_id],
        )
        return db.fetchone()[0]


# Lease counting, the one definition both paths use (the ORM path through `pair_slots_change`
# and `pair_judged` below):
# - only ordinary pairs count their leases: gold pairs are shown to every annotator once and
#   never fill up;
# - `taken` is judgments plus live leases, and `is_full` is `taken >= overlap`;
# - a lease adds one; its judgment turns the lease's slot into the judgment's (`taken` is
#   unchanged, `judgment_count` adds one); a skip or an expiry gives the slot back;
# - an undone judgment gives its slot back to its reopened lease (`judgment_count` less one).
# In an UPDATE every right-hand side reads the row as it was, so `taken + delta` is the new value.
_COUNTS_LEASES = "NOT {pair}is_gold"
_SLOTS_SET = "taken = taken + {delta}, is_full = taken + {delta} >= {overlap}"
_JUDGED_SET = "judgment_count = judgment_count + 1"
_JUDGED_SET_BACK = "judgment_count = judgment_count - 1"


def pair_slots_change(*, pair_id: int, delta: int, overlap: int) -> None:
    """Count `delta` more (or, negative, fewer) live leases on an ordinary pair."""
    with connection.cursor() as db:
        db.execute(
            f"UPDATE labeling_pair SET {_SLOTS_SET.format(delta='%s', overlap='%s')} "
            f"WHERE id = %s AND {_COUNTS_LEASES.format(pair='')}",
            [delta, delta, overlap, pair_id],
        )


def pairs_refill(*, project_id: int, overlap: int) -> int:
    """After the project's overlap changed: which ordinary pairs are full, by the same rule."""
    with connection.cursor() as db:
        db.execute(
            f"UPDATE labeling_pair SET is_full = taken >= %s "
            f"WHERE project_id = %s AND {_COUNTS_LEASES.format(pair='')}",
            [overlap, project_id],
        )
        return db.rowcount


def pair_judged(*, pair_id: int) -> None:
    """Count a judgment that took its lease's slot."""
    with connection.cursor() as db:
        db.execute(f"UPDATE labeling_pair SET {_JUDGED_SET} WHERE id = %s", [pair_id])


def pair_unjudged(*, pair_id: int) -> None:
    """Uncount a judgment taken back whose lease keeps the slot (`taken` is unchanged)."""
    with connection.cursor() as db:
        db.execute(f"UPDATE labeling_pair SET {_JUDGED_SET_BACK} WHERE id = %s", [pair_id])


# Leasing, the rule both paths follow (the ORM path in services/assignment.py):
# - the annotator's live lease comes first (the oldest, should there be several);
# - else the first pair of the queue, by priority then age, that they never had;
# - with the project's `avoid_repeat_prompt`, a pair of another prompt than the one of their
#   latest lease comes before it, and the same prompt only when no other pair is free.


@cache
def _lease_sql(gold: bool, avoid_repeat: bool) -> str:
    # The conditions are literals, not parameters, so that the planner matches the partial
    # index `pair_open_queue` (is_full = false AND is_gold = false) to the ordinary queue.
    queue = "p.is_gold" if gold else "NOT p.is_gold AND NOT p.is_full"
    free = f"""SELECT p.id FROM labeling_pair p
    WHERE NOT EXISTS (SELECT 1 FROM live) AND p.project_id = %(project)s AND {queue}
      AND NOT EXISTS (SELECT 1 FROM labeling_assignment mine
                      WHERE mine.pair_id = p.id AND mine.annotator_id = %(annotator)s)"""
    order = "ORDER BY p.priority DESC, p.id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED"
    if avoid_repeat:
        # Two picks, the second only when the first found nothing: a scalar subquery and a
        # one-time filter, so each is evaluated once; the queue's index order is kept.
        picked = f"""last_prompt AS (
    SELECT lp.prompt_id FROM labeling_assignment la JOIN labeling_pair lp ON lp.id = la.pair_id
    WHERE la.annotator_id = %(annotator)s AND la.project_id = %(project)s
    ORDER BY la.id DESC LIMIT 1
), other_prompt AS (
    {free}
      AND p.prompt_id IS DISTINCT FROM (SELECT prompt_id FROM last_prompt)
    {order}
), same_prompt AS (
    {free}
      AND NOT EXISTS (SELECT 1 FROM other_prompt)
    {order}
), picked AS (
    SELECT id FROM other_prompt UNION ALL SELECT id FROM same_prompt
)"""
    else:
        picked = f"""picked AS (
    {free}
    {order}
)"""
    slots = _SLOTS_SET.format(delta="1", overlap="%(overlap)s")
    lease = columns(Assignment, "labeling_assignment")
    return f"""
WITH live AS (
    SELECT id FROM labeling_assignment
    WHERE annotator_id = %(annotator)s AND project_id = %(project)s AND status = %(leased)s
      AND expires_at > %(now)s
    ORDER BY created_at LIMIT 1
), {picked}, counted AS (
    UPDATE labeling_pair c SET {slots}
    FROM picked WHERE c.id = picked.id AND {_COUNTS_LEASES.format(pair="c.")}
), leased AS (
    INSERT INTO labeling_assignment
        (project_id, pair_id, annotator_id, status, left_is_a, created_at, expires_at, closed_at)
    SELECT %(project)s, picked.id, %(annotator)s, %(leased)s, %(left_is_a)s, %(now)s,
           %(expires)s, NULL
    FROM picked
    RETURNING {lease}
), chosen AS (
    SELECT {lease} FROM labeling_assignment WHERE id IN (SELECT id FROM live)
    UNION ALL
    SELECT * FROM leased
)
SELECT {columns(Assignment, "a")}, {columns(Pair, "p")}, {columns(Prompt, "q")},
       {columns(Candidate, "ca")}, {columns(Candidate, "cb")}
FROM chosen a
JOIN labeling_pair p ON p.id = a.pair_id
JOIN labeling_prompt q ON q.id = p.prompt_id
JOIN labeling_candidate ca ON ca.id = p.candidate_a_id
JOIN labeling_candidate cb ON cb.id = p.candidate_b_id
"""


def lease_or_current(
    *,
    project: Project,
    annotator_id: int,
    gold: bool,
    left_is_a: bool,
    now: datetime,
    expires: datetime,
) -> Assignment | None:
    """The annotator's live lease, else a new lease on the first free pair of the queue.

    None when neither exists. Raises IntegrityError when the same annotator leased the same
    pair in a parallel request (the caller looks again).
    """
    params: dict[str, Any] = {
        "annotator": annotator_id,
        "project": project.pk,
        "leased": _LEASED,
        "now": now,
        "expires": expires,
        "left_is_a": left_is_a,
        "overlap": project.overlap,
    }
    with connection.cursor() as db:
        db.execute(_lease_sql(gold, project.avoid_repeat_prompt), params)
        row = db.fetchone()
    if row is None:
        return None
    assignment, pair, prompt, candidate_a, candidate_b = instances(
        row, Assignment, Pair, Prompt, Candidate, Candidate
    )
    # Assigning the related objects caches them, as select_related would.
    pair.prompt, pair.candidate_a, pair.candidate_b = prompt, candidate_a, candidate_b
    assignment.pair, assignment.project = pair, project
    return assignment


@cache
def _record_sql() -> str:
    # The answer arrives as stored (services/judgment.py: `answer_to_store` applied the
    # project's rules); only the lease decides here.
    return f"""
WITH target AS (
    SELECT a.id, a.pair_id, a.left_is_a
    FROM labeling_assignment a
    WHERE a.id = %(assignment)s AND a.annotator_id = %(annotator)s AND a.project_id = %(project)s
      AND a.status = %(leased)s AND a.expires_at > %(now)s
    FOR NO KEY UPDATE OF a
), closed AS (
    UPDATE labeling_assignment a SET status = %(done)s, closed_at = %(now)s
    FROM target WHERE a.id = target.id
), counted AS (
    UPDATE labeling_pair p SET {_JUDGED_SET}
    FROM target WHERE p.id = target.pair_id
)
INSERT INTO labeling_judgment
    (project_id, pair_id, annotator_id, assignment_id, source, choice, strength, rationale,
     left_is_a, time_spent_ms, created_at)
SELECT %(project)s, t.pair_id, %(annotator)s, t.id, %(source)s,
       CASE WHEN t.left_is_a THEN %(choice_if_a_left)s ELSE %(choice_if_b_left)s END,
       CAST(%(strength)s AS smallint), CAST(%(rationale)s AS text),
       t.left_is_a, CAST(%(time_spent_ms)s AS integer), %(now)s
FROM target t
RETURNING {columns(Judgment, "labeling_judgment")}
"""


def judgment_insert_if_leased(
    *,
    project_id: int,
    assignment_id: int,
    annotator_id: int,
    choices: tuple[Choice, Choice],
    strength: int | None,
    rationale: str,
    time_spent_ms: int | None,
    now: datetime,
    source: str = Judgment.Source.ANNOTATOR,
) -> Judgment | None:
    """Store the judgment and close its live lease in one statement; None if it is not one.

    `choices` is the stored answer when candidate a was shown left, and when b was.
    """
    params: dict[str, Any] = {
        "project": project_id,
        "assignment": assignment_id,
        "annotator": annotator_id,
        "leased": _LEASED,
        "done": _DONE,
        "now": now,
        "source": str(source),
        "choice_if_a_left": choices[0].value,
        "choice_if_b_left": choices[1].value,
        "strength": strength,
        "rationale": rationale,
        "time_spent_ms": time_spent_ms,
    }
    with connection.cursor() as db:
        db.execute(_record_sql(), params)
        row = db.fetchone()
    return None if row is None else instance(Judgment, row)


def first_free_pair_id_sqlite(
    *, project_id: int, annotator_id: int, gold: bool, avoid_repeat: bool = False
) -> int | None:
    """SQLite: the first pair of the queue that this annotator has not had, by its index.

    With the project id bound as a parameter SQLite's planner prefers `pair_project_gold` and
    sorts every pair of the project; `INDEXED BY` keeps the ordinary queue on `pair_open_queue`
    (and fails loudly if that index is ever renamed). `avoid_repeat`: pass over the pairs of
    the prompt of the annotator's latest lease (asked in the same query).
    """
    queue = "p.is_gold" if gold else "NOT p.is_gold AND NOT p.is_full"
    index = "" if gold else "INDEXED BY pair_open_queue"
    params = [project_id, annotator_id]
    other = ""
    if avoid_repeat:
        other = (
            "AND p.prompt_id IS NOT (SELECT lp.prompt_id FROM labeling_assignment la "
            "JOIN labeling_pair lp ON lp.id = la.pair_id "
            "WHERE la.annotator_id = %s AND la.project_id = %s ORDER BY la.id DESC LIMIT 1) "
        )
        params += [annotator_id, project_id]
    with connection.cursor() as db:
        db.execute(
            f"SELECT p.id FROM labeling_pair p {index} "
            f"WHERE p.project_id = %s AND {queue} AND NOT EXISTS ("
            "SELECT 1 FROM labeling_assignment mine "
            f"WHERE mine.pair_id = p.id AND mine.annotator_id = %s) {other}"
            "ORDER BY p.priority DESC, p.id LIMIT 1",
            params,
        )
        row = db.fetchone()
    return None if row is None else row[0]
