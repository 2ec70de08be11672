"""Invite links: a manager makes one (role, expiry, maximum uses) and may revoke it; a person
who opens it joins the project, signing up on the way if they have no account."""

import secrets
from datetime import datetime

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from labeling.models import AuditAction, Invite, Membership, Project
from labeling.services.audit import audit_record


class InviteRefused(ValueError):
    """Nobody joins; the message names the field to correct or says why the link is unusable."""


def invite_create(
    *,
    project: Project,
    actor: User | None,
    role: str,
    expires_at: datetime,
    max_uses: int | None,
) -> Invite:
    if role not in Membership.Role.values:
        raise InviteRefused(f"role: {role!r} is not a role")
    if expires_at <= timezone.now():
        raise InviteRefused("expires_at: the expiry must be in the future")
    if max_uses is not None and max_uses < 1:
        raise InviteRefused("max_uses: at least 1, or empty for no limit")
    with transaction.atomic():
        invite = Invite.objects.create(
            project=project, role=role, expires_at=expires_at, max_uses=max_uses, created_by=actor
        )
        audit_record(
            project=project,
            actor=actor,
            action=AuditAction.INVITE_CREATED,
            details={
                "invite": invite.pk,
                "role": role,
                "expires_at": expires_at.isoformat(),
                "max_uses": max_uses,
            },
        )
    return invite


def invite_revoke(*, invite: Invite, actor: User | None) -> Invite:
    with transaction.atomic():
        stored = Invite.objects.select_for_update(of=("self",)).select_related("project")
        invite = stored.get(pk=invite.pk)
        if invite.revoked_at is not None:
            return invite
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at"])
        audit_record(
            project=invite.project,
            actor=actor,
            action=AuditAction.INVITE_REVOKED,
            details={"invite": invite.pk, "role": invite.role},
        )
    return invite


def _new_user(*, username: str, password: str, display_name: str, role: str) -> User:
    users = get_user_model()
    if display_name and not username:
        # Annotator links only: a person known by a display name, with no password to log in
        # again elsewhere; the session that signed them up keeps them logged in.
        if role != Membership.Role.ANNOTATOR:
            raise InviteRefused("username: this link needs a username and a password")
        display_name = display_name.strip()[:150]
        base = slugify(display_name)[:30] or "annotator"
        user = users(username=f"{base}-{secrets.token_hex(3)}", first_name=display_name)
        user.set_unusable_password()
        user.save()
        return user
    username = username.strip()
    if not username:
        raise InviteRefused("username: required")
    if not password:
        raise InviteRefused("password: required")
    user = users(username=username)
    try:
        user.full_clean(exclude=["password"])
        password_validation.validate_password(password, user)
    except ValidationError as error:
        by_field = hasattr(error, "error_dict")
        fields = error.message_dict if by_field else {"password": error.messages}
        raise InviteRefused(
            "; ".join(f"{field}: {' '.join(texts)}" for field, texts in fields.items())
        ) from None
    user.set_password(password)
    user.save()
    return user


def invite_accept(
    *,
    invite: Invite,
    user: User | None = None,
    username: str = "",
    password: str = "",
    display_name: str = "",
) -> Membership:
    """Join the invite's project: as `user` (logged in already), or as a new account made from
    `username` and `password`, or (annotator links) from a `display_name` alone.

    Someone already a member keeps their membership and does not use the link up.
    """
    with transaction.atomic():
        invite = (
            Invite.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=invite.pk)
        )
        if user is not None:
            existing = Membership.objects.filter(project=invite.project, user=user).first()
            if existing is not None:
                return existing
        reason = invite.unusable_reason()
        if reason:
            raise InviteRefused(reason)
        if user is None:
            user = _new_user(
                username=username, password=password, display_name=display_name, role=invite.role
            )
        membership = Membership.objects.create(project=invite.project, user=user, role=invite.role)
        invite.uses += 1
        invite.save(update_fields=["uses"])
        audit_record(
            project=invite.project,
            actor=user,
            action=AuditAction.INVITE_ACCEPTED,
            details={"invite": invite.pk, "user": user.get_username(), "role": invite.role},
        )
    return membership
