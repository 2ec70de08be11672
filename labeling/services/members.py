"""Adding people to a project, changing their role, removing them. Every change is audited."""

from django.contrib.auth.models import User
from django.db import transaction

from labeling.models import AuditAction, Membership, Project
from labeling.services.assignment import leases_release
from labeling.services.audit import audit_record


class MembershipRefused(ValueError):
    """The change is not made; the message says why."""


def _roles_check(role: str) -> str:
    if role not in Membership.Role.values:
        raise MembershipRefused(
            f"role: {role!r} is not a role; expected one of {', '.join(Membership.Role.values)}"
        )
    return role


def _last_manager_check(membership: Membership) -> None:
    """A project keeps at least one manager: nobody else could manage it from the browser."""
    if not membership.is_manager:
        return
    others = (
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Membership.Role.MANAGER)
        .exclude(pk=membership.pk)
    )
    if not list(others):
        raise MembershipRefused(
            f"{membership.user.get_username()} is the project's only manager; "
            "make someone else a manager first"
        )


def membership_add(*, project: Project, actor: User | None, user: User, role: str) -> Membership:
    _roles_check(role)
    with transaction.atomic():
        if Membership.objects.filter(project=project, user=user).exists():
            raise MembershipRefused(f"{user.get_username()} is already a member of this project")
        membership = Membership.objects.create(project=project, user=user, role=role)
        audit_record(
            project=project,
            actor=actor,
            action=AuditAction.MEMBER_ADDED,
            details={"user": user.get_username(), "role": role},
        )
    return membership


def membership_role_change(*, membership: Membership, actor: User | None, role: str) -> Membership:
    _roles_check(role)
    with transaction.atomic():
        stored = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("user", "project")
            .get(pk=membership.pk)
        )
        if stored.role == role:
            return stored
        if role != Membership.Role.MANAGER:
            _last_manager_check(stored)
        old, stored.role = stored.role, role
        stored.save(update_fields=["role"])
        audit_record(
            project=stored.project,
            actor=actor,
            action=AuditAction.MEMBER_ROLE_CHANGED,
            details={"user": stored.user.get_username(), "from": old, "to": role},
        )
    return stored


def membership_remove(*, membership: Membership, actor: User | None) -> int:
    """Remove the member; their live leases end at once and their judgments stay stored.

    Returns how many leases were released.
    """
    with transaction.atomic():
        stored = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("user", "project")
            .get(pk=membership.pk)
        )
        _last_manager_check(stored)
        stored.delete()
        released = leases_release(project=stored.project, annotator=stored.user)
        audit_record(
            project=stored.project,
            actor=actor,
            action=AuditAction.MEMBER_REMOVED,
            details={
                "user": stored.user.get_username(),
                "role": stored.role,
                "leases_released": released,
            },
        )
    return released
