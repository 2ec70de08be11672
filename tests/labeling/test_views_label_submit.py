import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.models import Assignment, Choice, Judgment
from labeling.services.assignment import assignment_next
from tests.conftest import client_for
from tests.factories import MembershipFactory, make_pairs

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def _url(project):
    return reverse("label_submit", args=[project.slug])


def _lease(project, user):
    return assignment_next(project=project, annotator=user)


def test_it_records_the_judgment_and_swaps_in_the_next_pair(project, annotator):
    make_pairs(project, 2)
    lease = _lease(project, annotator)
    response = client_for(annotator).post(
        _url(project),
        {"assignment_id": lease.pk, "side": "left", "time_spent_ms": "1500"},
        headers=HTMX,
    )
    assert response.status_code == 200
    judgment = Judgment.objects.get()
    assert judgment.choice == (Choice.A if lease.left_is_a else Choice.B)
    assert judgment.time_spent_ms == 1500
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.DONE
    body = response.content.decode()
    assert "<html" not in body  # only the partial
    following = Assignment.objects.get(annotator=annotator, status=Assignment.Status.LEASED)
    assert f'name="assignment_id" value="{following.pk}"' in body
    assert '<strong id="judged-count">1</strong>' in body


def test_it_redirects_to_the_label_page_without_htmx(project, annotator):
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "right"}
    )
    assert response.status_code == 302
    assert response.url == reverse("label", args=[project.slug])
    assert Judgment.objects.count() == 1


def test_it_stores_one_judgment_when_submitted_twice(project, annotator):
    make_pairs(project, 2)
    lease = _lease(project, annotator)
    client = client_for(annotator)
    for side in ("left", "right"):
        response = client.post(
            _url(project), {"assignment_id": lease.pk, "side": side}, headers=HTMX
        )
        assert response.status_code == 200
    assert Judgment.objects.count() == 1


def test_it_stores_strength_and_rationale_when_the_project_asks(project, annotator):
    project.ask_strength = project.ask_rationale = True
    project.save()
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    client_for(annotator).post(
        _url(project),
        {"assignment_id": lease.pk, "side": "left", "strength": "3", "rationale": " clearer "},
        headers=HTMX,
    )
    judgment = Judgment.objects.get()
    assert (judgment.strength, judgment.rationale) == (3, "clearer")


def test_it_ignores_strength_and_rationale_the_project_does_not_ask(project, annotator):
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    client_for(annotator).post(
        _url(project),
        {"assignment_id": lease.pk, "side": "left", "strength": "3", "rationale": "why"},
        headers=HTMX,
    )
    judgment = Judgment.objects.get()
    assert (judgment.strength, judgment.rationale) == (None, "")


def test_it_stores_a_tie_without_the_strength_picked_before_it(project, annotator):
    # On the page: 3 (tie), then Z (slightly).
    project.ask_strength = True
    project.save()
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "tie", "strength": "1"}, headers=HTMX
    )
    assert response.status_code == 200
    judgment = Judgment.objects.get()
    assert (judgment.choice, judgment.strength) == (Choice.TIE, None)


def test_it_refuses_a_lease_from_another_project(project, annotator):
    make_pairs(project, 1)
    other = MembershipFactory(user=annotator).project
    make_pairs(other, 1)
    lease = _lease(other, annotator)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "left"}, headers=HTMX
    )
    assert response.status_code == 409
    assert "not assigned to you" in response.content.decode()
    assert not Judgment.objects.exists()


def test_it_refuses_an_expired_lease_with_a_message_and_the_next_pair(project, annotator):
    make_pairs(project, 2)
    lease = _lease(project, annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "left"}, headers=HTMX
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert 'id="work-error"' in body and "ran out" in body
    assert 'id="judgment-form"' in body  # the next pair is there too
    assert not Judgment.objects.exists()


def test_it_refuses_another_annotators_lease(project, annotator):
    make_pairs(project, 1)
    other = MembershipFactory(project=project).user
    lease = _lease(project, other)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "left"}, headers=HTMX
    )
    assert response.status_code == 409
    assert "not assigned to you" in response.content.decode()
    assert not Judgment.objects.exists()


def test_it_refuses_a_tie_when_the_project_allows_none(project, annotator):
    project.allow_tie = False
    project.save()
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "tie"}, headers=HTMX
    )
    assert response.status_code == 409
    assert not Judgment.objects.exists()


def test_it_refuses_an_invalid_form_and_writes_nothing(project, annotator):
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "sideways"}, headers=HTMX
    )
    assert response.status_code == 400
    assert "side" in response.content.decode()
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED


