from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from labeling.models import Invite, Membership
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def invite(project):
    return Invite.objects.create(
        project=project, role="annotator", expires_at=timezone.now() + timedelta(days=1)
    )


def test_it_signs_up_by_name_and_lands_on_the_label_page(project, invite):
    client = Client()
    assert 'id="name-form"' in client.get(f"/invite/{invite.token}/").content.decode()

    response = client.post(f"/invite/{invite.token}/", {"display_name": "Ada"})

    assert response.status_code == 302 and response.url == f"/p/{project.slug}/label/"
    assert client.get(response.url).status_code == 200
    assert Membership.objects.get(project=project, user__first_name="Ada").role == "annotator"


def test_it_lets_a_signed_in_user_join(project, invite, outsider):
    client = client_for(outsider)
    response = client.post(f"/invite/{invite.token}/")
    assert response.url == f"/p/{project.slug}/label/"
    assert Membership.objects.filter(project=project, user=outsider).exists()


def test_it_says_why_a_link_is_unusable_and_404s_an_unknown_one(invite):
    invite.revoked_at = timezone.now()
    invite.save()
    client = Client()
    page = client.get(f"/invite/{invite.token}/").content.decode()
    assert "This invite link was revoked." in page
    response = client.post(f"/invite/{invite.token}/", {"display_name": "Late"})
    assert response.status_code == 400 and not Membership.objects.filter(user__first_name="Late")
    assert client.get("/invite/no-such-token/").status_code == 404


def test_it_refuses_a_sign_up_without_a_csrf_token(invite):
    client = Client(enforce_csrf_checks=True)
    assert client.post(f"/invite/{invite.token}/", {"display_name": "Ada"}).status_code == 403
    assert not Membership.objects.filter(user__first_name="Ada").exists()
