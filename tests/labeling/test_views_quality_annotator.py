import pytest
from django.urls import reverse

from labeling.models import Choice, Membership
from labeling.pseudonyms import annotator_pseudonym
from tests.conftest import assert_managers_only, client_for
from tests.factories import make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


def _url(project, user):
    return reverse("quality_annotator", args=[project.slug, user.pk])


def test_it_lists_one_annotators_judgments_for_a_manager(project, manager, annotator):
    first, second = make_pairs(project, 2)
    add_judgment(first, annotator, Choice.A, rationale="<script>x()</script>**clear**")
    add_judgment(second, manager, Choice.B)
    response = client_for(manager).get(_url(project, annotator))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="annotator-judgments">1<' in body
    assert f'data-judgment="{first.judgments.get().pk}"' in body
    assert first.candidate_a.text in body and second.candidate_a.text not in body
    assert "<strong>clear</strong>" in body and "<script>x()" not in body
    assert annotator_pseudonym(project_id=project.pk, user_id=annotator.pk) in body


def test_it_finds_nobody_outside_the_project(project, manager, outsider):
    assert client_for(manager).get(_url(project, outsider)).status_code == 404
    url = reverse("quality_exclude_one", args=[project.slug, outsider.pk])
    response = client_for(manager).post(url, follow=True)
    assert "no member of this project" in response.content.decode()
    assert not Membership.objects.filter(excluded_from_exports=True).exists()


def test_it_excludes_the_annotator_from_their_page(project, manager, annotator):
    url = reverse("quality_exclude_one", args=[project.slug, annotator.pk])
    assert client_for(manager, enforce_csrf_checks=True).post(url).status_code == 403
    response = client_for(manager).post(url, follow=True)
    assert "Excluded from exports and training" in response.content.decode()
    assert Membership.objects.get(user=annotator).excluded_from_exports


def test_it_serves_managers_only(project, annotator):
    exclude = reverse("quality_exclude_one", args=[project.slug, annotator.pk])
    assert_managers_only(project, ("get", _url(project, annotator)), ("post", exclude, {}))
    assert not Membership.objects.filter(excluded_from_exports=True).exists()
