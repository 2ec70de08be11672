"""Many annotators label one project at once through the real views, then the data is checked.

Used by tests/labeling/test_concurrency.py in-process on PostgreSQL, and as a subprocess
(`python -m tests.labeling.concurrency_scenario --var-dir DIR`) on the SQLite default file
database, which an in-memory test database cannot stand in for (one per connection).

Each worker thread is one browser tab with its own session; annotators have two tabs each, so
the same annotator races with itself as well as with others. Tabs get work, submit it, and
now and then: submit twice in a row, submit twice at once from both tabs, abandon a lease (its
expiry is moved into the past, as if time passed) and submit it late, submit just as the lease
runs out, or submit someone else's lease. A reaper thread reclaims expired leases all along,
as Celery beat does. Every answer is logged on the client side and compared with the rows.

Crowd participants arrive too: all at the same moment through the study link, each in two
tabs at once with the same platform id, then work like the others until their batch of
`Plan.batch` judgments ends. Each must be one account, and none may judge past the batch.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_ASSIGNMENT = re.compile(r'name="assignment_id" value="(\d+)"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HTMX = {"HX-Request": "true"}
BATCH_ENDED = -1  # the label page sent a participant to their completion code


@dataclass
class Log:
    """What the clients saw; appended to from many threads (list.append is atomic)."""

    # (assignment, user, side, when the request started)
    successes: list[tuple[int, int, str, float]] = field(default_factory=list)
    refusals: list[tuple[int, int, str, float]] = field(default_factory=list)
    # (assignment, user, when its lease was made to run out)
    expired: list[tuple[int, int, float]] = field(default_factory=list)
    bad_statuses: list[str] = field(default_factory=list)
    leases_seen: dict[int, int] = field(default_factory=dict)  # assignment -> annotator
    counts: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Plan:
    annotators: int = 12
    tabs_per_annotator: int = 2
    pairs: int = 80
    overlap: int = 3
    deadline_s: float = 50.0
    seed: int = 1
    participants: int = 3  # crowd participants through the study link, two tabs each
    batch: int = 5  # judgments per participant


def run(plan: Plan, tab=None) -> tuple[Log, int]:
    """Create the project, let every tab work until it is complete; return the log and its id.

    `tab`: what each tab thread runs (the page's flow by default; tests/api runs the JSON API's).
    """
    from django.contrib.auth import get_user_model
    from django.db import connections

    from labeling.models import Membership, Project
    from tests.factories import make_pairs

    project = Project.objects.create(
        name="Race",
        slug=f"race-{plan.seed}",
        overlap=plan.overlap,
        allow_tie=True,
        allow_both_bad=True,
    )
    make_pairs(project, plan.pairs)
    study = None
    if plan.participants:
        from labeling.services.participants import crowd_study_save

        study = crowd_study_save(project=project, platform="prolific", batch_size=plan.batch)
    users = []
    for i in range(plan.annotators):
        # No password: hashing one costs more CPU than the whole scenario's requests.
        user = get_user_model().objects.create(username=f"racer{plan.seed}-{i}")
        Membership.objects.create(user=user, project=project)
        users.append(user)
    log = Log()
    stop = threading.Event()
    deadline = time.monotonic() + plan.deadline_s
    tabs = [
        threading.Thread(
            target=tab or _tab_thread,
            args=(project, user, random.Random(plan.seed * 1000 + n), log, deadline),
        )
        for n, user in enumerate(u for u in users for _ in range(plan.tabs_per_annotator))
    ]
    arrival = threading.Barrier(2 * plan.participants)
    tabs += [
        threading.Thread(
            target=_participant_thread,
            args=(project, study, f"pid{plan.seed}x{n}", arrival, random.Random(-n), log, deadline),
        )
        for n in range(plan.participants)
    ]
    reaper = threading.Thread(target=_reaper_thread, args=(project, stop, log))
    reaper.start()
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    stop.set()
    reaper.join()
    connections.close_all()
    return log, project.pk


def _client(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _closing_connections(target):
    def wrapper(*args):
        from django.db import connections

        try:
            target(*args)
        finally:
            connections.close_all()

    return wrapper


@_closing_connections
def _reaper_thread(project, stop: threading.Event, log: Log) -> None:
    from labeling.services.assignment import leases_reclaim_expired

    while not stop.is_set():
        try:
            log.counts["reclaimed"] += leases_reclaim_expired(project=project)
        except Exception as error:  # a deadlock or a locked database would land here
            log.bad_statuses.append(f"reaper: {error!r}")
        time.sleep(0.02)


@_closing_connections
def _tab_thread(project, user, rng: random.Random, log: Log, deadline: float) -> None:
    tab, twin = _client(user), _client(user)  # twin: the same annotator's other tab
    _work(project, user.pk, tab, twin, rng, log, deadline)


@_closing_connections
def _participant_thread(
    project, study, pid: str, arrival: threading.Barrier, rng: random.Random, log, deadline
) -> None:
    """One participant opens the study link in two tabs at once, then works in both."""
    from django.test import Client
    from django.urls import reverse

    link = reverse("study_enter", args=[study.token])
    tabs = [Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)]
    entered: list[object] = [None, None]

    def enter(n: int) -> None:
        arrival.wait()
        try:
            entered[n] = tabs[n].get(link, {"PROLIFIC_PID": pid, "SESSION_ID": f"s-{n}"})
        except Exception as error:
            entered[n] = error

    second = threading.Thread(target=_closing_connections(enter), args=(1,))
    second.start()
    enter(0)
    second.join()
    label_url = reverse("label", args=[project.slug])
    for response in entered:
        if getattr(response, "status_code", None) != 302 or response.url != label_url:
            log.bad_statuses.append(f"participant {pid} entered with {response!r}")
            return
    user_ids = {int(tab.session["_auth_user_id"]) for tab in tabs}
    if len(user_ids) != 1:
        log.bad_statuses.append(f"participant {pid} got two accounts: {user_ids}")
        return
    log.counts["participants"] += 1
    _work(project, user_ids.pop(), tabs[0], tabs[1], rng, log, deadline)


def _work(project, user_id: int, tab, twin, rng: random.Random, log: Log, deadline: float) -> None:
    """Get work and submit it in one tab (sometimes in both) until the project is complete,
    or, for a participant, until their batch ends (the label page sends them to their code)."""
    from django.urls import reverse

    from labeling.models import Assignment, Pair

    label_url = reverse("label", args=[project.slug])
    submit_url = reverse("label_submit", args=[project.slug])

    def submit(client, assignment_id: int, side: str) -> int:
        csrf = client.cookies["csrftoken"].value
        entry = (assignment_id, user_id, side, time.monotonic())
        try:
            response = client.post(
                submit_url,
                {"assignment_id": assignment_id, "side": side, "csrfmiddlewaretoken": csrf},
                headers=HTMX,
            )
        except Exception as error:  # what a server would answer with a 500
            log.bad_statuses.append(f"submit raised {error!r}")
            return 500
        if response.status_code == 200:
            log.successes.append(entry)
        elif response.status_code == 409:
            log.refusals.append(entry)
        else:
            log.bad_statuses.append(f"submit {response.status_code}: {response.content[:200]!r}")
        return response.status_code

    def get_work(client) -> int | None:
        try:
            response = client.get(label_url, headers=HTMX)
        except Exception as error:
            log.bad_statuses.append(f"get raised {error!r}")
            return None
        if response.status_code != 200:
            log.bad_statuses.append(f"get {response.status_code}: {response.content[:200]!r}")
            return None
        if response.has_header("HX-Redirect"):
            return BATCH_ENDED
        found = _ASSIGNMENT.search(response.content.decode())
        if found is None:
            return None
        assignment_id = int(found.group(1))
        log.leases_seen[assignment_id] = user_id
        return assignment_id

    get_work(twin)  # sets the twin's CSRF cookie
    while time.monotonic() < deadline:
        assignment_id = get_work(tab)
        if assignment_id == BATCH_ENDED:
            log.counts["batches_ended"] += 1
            return
        if assignment_id is None:
            open_pairs = Pair.objects.filter(project=project, judgment_count__lt=project.overlap)
            if not open_pairs.exists():
                return  # the project is complete
            time.sleep(0.05)  # others hold the rest, or it waits to be reclaimed
            continue
        side = rng.choice(["left", "right", "tie", "both_bad"])
        roll = rng.random()
        if roll < 0.06:
            # Abandoned: the lease runs out; submitting it later is refused (unless the
            # other tab stored it before, then it is a resubmission).
            Assignment.objects.filter(pk=assignment_id).update(expires_at=_past())
            # From here on, when the UPDATE has returned (it may wait for SQLite's write lock).
            log.expired.append((assignment_id, user_id, time.monotonic()))
            log.counts["abandoned"] += 1
            submit(tab, assignment_id, side)
        elif roll < 0.12:
            # Submitted just as it runs out: either answer is fine, as long as it is the truth.
            soon = _soon(rng)  # only ever shortened: the other tab may have expired it already
            Assignment.objects.filter(pk=assignment_id, expires_at__gt=soon).update(expires_at=soon)
            time.sleep(rng.uniform(0, 0.03))
            log.counts["racing_expiry"] += 1
            submit(tab, assignment_id, side)
        elif roll < 0.22:
            log.counts["double_sequential"] += 1
            submit(tab, assignment_id, side)
            submit(tab, assignment_id, rng.choice(["left", "right"]))
        elif roll < 0.32:
            log.counts["double_parallel"] += 1
            other = threading.Thread(
                target=_closing_connections(submit), args=(twin, assignment_id, side)
            )
            other.start()
            submit(tab, assignment_id, side)
            other.join()
        elif roll < 0.36:
            foreign = [a for a, owner in list(log.leases_seen.items()) if owner != user_id]
            if foreign:
                log.counts["foreign"] += 1
                foreign_id = rng.choice(foreign)
                if submit(tab, foreign_id, side) != 409:
                    log.bad_statuses.append(f"{user_id} submitted {foreign_id} of another")
            submit(tab, assignment_id, side)
        else:
            submit(tab, assignment_id, side)
    log.bad_statuses.append(f"annotator {user_id} still working at the deadline")


def _past():
    from django.utils import timezone

    return timezone.now() - timedelta(seconds=1)


def _soon(rng: random.Random):
    from django.utils import timezone

    return timezone.now() + timedelta(seconds=rng.uniform(0, 0.03))


def problems(
    log: Log, project_id: int, *, complete: bool = True, since: datetime | None = None
) -> list[str]:
    """Every broken invariant, in words; empty when the data is what the clients were told.

    `complete`: every pair must also have all its judgments (the scenario runs to the end; the
    benchmark stops at a time). `since`: judgments from before then were not in this log (a
    benchmark run on a project that earlier runs had worked on).
    """
    from django.db.models import Count, Exists, OuterRef, Q

    from labeling.models import Assignment, Judgment, Pair, Project

    project = Project.objects.get(pk=project_id)
    found = list(log.bad_statuses)
    judgments = list(
        Judgment.objects.filter(project=project).values(
            "pk", "pair_id", "annotator_id", "assignment_id", "choice", "left_is_a"
        )
    )
    by_assignment = {j["assignment_id"]: j for j in judgments}
    if since is not None:
        earlier = set(
            Judgment.objects.filter(project=project, created_at__lt=since).values_list(
                "assignment_id", flat=True
            )
        )
        judgments = [j for j in judgments if j["assignment_id"] not in earlier]

    per_pair = Counter(j["pair_id"] for j in judgments)
    over = {pair: n for pair, n in per_pair.items() if n > project.overlap}
    if over:
        found.append(f"pairs with more than {project.overlap} judgments: {over}")
    twice = [
        k for k, n in Counter((j["pair_id"], j["annotator_id"]) for j in judgments).items() if n > 1
    ]
    if twice:
        found.append(f"(pair, annotator) judged twice: {twice}")

    success_sides: dict[int, set[str]] = defaultdict(set)
    for assignment_id, user_id, side, _started in log.successes:
        stored = by_assignment.get(assignment_id)
        if stored is None or stored["annotator_id"] != user_id:
            found.append(f"assignment {assignment_id}: answered 200 but no judgment by {user_id}")
        success_sides[assignment_id].add(side)
    for j in judgments:
        sides = success_sides.get(j["assignment_id"])
        if not sides:
            found.append(f"judgment {j['pk']} exists but no submission of it got a success answer")
        elif j["choice"] not in {_choice(s, j["left_is_a"]) for s in sides}:
            found.append(f"judgment {j['pk']} says {j['choice']}, which nobody successfully sent")
    for assignment_id, _user_id, expired_at in log.expired:
        if assignment_id in by_assignment and not any(
            a == assignment_id and started < expired_at for a, _u, _s, started in log.successes
        ):
            tried = [
                (round(t - expired_at, 4), side)
                for a, _u, side, t in log.successes
                if a == assignment_id
            ]
            found.append(
                f"assignment {assignment_id}: stored after its lease ran out; "
                f"successes started at {tried} s from then"
            )
    # Pairs nobody touched must read all zero: checked in SQL, so that a million pairs are cheap.
    has_lease = Exists(Assignment.objects.filter(pair=OuterRef("pk")))
    pairs = Pair.objects.filter(project=project)
    untouched_wrong = pairs.filter(~has_lease).exclude(taken=0, judgment_count=0, is_full=False)
    if untouched_wrong.exists():
        found.append(f"pairs never leased but counted: {list(untouched_wrong[:20])}")
    leased = Count(
        "assignments", filter=Q(assignments__status=Assignment.Status.LEASED), distinct=True
    )
    judged = Count("judgments", distinct=True)
    for pair in pairs.filter(has_lease).annotate(leased=leased, judged=judged):
        if pair.judgment_count != pair.judged:
            found.append(f"pair {pair.pk}: judgment_count {pair.judgment_count} != {pair.judged}")
        if pair.taken != pair.judged + pair.leased:
            found.append(
                f"pair {pair.pk}: taken {pair.taken} != {pair.judged} judged + {pair.leased} leased"
            )
        if pair.is_full != (pair.taken >= project.overlap):
            found.append(f"pair {pair.pk}: is_full {pair.is_full} with taken {pair.taken}")
    found += _participant_problems(project, judgments)
    if complete:
        unfinished = pairs.exclude(judgment_count=project.overlap)
        if unfinished.exists():
            found.append(f"the project is not complete: {list(unfinished[:20])}")
    done = set(
        Assignment.objects.filter(project=project, status=Assignment.Status.DONE).values_list(
            "pk", flat=True
        )
    )
    if done != set(by_assignment):
        found.append(
            f"done leases without a judgment or judgments of open leases: "
            f"{sorted(done ^ set(by_assignment))[:20]}"
        )
    return found


def _participant_problems(project, judgments: list[dict]) -> list[str]:
    """One account per platform id, no account without a participant, no batch overrun."""
    from django.contrib.auth import get_user_model

    from labeling.models import CrowdStudy, Membership, Participant

    study = CrowdStudy.objects.filter(project=project).first()
    if study is None:
        return []
    found = []
    participants = list(Participant.objects.filter(project=project))
    ids = Counter(p.participant_id for p in participants)
    if any(n > 1 for n in ids.values()) or len({p.user_id for p in participants}) != len(ids):
        found.append(f"participants sharing an id or an account: {ids}")
    accounts = get_user_model().objects.filter(username__startswith="participant-")
    if accounts.count() != len(participants):
        found.append(f"{accounts.count()} participant accounts for {len(participants)} ids")
    members = Membership.objects.filter(user__participant__isnull=False)
    if members.exclude(project=project).exists() or members.count() != len(participants):
        found.append("a participant's account is a member elsewhere or twice")
    per_user = Counter(j["annotator_id"] for j in judgments)
    for p in participants:
        if per_user[p.user_id] > study.batch_size:
            found.append(f"participant {p.participant_id}: {per_user[p.user_id]} judgments")
        if p.is_active:
            found.append(f"participant {p.participant_id} never reached the end of the batch")
    return found


def _choice(side: str, left_is_a: bool) -> str:
    from labeling.services.judgment import Answer

    return Answer(side=side, strength=None, rationale="").choice(left_is_a=left_is_a)


def main() -> int:
    """The SQLite variant, in its own process: a fresh file database under --var-dir."""
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--var-dir", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["PREFAPP_VAR_DIR"] = args.var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prefapp.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    assert connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(
        args.var_dir
    )
    log, project_id = run(Plan(seed=args.seed))
    found = problems(log, project_id)
    print(
        json.dumps(
            {
                "problems": found[:50],
                "successes": len(log.successes),
                "refusals": len(log.refusals),
                "counts": dict(log.counts),
            }
        )
    )
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
