import pytest
from django.test import Client

from labeling.models import Choice, Membership
from tests.conftest import client_for
from tests.factories import make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged(project, manager, annotator):
    for pair in make_pairs(project, 5, is_gold=True, gold_choice=Choice.A):
        add_judgment(pair, annotator, Choice.B)
        add_judgment(pair, manager, Choice.A, left_is_a=False)


def test_it_shows_the_quality_page_to_a_manager(project, manager, judged):
    response = client_for(manager).get(f"/p/{project.slug}/quality/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="quality-annotators"' in body and 'data-username="annotator"' in body
    assert 'id="plot-left"' in body and "<svg" in body
    assert 'id="alpha"' in body


def test_it_hides_the_quality_page_from_annotators_and_outsiders(project, annotator, outsider):
    for user in (annotator, outsider):
        assert client_for(user).get(f"/p/{project.slug}/quality/").status_code == 404
        response = client_for(user).post(f"/p/{project.slug}/quality/exclude/", {"threshold": "1"})
        assert response.status_code == 404
    assert not Membership.objects.filter(excluded_from_exports=True).exists()


def test_it_sends_anonymous_visitors_to_the_login(project):
    response = Client().get(f"/p/{project.slug}/quality/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_it_excludes_below_a_threshold_in_one_post_and_takes_back(
    project, manager, annotator, judged
):
    client = client_for(manager)
    response = client.post(f"/p/{project.slug}/quality/exclude/", {"threshold": "0.5"}, follow=True)
    assert "Excluded from exports and training: annotator" in response.content.decode()
    assert Membership.objects.get(user=annotator).excluded_from_exports
    assert not Membership.objects.get(user=manager).excluded_from_exports
    client.post(f"/p/{project.slug}/quality/include/", {"user_id": annotator.pk})
    assert not Membership.objects.get(user=annotator).excluded_from_exports


def test_it_refuses_an_exclusion_without_a_csrf_token(project, manager, judged):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post(f"/p/{project.slug}/quality/exclude/", {"threshold": "0.5"})
    assert response.status_code == 403
    assert not Membership.objects.filter(excluded_from_exports=True).exists()
