"""The labelling concurrency scenario (tests/labeling/concurrency_scenario.py) through the JSON
API: each tab is a client with the annotator's token, and every submission carries an
Idempotency-Key that its retries repeat, so a retry must get the first answer byte for byte."""

from __future__ import annotations

import random
import threading
import time

from tests.labeling.concurrency_scenario import Log, _closing_connections, _past, _soon


@_closing_connections
def api_tab_thread(project, user, rng: random.Random, log: Log, deadline: float) -> None:
    from django.test import Client

    from api.services.tokens import token_create
    from labeling.models import Assignment, Pair

    secret = token_create(user=user, name="race").secret
    auth = {"Authorization": f"Bearer {secret}"}
    tab, twin = Client(headers=auth), Client(headers=auth)
    base = f"/api/v1/projects/{project.slug}/labelling"
    keys = iter(range(10**9))

    def submit(client, assignment_id: int, side: str, key: str | None = None) -> int:
        key = key or f"{user.pk}-{next(keys)}-{rng.random()}"
        entry = (assignment_id, user.pk, side, time.monotonic())
        try:
            response = client.post(
                f"{base}/submit",
                {"assignment_id": assignment_id, "side": side},
                content_type="application/json",
                headers={"Idempotency-Key": key},
            )
        except Exception as error:
            log.bad_statuses.append(f"submit raised {error!r}")
            return 500
        if response.status_code == 200:
            log.successes.append(entry)
        elif response.status_code == 409:
            log.refusals.append(entry)
        else:
            log.bad_statuses.append(f"submit {response.status_code}: {response.content[:200]!r}")
        answers.setdefault(key, response.content)
        if answers[key] != response.content:
            log.bad_statuses.append(f"key {key}: {answers[key]!r} then {response.content!r}")
        return response.status_code

    answers: dict[str, bytes] = {}

    def get_work(client) -> int | None:
        try:
            response = client.post(f"{base}/next")
        except Exception as error:
            log.bad_statuses.append(f"next raised {error!r}")
            return None
        if response.status_code != 200:
            log.bad_statuses.append(f"next {response.status_code}: {response.content[:200]!r}")
            return None
        lease = response.json()["lease"]
        if lease is None:
            return None
        log.leases_seen[lease["assignment_id"]] = user.pk
        return lease["assignment_id"]

    while time.monotonic() < deadline:
        assignment_id = get_work(tab)
        if assignment_id is None:
            if not Pair.objects.filter(
                project=project, judgment_count__lt=project.overlap
            ).exists():
                return
            time.sleep(0.05)
            continue
        side = rng.choice(["left", "right", "tie", "both_bad"])
        # A key names one client's attempt: the annotator's other tab, holding the same lease,
        # sends its own answer under its own key.
        key = f"{user.pk}-{threading.get_ident()}-{assignment_id}"
        roll = rng.random()
        if roll < 0.06:
            Assignment.objects.filter(pk=assignment_id).update(expires_at=_past())
            log.expired.append((assignment_id, user.pk, time.monotonic()))
            log.counts["abandoned"] += 1
            submit(tab, assignment_id, side, key)
            submit(tab, assignment_id, side, key)  # the retry gets the same refusal
        elif roll < 0.12:
            soon = _soon(rng)
            Assignment.objects.filter(pk=assignment_id, expires_at__gt=soon).update(expires_at=soon)
            time.sleep(rng.uniform(0, 0.03))
            log.counts["racing_expiry"] += 1
            submit(tab, assignment_id, side, key)
        elif roll < 0.30:
            # A retry after a timeout: the same request with the same key, in a row.
            log.counts["retry_sequential"] += 1
            submit(tab, assignment_id, side, key)
            submit(tab, assignment_id, side, key)
        elif roll < 0.45:
            # The retry overtakes the first attempt: both at once from two connections.
            log.counts["retry_parallel"] += 1
            other = threading.Thread(
                target=_closing_connections(submit), args=(twin, assignment_id, side, key)
            )
            other.start()
            submit(tab, assignment_id, side, key)
            other.join()
        elif roll < 0.50:
            foreign = [a for a, owner in list(log.leases_seen.items()) if owner != user.pk]
            if foreign:
                log.counts["foreign"] += 1
                if submit(tab, rng.choice(foreign), side) != 409:
                    log.bad_statuses.append(f"{user.pk} submitted a lease of another")
            submit(tab, assignment_id, side, key)
        else:
            submit(tab, assignment_id, side, key)
    log.bad_statuses.append(f"annotator {user.pk} still working at the deadline")
