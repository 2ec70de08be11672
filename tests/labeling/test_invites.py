"""Invite links: create, accept (sign-up or existing user), limits, revoke."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import AuditEvent, Membership
from labeling.services.invites import (
    InviteRefused,
    invite_accept,
    invite_create,
    invite_revoke,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _invite(project, actor, **fields):
    arguments = (
        dict(role="annotator", expires_at=timezone.now() + timedelta(days=1), max_uses=2) | fields
    )
    return invite_create(project=project, actor=actor, **arguments)


def test_it_signs_people_up_until_the_link_is_used_up(project, manager):
    invite = _invite(project, manager)

    first = invite_accept(invite=invite, username="ada", password="a-long-pass-phrase-9")
    second = invite_accept(invite=invite, display_name="Grace H.")

    assert first.user.check_password("a-long-pass-phrase-9") and first.role == "annotator"
    assert second.user.first_name == "Grace H." and not second.user.has_usable_password()
    assert second.user.username.startswith("grace-h-")
    with pytest.raises(InviteRefused, match="used as many times as it allows"):
        invite_accept(invite=invite, display_name="Third")
    assert AuditEvent.objects.filter(action="invite_accepted").count() == 2


def test_it_refuses_bad_sign_ups_naming_the_field(project, manager):
    invite = _invite(project, manager, role="manager")
    UserFactory(username="taken")

    with pytest.raises(InviteRefused, match="username: this link needs a username"):
        invite_accept(invite=invite, display_name="Just a name")
    with pytest.raises(InviteRefused, match="username: A user with that username"):
        invite_accept(invite=invite, username="taken", password="a-long-pass-phrase-9")
    with pytest.raises(InviteRefused, match="password: This password is too common"):
        invite_accept(invite=invite, username="fresh", password="password")
    assert (
        not Membership.objects.filter(project=project, role="manager")
        .exclude(user=manager)
        .exists()
    )


def test_it_lets_an_existing_user_join_once(project, manager, outsider):
    invite = _invite(project, manager, max_uses=1)
    membership = invite_accept(invite=invite, user=outsider)
    assert invite_accept(invite=invite, user=outsider) == membership
    invite.refresh_from_db()
    assert invite.uses == 1


def test_it_refuses_expired_revoked_and_archived_links(project, manager):
    with pytest.raises(InviteRefused, match="expires_at: the expiry must be in the future"):
        _invite(project, manager, expires_at=timezone.now())
    invite = _invite(project, manager)
    invite.expires_at = timezone.now() - timedelta(seconds=1)
    invite.save()
    with pytest.raises(InviteRefused, match="expired"):
        invite_accept(invite=invite, display_name="Late")

    revoked = invite_revoke(invite=_invite(project, manager), actor=manager)
    assert revoked.revoked_at is not None
    with pytest.raises(InviteRefused, match="revoked"):
        invite_accept(invite=revoked, display_name="Too late")
    assert AuditEvent.objects.filter(action="invite_revoked").count() == 1
