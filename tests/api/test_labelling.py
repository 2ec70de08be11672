"""POST /api/v1/projects/{slug}/labelling/next, /submit, /skip: the page's lease and judgment."""

import pytest
from django.test import Client

from labeling.models import Assignment, Judgment
from tests.api.conftest import bearer
from tests.factories import make_pairs

JSON = "application/json"


def url(project, action):
    return f"/api/v1/projects/{project.slug}/labelling/{action}"


def test_it_leases_submits_and_replays_with_an_idempotency_key(project, annotator_api):
    make_pairs(project, 2)
    first = annotator_api.post(url(project, "next")).json()
    lease = first["lease"]
    assert lease["left"]["text"] and lease["right"]["text"] and first["judged"] == 0
    assert "tie" in first["rules"]["sides"]
    # Asking again before submitting returns the same lease.
    assert annotator_api.post(url(project, "next")).json()["lease"] == lease

    body = {"assignment_id": lease["assignment_id"], "side": "left"}
    headers = {"Idempotency-Key": "k-1"}
    answer = annotator_api.post(url(project, "submit"), body, content_type=JSON, headers=headers)
    assert answer.status_code == 200 and answer.json()["created"] is True
    retry = annotator_api.post(url(project, "submit"), body, content_type=JSON, headers=headers)
    assert retry.status_code == 200 and retry.content == answer.content
    assert Judgment.objects.filter(project=project).count() == 1
    # Without a key a resubmission says it was stored before.
    again = annotator_api.post(url(project, "submit"), body, content_type=JSON)
    assert again.json()["created"] is False
    # The same key with another request is refused.
    other = {"assignment_id": lease["assignment_id"], "side": "right"}
    reused = annotator_api.post(url(project, "submit"), other, content_type=JSON, headers=headers)
    assert reused.status_code == 422 and reused.json()["error"]["field"] == "Idempotency-Key"


def test_it_refuses_a_foreign_or_expired_lease_with_the_pages_words(
    project, annotator_api, manager
):
    make_pairs(project, 2)
    mine = annotator_api.post(url(project, "next")).json()["lease"]
    theirs = bearer(manager).post(url(project, "next")).json()["lease"]
    foreign = annotator_api.post(
        url(project, "submit"),
        {"assignment_id": theirs["assignment_id"], "side": "left"},
        content_type=JSON,
    )
    assert foreign.status_code == 409
    assert foreign.json()["error"] == {
        "code": "refused",
        "message": "This pair is not assigned to you.",
        "field": None,
        "line": None,
    }
    Assignment.objects.filter(pk=mine["assignment_id"]).update(expires_at="2000-01-01T00:00Z")
    late = annotator_api.post(
        url(project, "submit"),
        {"assignment_id": mine["assignment_id"], "side": "left"},
        content_type=JSON,
        headers={"Idempotency-Key": "late"},
    )
    assert late.status_code == 409 and "ran out" in late.json()["error"]["message"]
    assert not Judgment.objects.exists()


def test_it_skips_and_validates_like_the_page(project, annotator_api):
    project.allow_tie = False
    project.save()
    make_pairs(project, 2)
    lease = annotator_api.post(url(project, "next")).json()["lease"]
    tie = annotator_api.post(
        url(project, "submit"),
        {"assignment_id": lease["assignment_id"], "side": "tie"},
        content_type=JSON,
    )
    assert tie.status_code == 409
    assert tie.json()["error"]["message"] == "This project does not allow ties."
    bad = annotator_api.post(
        url(project, "submit"),
        {"assignment_id": lease["assignment_id"], "side": "up"},
        content_type=JSON,
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "side"
    skipped = annotator_api.post(
        url(project, "skip"), {"assignment_id": lease["assignment_id"]}, content_type=JSON
    )
    assert skipped.json() == {"skipped": True}
    assert (
        annotator_api.post(url(project, "next")).json()["lease"]["assignment_id"]
        != (lease["assignment_id"])
    )


def test_it_answers_anonymous_401_and_outsider_404(project, outsider):
    make_pairs(project, 1)
    anonymous = Client().post(url(project, "next"))
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
    outside = bearer(outsider).post(url(project, "next"))
    assert outside.status_code == 404
    assert outside.json()["error"]["message"] == "No such project"


@pytest.mark.django_db
def test_it_needs_csrf_for_a_session(project, annotator):
    from tests.conftest import client_for

    make_pairs(project, 1)
    browser = client_for(annotator, enforce_csrf_checks=True)
    assert browser.post(url(project, "next")).status_code in (401, 403)
    browser.get("/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    answer = browser.post(url(project, "next"), headers={"X-CSRFToken": token})
    assert answer.status_code == 200 and answer.json()["lease"] is not None


def test_it_extends_a_lease_and_takes_back_the_last_judgment(project, annotator_api):
    make_pairs(project, 2)
    lease = annotator_api.post(url(project, "next")).json()["lease"]
    body = {"assignment_id": lease["assignment_id"]}
    extended = annotator_api.post(url(project, "extend"), body, content_type=JSON)
    assert extended.status_code == 200 and extended.json()["expires_at"] >= lease["expires_at"]
    judged = annotator_api.post(
        url(project, "submit"), {**body, "side": "left"}, content_type=JSON
    ).json()
    late = annotator_api.post(url(project, "extend"), body, content_type=JSON)
    assert late.status_code == 409
    undone = annotator_api.post(
        url(project, "undo"), {"judgment_id": judged["judgment_id"]}, content_type=JSON
    )
    assert undone.status_code == 200 and undone.json()["assignment_id"] == lease["assignment_id"]
    assert not Judgment.objects.exists()
    again = annotator_api.post(
        url(project, "undo"), {"judgment_id": judged["judgment_id"]}, content_type=JSON
    )
    assert again.status_code == 409


@pytest.mark.django_db
def test_it_leaves_a_crowd_participant_to_the_studys_page(project):
    """Their batch, time limit and attention checks hold on the page, so the API refuses them."""
    from django.urls import reverse

    from tests.factories import CrowdStudyFactory

    make_pairs(project, 2)
    study = CrowdStudyFactory(project=project)
    browser = Client()
    query = {"PROLIFIC_PID": "f" * 24, "STUDY_ID": "s", "SESSION_ID": "x"}
    assert browser.get(reverse("study_enter", args=[study.token]), query).status_code == 302
    browser.get("/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    answer = browser.post(url(project, "next"), headers={"X-CSRFToken": token})
    assert answer.status_code == 404
    assert not Assignment.objects.exists()
