from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.models import Assignment
from labeling.services.assignment import assignment_next
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def _url(project):
    return reverse("label_extend", args=[project.slug])


def _short_lease(project, annotator):
    lease = assignment_next(project=project, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() + timedelta(seconds=30))
    return lease


def test_it_extends_the_live_lease_to_a_full_length(project, annotator):
    make_pairs(project, 1)
    lease = _short_lease(project, annotator)
    response = client_for(annotator).post(_url(project), {"assignment_id": lease.pk}, headers=HTMX)
    assert response.status_code == 200
    assert response.json()["seconds_left"] > project.lease_minutes * 60 - 5
    assert Assignment.objects.get(pk=lease.pk).expires_at > timezone.now() + timedelta(minutes=1)


def test_it_says_so_when_the_lease_ran_out(project, annotator):
    make_pairs(project, 1)
    lease = _short_lease(project, annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(annotator).post(_url(project), {"assignment_id": lease.pk}, headers=HTMX)
    assert response.status_code == 409
    assert response.json() == {"seconds_left": 0}


def test_it_answers_anonymous_htmx_with_401(project, annotator):
    make_pairs(project, 1)
    lease = _short_lease(project, annotator)
    response = Client().post(_url(project), {"assignment_id": lease.pk}, headers=HTMX)
    assert response.status_code == 401
    assert Client().post(_url(project), {"assignment_id": lease.pk}).status_code == 302


def test_it_hides_the_project_from_an_outsider(project, annotator, outsider):
    make_pairs(project, 1)
    lease = _short_lease(project, annotator)
    response = client_for(outsider).post(_url(project), {"assignment_id": lease.pk}, headers=HTMX)
    assert response.status_code == 404
    assert Assignment.objects.get(pk=lease.pk).expires_at < timezone.now() + timedelta(minutes=1)


def test_it_enforces_csrf(project, annotator):
    make_pairs(project, 1)
    lease = _short_lease(project, annotator)
    client = client_for(annotator, enforce_csrf_checks=True)
    assert client.post(_url(project), {"assignment_id": lease.pk}).status_code == 403
