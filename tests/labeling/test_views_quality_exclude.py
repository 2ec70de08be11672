"""Excluding annotators by a threshold: a preview that lists who, then a confirmed POST."""

import pytest
from django.urls import reverse

from labeling.models import AuditEvent, Choice, Membership
from tests.conftest import assert_managers_only, client_for
from tests.factories import MembershipFactory, UserFactory, make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


def _preview(project):
    return reverse("quality_exclude_preview", args=[project.slug])


def _exclude(project):
    return reverse("quality_exclude", args=[project.slug])


def _excluded(project):
    return set(
        Membership.objects.filter(project=project, excluded_from_exports=True).values_list(
            "user__username", flat=True
        )
    )


@pytest.fixture
def judged(project, manager, annotator):
    """On 5 gold pairs the annotator is always wrong, the manager always right."""
    for pair in make_pairs(project, 5, is_gold=True, gold_choice=Choice.A):
        add_judgment(pair, annotator, Choice.B)
        add_judgment(pair, manager, Choice.A, left_is_a=False)


def test_it_lists_who_would_be_excluded_then_excludes_them_once_confirmed(
    project, manager, annotator, judged
):
    client = client_for(manager)
    response = client.get(_preview(project), {"threshold": "0.5"})
    body = response.content.decode()
    assert response.status_code == 200 and 'data-username="annotator"' in body
    assert 'data-username="manager"' not in body
    assert _excluded(project) == set()  # the preview excludes nobody
    data = {"threshold": "0.5", "user_id": [annotator.pk]}
    response = client.post(_exclude(project), data, follow=True)
    assert "Excluded from exports and training: annotator" in response.content.decode()
    assert _excluded(project) == {"annotator"}
    event = AuditEvent.objects.get(action="annotators_excluded")
    assert event.details == {"annotators": ["annotator"], "threshold": 0.5}
    response = client.post(
        reverse("quality_include", args=[project.slug]), {"user_id": annotator.pk}, follow=True
    )
    assert "Taken back" in response.content.decode()
    assert _excluded(project) == set()


def test_it_excludes_only_the_annotators_confirmed(project, manager, annotator, judged):
    # The manager is not below the threshold: naming them in the POST excludes nobody more.
    data = {"threshold": "0.5", "user_id": [annotator.pk, manager.pk]}
    client_for(manager).post(_exclude(project), data)
    assert _excluded(project) == {"annotator"}
    # Without the confirmed list nothing happens.
    client_for(manager).post(_exclude(project), {"threshold": "0.5"})
    assert _excluded(project) == {"annotator"}


def test_it_refuses_a_threshold_that_would_exclude_everyone(project, manager):
    wrong = MembershipFactory(project=project, user=UserFactory(username="wrong")).user
    for pair in make_pairs(project, 5, is_gold=True, gold_choice=Choice.A):
        add_judgment(pair, wrong, Choice.B)
    client = client_for(manager)
    response = client.get(_preview(project), {"threshold": "0.9"}, follow=True)
    assert "would exclude every annotator" in response.content.decode()
    response = client.post(_exclude(project), {"threshold": "0.9", "user_id": [wrong.pk]})
    assert _excluded(project) == set()


def test_it_scores_nobody_by_agreement_between_two_annotators(project, manager, annotator):
    """The demo's case: two annotators who disagree; neither can be said to be wrong."""
    other = MembershipFactory(project=project, user=UserFactory(username="other")).user
    for pair in make_pairs(project, 20):
        add_judgment(pair, annotator, Choice.A)
        add_judgment(pair, other, Choice.B)
    response = client_for(manager).get(_preview(project), {"threshold": "1"}, follow=True)
    assert "Nobody else has a score below that threshold" in response.content.decode()
    assert _excluded(project) == set()


def test_it_refuses_an_exclusion_without_a_csrf_token(project, manager, annotator, judged):
    client = client_for(manager, enforce_csrf_checks=True)
    response = client.post(_exclude(project), {"threshold": "0.5", "user_id": [annotator.pk]})
    assert response.status_code == 403
    response = client.post(reverse("quality_include", args=[project.slug]), {"user_id": "1"})
    assert response.status_code == 403
    assert _excluded(project) == set()


def test_it_says_when_there_is_nobody_to_take_back(project, manager, outsider):
    url = reverse("quality_include", args=[project.slug])
    response = client_for(manager).post(url, {"user_id": outsider.pk}, follow=True)
    assert "no member of this project" in response.content.decode()


def test_it_serves_managers_only(project, annotator, judged):
    data = {"threshold": "0.5", "user_id": [annotator.pk]}
    assert_managers_only(
        project,
        ("get", _preview(project) + "?threshold=0.5"),
        ("post", _exclude(project), data),
        ("post", reverse("quality_include", args=[project.slug]), {"user_id": annotator.pk}),
    )
    assert _excluded(project) == set()
