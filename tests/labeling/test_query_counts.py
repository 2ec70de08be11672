"""Queries per labelling request, so that a regression shows (bench/README.md has the timings).

The budgets are today's counts: on PostgreSQL the lease and the judgment are one statement each
(labeling/sql.py), the SQLite default runs the ORM's sequence. The session costs one query
(sessions are in the database, settings.SESSION_ENGINE; none if a cached engine is set). Savepoints
are not counted: they are what the test's own transaction turns BEGIN/COMMIT into.
"""

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.models import Judgment
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SESSION = 0 if settings.SESSION_ENGINE.endswith("cached_db") else 1
if connection.vendor == "postgresql":
    # One statement each for the lease (or the live lease) and for the judgment (labeling/sql.py).
    # user, membership, the lease statement, my progress
    NEXT_PAIR = SESSION + 4
    # the same four: the lease statement answers the live lease
    SAME_PAIR_AGAIN = SESSION + 4
    # user, membership, the judgment statement
    SUBMIT = SESSION + 3
else:
    # user, membership, the live-lease probe, pick a pair's id on the queue's index, load it,
    # insert the lease, count it, my progress
    NEXT_PAIR = SESSION + 8
    # user, membership, the live-lease probe, load it, my progress
    SAME_PAIR_AGAIN = SESSION + 5
    # user, membership, lock the lease, insert the judgment, close the lease, count the judgment
    SUBMIT = SESSION + 6
# the submission, then the next pair (without the session, user and membership a second time)
SUBMIT_AND_NEXT = SUBMIT + NEXT_PAIR - SESSION - 2


def _queries(call) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    sql = [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    return response, sql


def _assignment_id(response) -> str:
    return re.search(r'name="assignment_id" value="(\d+)"', response.content.decode()).group(1)


@pytest.fixture
def setup(project, annotator):
    make_pairs(project, 30)
    client = client_for(annotator)
    client.get(reverse("home"))  # the first request of a session may save it; not counted
    return (
        client,
        reverse("label", args=[project.slug]),
        reverse("label_submit", args=[project.slug]),
    )


def test_it_leases_the_next_pair_in_few_queries(setup):
    client, label_url, _ = setup
    response, sql = _queries(lambda: client.get(label_url, headers=HTMX))
    assert response.status_code == 200 and _assignment_id(response)
    assert len(sql) <= NEXT_PAIR, "\n".join(sql)


def test_it_shows_the_live_lease_again_in_few_queries(setup):
    client, label_url, _ = setup
    first = client.get(label_url, headers=HTMX)
    response, sql = _queries(lambda: client.get(label_url, headers=HTMX))
    assert _assignment_id(response) == _assignment_id(first)
    assert len(sql) <= SAME_PAIR_AGAIN, "\n".join(sql)


def test_it_records_a_submission_in_few_queries(setup):
    client, label_url, submit_url = setup
    assignment_id = _assignment_id(client.get(label_url, headers=HTMX))
    response, sql = _queries(
        lambda: client.post(submit_url, {"assignment_id": assignment_id, "side": "left"})
    )
    assert response.status_code == 302
    assert Judgment.objects.filter(assignment_id=assignment_id).exists()
    assert len(sql) <= SUBMIT, "\n".join(sql)


def test_it_records_and_serves_the_next_pair_in_one_htmx_request(setup):
    client, label_url, submit_url = setup
    assignment_id = _assignment_id(client.get(label_url, headers=HTMX))
    response, sql = _queries(
        lambda: client.post(
            submit_url, {"assignment_id": assignment_id, "side": "right"}, headers=HTMX
        )
    )
    assert response.status_code == 200 and _assignment_id(response) != assignment_id
    assert len(sql) <= SUBMIT_AND_NEXT, "\n".join(sql)


def test_it_does_not_query_more_after_many_judgments(setup):
    client, label_url, submit_url = setup
    for _ in range(20):
        assignment_id = _assignment_id(client.get(label_url, headers=HTMX))
        client.post(submit_url, {"assignment_id": assignment_id, "side": "tie"})
    response, sql = _queries(lambda: client.get(label_url, headers=HTMX))
    assert _assignment_id(response)
    assert len(sql) <= NEXT_PAIR, "\n".join(sql)