def test_it_says_so_when_the_last_pair_was_judged(project, annotator):
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": lease.pk, "side": "both_bad"}, headers=HTMX
    )
    assert 'id="no-more-work"' in response.content.decode()


def test_it_redirects_anonymous_to_login_and_back_to_the_label_page(project):
    make_pairs(project, 1)
    response = Client().post(_url(project), {"assignment_id": 1, "side": "left"})
    assert response.status_code == 302
    # Back to the page, not to this POST-only URL (a 405 after logging in).
    assert response.url == f"{reverse('login')}?next={reverse('label', args=[project.slug])}"
    assert not Judgment.objects.exists()


def test_it_answers_401_to_the_page_when_the_session_ended(project, annotator):
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    response = Client().post(
        _url(project), {"assignment_id": lease.pk, "side": "left"}, headers=HTMX
    )
    assert response.status_code == 401
    assert "<form" not in response.content.decode()  # no login page inside the work area
    assert not Judgment.objects.exists()


def test_it_shows_back_a_reason_it_could_not_store(project, annotator):
    project.ask_rationale = True
    project.save()
    make_pairs(project, 2)
    lease = _lease(project, annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(annotator).post(
        _url(project),
        {"assignment_id": lease.pk, "side": "left", "rationale": "A <long> careful reason"},
        headers=HTMX,
    )
    assert response.status_code == 409
    assert "A &lt;long&gt; careful reason</textarea>" in response.content.decode()


def test_it_hides_the_project_from_an_outsider(project, annotator, outsider):
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    response = client_for(outsider).post(_url(project), {"assignment_id": lease.pk, "side": "left"})
    assert response.status_code == 404
    assert not Judgment.objects.exists()


def test_it_enforces_csrf(project, annotator):
    make_pairs(project, 1)
    lease = _lease(project, annotator)
    client = client_for(annotator, enforce_csrf_checks=True)
    data = {"assignment_id": lease.pk, "side": "left"}
    assert client.post(_url(project), data).status_code == 403
    assert not Judgment.objects.exists()
    client.get(reverse("label", args=[project.slug]))  # sets the CSRF cookie, as a browser would
    token = client.cookies["csrftoken"].value
    response = client.post(_url(project), data, headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200
    assert Judgment.objects.count() == 1


def test_it_refuses_get(project, annotator):
    assert client_for(annotator).get(_url(project)).status_code == 405


def test_it_refuses_a_malformed_assignment_id(project, annotator):
    make_pairs(project, 1)
    response = client_for(annotator).post(
        _url(project), {"assignment_id": "abc", "side": "left"}, headers=HTMX
    )
    assert response.status_code == 400
    assert not Judgment.objects.exists()


class _BackendKiller:
    """Terminates the server process of the request's connection once the judgment is stored,
    before each of the next `times` queries: what a database restart does to a busy app."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.killed = 0
        self.judgment_stored = False

    def __call__(self, execute, sql, params, many, context):
        if self.judgment_stored and self.killed < self.times:
            self._terminate(context["connection"].connection.info.backend_pid)
            self.killed += 1
        result = execute(sql, params, many, context)
        if sql.lstrip().startswith("WITH target AS") or "INSERT INTO labeling_judgment" in sql:
            self.judgment_stored = True
        return result

    @staticmethod
    def _terminate(pid: int) -> None:
        db = connection.settings_dict
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                time.sleep(0.01)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("drops", [1, 2])
def test_it_answers_stored_when_the_connection_dies_after_the_judgment(project, annotator, drops):
    """A judgment committed just before the database dropped the connection is answered as
    stored: the next pair is read on a new connection, or, if that fails too, the answer says
    the judgment is stored and offers the next pair."""
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    make_pairs(project, 2)
    lease = _lease(project, annotator)
    client = client_for(annotator)
    killer = _BackendKiller(times=drops)
    with connection.execute_wrapper(killer):
        response = client.post(
            _url(project), {"assignment_id": lease.pk, "side": "left"}, headers=HTMX
        )
    connection.close()  # what the server does at the end of every request (close_old_connections)
    assert killer.killed == drops
    assert response.status_code == 200
    assert Judgment.objects.filter(assignment_id=lease.pk).count() == 1
    body = response.content.decode()
    if drops == 1:
        following = Assignment.objects.get(annotator=annotator, status=Assignment.Status.LEASED)
        assert f'name="assignment_id" value="{following.pk}"' in body
        assert '<strong id="judged-count">1</strong>' in body
    else:
        assert 'id="saved-next-unavailable"' in body and "Your answer is stored" in body
        assert 'hx-get="/p/' in body
    # The lease and the pair's counts are as after any judgment.
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.DONE
    assert Judgment.objects.count() == 1
