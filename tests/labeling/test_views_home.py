import pytest
from django.test import Client
from django.urls import reverse

from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def test_it_redirects_anonymous_to_login():
    response = Client().get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_lists_my_projects_with_my_progress(project, annotator):
    make_pairs(project, 2)
    lease = assignment_next(project=project, annotator=annotator)
    judgment_record(project=project, assignment_id=lease.pk, annotator=annotator, side="left")
    response = client_for(annotator).get(reverse("home"))
    assert response.status_code == 200
    assert [item.judged for item in response.context["projects"]] == [1]
    assert project.name in response.content.decode()
    assert reverse("label", args=[project.slug]) in response.content.decode()


def test_it_shows_the_manage_link_to_managers_only(project, manager, annotator):
    manage_url = reverse("manage", args=[project.slug])
    assert manage_url in client_for(manager).get(reverse("home")).content.decode()
    assert manage_url not in client_for(annotator).get(reverse("home")).content.decode()


def test_it_hides_other_projects_from_an_outsider(project, outsider):
    body = client_for(outsider).get(reverse("home")).content.decode()
    assert project.name not in body
    assert reverse("label", args=[project.slug]) not in body
