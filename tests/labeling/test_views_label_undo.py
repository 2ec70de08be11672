import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Assignment, Judgment
from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def _url(project):
    return reverse("label_undo", args=[project.slug])


def _judged(project, annotator):
    lease = assignment_next(project=project, annotator=annotator)
    return judgment_record(
        project=project, assignment_id=lease.pk, annotator=annotator, side="left"
    ).judgment


def test_it_offers_undo_after_a_submission_and_serves_the_pair_again(project, annotator):
    make_pairs(project, 2)
    client = client_for(annotator)
    lease = assignment_next(project=project, annotator=annotator)
    response = client.post(
        reverse("label_submit", args=[project.slug]),
        {"assignment_id": lease.pk, "side": "left"},
        headers=HTMX,
    )
    judgment = Judgment.objects.get()
    assert f'name="judgment_id" value="{judgment.pk}"' in response.content.decode()
    response = client.post(_url(project), {"judgment_id": judgment.pk}, headers=HTMX)
    assert response.status_code == 200
    assert f'name="assignment_id" value="{lease.pk}"' in response.content.decode()
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED


def test_it_refuses_an_older_judgment_with_a_message(project, annotator):
    make_pairs(project, 3)
    first = _judged(project, annotator)
    _judged(project, annotator)
    response = client_for(annotator).post(_url(project), {"judgment_id": first.pk}, headers=HTMX)
    assert response.status_code == 409
    assert "Only your last judgment" in response.content.decode()
    assert Judgment.objects.count() == 2


def test_it_answers_anonymous_htmx_with_401_and_a_plain_post_with_the_login(project, annotator):
    make_pairs(project, 1)
    judgment = _judged(project, annotator)
    response = Client().post(_url(project), {"judgment_id": judgment.pk}, headers=HTMX)
    assert response.status_code == 401
    response = Client().post(_url(project), {"judgment_id": judgment.pk})
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('label', args=[project.slug])}"
    assert Judgment.objects.count() == 1


def test_it_hides_the_project_from_an_outsider(project, annotator, outsider):
    make_pairs(project, 1)
    judgment = _judged(project, annotator)
    response = client_for(outsider).post(_url(project), {"judgment_id": judgment.pk})
    assert response.status_code == 404
    assert Judgment.objects.count() == 1


def test_it_enforces_csrf(project, annotator):
    make_pairs(project, 1)
    judgment = _judged(project, annotator)
    client = client_for(annotator, enforce_csrf_checks=True)
    assert client.post(_url(project), {"judgment_id": judgment.pk}).status_code == 403
    assert Judgment.objects.count() == 1
