import pytest
from django.test import Client
from django.urls import reverse

from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory, make_pairs

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("my_judgments", args=[project.slug])


def _judge(project, user, side, rationale=""):
    lease = assignment_next(project=project, annotator=user)
    judgment_record(
        project=project, assignment_id=lease.pk, annotator=user, side=side, rationale=rationale
    )


def test_it_lists_my_own_judgments_only(project, annotator):
    project.ask_rationale = True
    project.overlap = 2
    project.save()
    make_pairs(project, 2)
    _judge(project, annotator, "tie", rationale="mine-reason")
    other = MembershipFactory(project=project, user=UserFactory(username="someone-else")).user
    _judge(project, other, "both_bad", rationale="their-reason")
    body = client_for(annotator).get(_url(project)).content.decode()
    assert "mine-reason" in body and "Tie" in body
    assert "their-reason" not in body and "someone-else" not in body


def test_it_redirects_anonymous_to_login_and_back(project):
    response = Client().get(_url(project))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={_url(project)}"


def test_it_hides_the_project_from_an_outsider(project, outsider):
    assert client_for(outsider).get(_url(project)).status_code == 404
