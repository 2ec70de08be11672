import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Assignment, Judgment
from labeling.services.assignment import assignment_next
from tests.conftest import client_for
from tests.factories import MembershipFactory, make_pairs

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def _url(project):
    return reverse("label_skip", args=[project.slug])


def test_it_gives_the_pair_back_and_serves_another(project, annotator):
    make_pairs(project, 2)
    lease = assignment_next(project=project, annotator=annotator)
    response = client_for(annotator).post(_url(project), {"assignment_id": lease.pk}, headers=HTMX)
    assert response.status_code == 200
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.SKIPPED
    following = Assignment.objects.get(annotator=annotator, status=Assignment.Status.LEASED)
    assert following.pair_id != lease.pair_id
    assert f'value="{following.pk}"' in response.content.decode()
    assert not Judgment.objects.exists()


def test_it_does_not_offer_a_skipped_pair_again(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    response = client_for(annotator).post(_url(project), {"assignment_id": lease.pk}, headers=HTMX)
    assert 'id="no-more-work"' in response.content.decode()


def test_it_redirects_to_the_label_page_without_htmx(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    response = client_for(annotator).post(_url(project), {"assignment_id": lease.pk})
    assert response.status_code == 302
    assert response.url == reverse("label", args=[project.slug])


def test_it_leaves_another_annotators_lease_alone(project, annotator):
    make_pairs(project, 2)
    other = MembershipFactory(project=project).user
    theirs = assignment_next(project=project, annotator=other)
    client_for(annotator).post(_url(project), {"assignment_id": theirs.pk}, headers=HTMX)
    assert Assignment.objects.get(pk=theirs.pk).status == Assignment.Status.LEASED


def test_it_redirects_anonymous_to_login(project):
    response = Client().post(_url(project), {"assignment_id": 1})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_hides_the_project_from_an_outsider(project, annotator, outsider):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    response = client_for(outsider).post(_url(project), {"assignment_id": lease.pk})
    assert response.status_code == 404
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED


def test_it_enforces_csrf(project, annotator):
    make_pairs(project, 2)
    lease = assignment_next(project=project, annotator=annotator)
    client = client_for(annotator, enforce_csrf_checks=True)
    assert client.post(_url(project), {"assignment_id": lease.pk}).status_code == 403
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED
    client.get(reverse("label", args=[project.slug]))
    token = client.cookies["csrftoken"].value
    response = client.post(_url(project), {"assignment_id": lease.pk, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.SKIPPED


def test_it_refuses_get(project, annotator):
    assert client_for(annotator).get(_url(project)).status_code == 405


def test_it_refuses_a_malformed_assignment_id(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    response = client_for(annotator).post(_url(project), {"assignment_id": "abc"}, headers=HTMX)
    assert response.status_code == 400
    assert "assignment_id" in response.content.decode()
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED
