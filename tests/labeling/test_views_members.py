import pytest

from labeling.models import Invite, Membership
from tests.conftest import assert_managers_only, client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_lists_every_member_including_those_with_no_judgment(project, manager, annotator):
    body = client_for(manager).get(f"/p/{project.slug}/members/").content.decode()
    assert 'data-username="annotator"' in body and 'data-username="manager"' in body
    assert 'aria-current="page">Members</a>' in body


def test_it_adds_changes_and_removes_members(project, manager, annotator):
    UserFactory(username="newbie", email="newbie@example.org")
    client = client_for(manager)

    response = client.post(
        f"/p/{project.slug}/members/add/", {"identifier": "newbie@example.org", "role": "annotator"}
    )
    assert response.status_code == 302
    newbie = Membership.objects.get(project=project, user__username="newbie")

    response = client.post(
        f"/p/{project.slug}/members/{newbie.pk}/role/", {"role": "manager"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and 'id="members"' in response.content.decode()
    assert Membership.objects.get(pk=newbie.pk).is_manager

    own = Membership.objects.get(project=project, user=manager)
    client.post(f"/p/{project.slug}/members/{own.pk}/role/", {"role": "annotator"})
    as_newbie = client_for(newbie.user)
    response = as_newbie.post(
        f"/p/{project.slug}/members/{newbie.pk}/role/",
        {"role": "annotator"},
        HTTP_HX_REQUEST="true",
    )
    assert "newbie is the project&#x27;s only manager" in response.content.decode()
    as_newbie.post(f"/p/{project.slug}/members/{own.pk}/role/", {"role": "manager"})
    client.post(f"/p/{project.slug}/members/{newbie.pk}/remove/")
    assert not Membership.objects.filter(pk=newbie.pk).exists()

    response = client.post(
        f"/p/{project.slug}/members/add/", {"identifier": "ghost", "role": "annotator"}
    )
    assert response.status_code == 400
    assert "No user has this username or e-mail address." in response.content.decode()


def test_it_creates_and_revokes_invite_links(project, manager):
    client = client_for(manager)
    client.post(f"/p/{project.slug}/invites/", {"role": "annotator", "days": "3", "max_uses": ""})
    invite = Invite.objects.get(project=project)
    assert f"/invite/{invite.token}/" in client.get(f"/p/{project.slug}/members/").content.decode()

    client.post(f"/p/{project.slug}/invites/{invite.pk}/revoke/")
    invite.refresh_from_db()
    assert invite.revoked_at is not None


def test_it_hides_members_from_annotators_and_outsiders(project, manager):
    own = Membership.objects.get(user=manager)
    invite = Invite.objects.create(project=project, expires_at="2100-01-01T00:00Z")
    url = f"/p/{project.slug}"
    assert_managers_only(
        project,
        ("get", f"{url}/members/"),
        ("post", f"{url}/members/add/", {"identifier": "outsider-x", "role": "manager"}),
        ("post", f"{url}/members/{own.pk}/role/", {"role": "annotator"}),
        ("post", f"{url}/members/{own.pk}/remove/"),
        ("post", f"{url}/invites/", {"role": "manager", "days": "3"}),
        ("post", f"{url}/invites/{invite.pk}/revoke/"),
    )
    assert Membership.objects.get(pk=own.pk).is_manager
    assert Invite.objects.get().revoked_at is None


def test_it_refuses_member_changes_without_a_csrf_token(project, manager, annotator):
    client = client_for(manager, enforce_csrf_checks=True)
    member = Membership.objects.get(user=annotator)
    url = f"/p/{project.slug}"
    assert client.post(f"{url}/members/{member.pk}/remove/").status_code == 403
    assert client.post(f"{url}/members/{member.pk}/role/", {"role": "manager"}).status_code == 403
    assert client.post(f"{url}/invites/", {"role": "manager", "days": "3"}).status_code == 403
    assert Membership.objects.get(pk=member.pk).role == "annotator"
    assert not Invite.objects.exists()
