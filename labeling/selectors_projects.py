"""Reads for the project's own pages: members, invite links, the audit log, what a deletion
removes, and finding a user to add. Nothing here writes."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import CASCADE, Count, ManyToOneRel, Max, Q
from django.utils import timezone

from labeling.models import Assignment, AuditEvent, Invite, Judgment, Membership, Pair, Project
from labeling.selectors import judgment_target


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    judgments: int
    live_leases: int
    last_active: datetime | None
    # Judgments toward the per-annotator cap if the project has one, else toward the pairs.
    target: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.judgments / self.target)) if self.target else 0


def members_table(*, project: Project) -> list[MemberRow]:
    """Every member, those with no judgment yet included, with their work and last activity."""
    memberships = (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("-role", "user__username")
    )
    judged: dict[int, Any] = {
        row["annotator"]: row
        for row in Judgment.objects.filter(project=project, annotator__isnull=False)
        .values("annotator")
        .annotate(n=Count("id"), last=Max("created_at"))
    }
    now = timezone.now()
    leased: dict[int, Any] = {
        row["annotator"]: row
        for row in Assignment.objects.filter(project=project)
        .values("annotator")
        .annotate(
            last=Max("created_at"),
            live=Count("id", filter=Q(status=Assignment.Status.LEASED, expires_at__gt=now)),
        )
    }
    pairs = Pair.objects.filter(project=project, is_gold=False).count()
    rows = []
    for membership in memberships:
        # The annotator's own N (the one rule in labeling/selectors.py), else all the pairs.
        target = judgment_target(project=project, annotator=membership.user) or pairs
        judgments, leases = judged.get(membership.user_id, {}), leased.get(membership.user_id, {})
        times = [t for t in (judgments.get("last"), leases.get("last")) if t is not None]
        rows.append(
            MemberRow(
                membership=membership,
                judgments=judgments.get("n", 0),
                live_leases=leases.get("live", 0),
                last_active=max(times) if times else None,
                target=target,
            )
        )
    return rows


def membership_in(*, project: Project, membership_id: int) -> Membership | None:
    """One of this project's memberships (another project's is never found)."""
    return (
        Membership.objects.filter(project=project, pk=membership_id).select_related("user").first()
    )


def user_find(*, identifier: str) -> User | None:
    """The user with this username, or with this e-mail address if exactly one has it."""
    identifier = identifier.strip()
    if not identifier:
        return None
    users = get_user_model().objects
    user = users.filter(username__iexact=identifier).first()
    if user is not None or "@" not in identifier:
        return user
    matches = list(users.filter(email__iexact=identifier)[:2])
    return matches[0] if len(matches) == 1 else None


def invites_of(*, project: Project) -> list[Invite]:
    return list(Invite.objects.filter(project=project).select_related("created_by"))


def invite_in(*, project: Project, invite_id: int) -> Invite | None:
    return Invite.objects.filter(project=project, pk=invite_id).first()


def invite_by_token(*, token: str) -> Invite | None:
    return Invite.objects.filter(token=token).select_related("project").first()


def audit_events(*, project: Project, limit: int = 500) -> list[AuditEvent]:
    """The project's audit log, newest first."""
    return list(AuditEvent.objects.filter(project=project)[:limit])


def project_contents(*, project: Project) -> dict[str, int]:
    """What deleting the project removes: rows per kind (any app's models that belong to it),
    by their plural names. The audit log is kept and not counted."""
    contents: dict[str, int] = {}
    for relation in Project._meta.get_fields():
        if not isinstance(relation, ManyToOneRel) or relation.on_delete is not CASCADE:
            continue
        model = relation.related_model
        if model is AuditEvent or not isinstance(model, type):
            continue
        count = model._default_manager.filter(**{relation.field.name: project}).count()
        if count:
            contents[str(model._meta.verbose_name_plural)] = count
    return contents
