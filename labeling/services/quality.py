"""Excluding annotators from exports and training snapshots by their quality
(labeling.selectors_quality), or one by one. Their judgments always stay stored."""

from collections.abc import Collection

from django.contrib.auth.models import User
from django.db import transaction

from labeling.models import AuditAction, Membership, Project
from labeling.selectors_quality import exclusion_preview
from labeling.services.audit import audit_record


class ExclusionRefused(Exception):
    """The exclusion would leave exports empty; the message says so."""


def annotators_exclude_below(
    *,
    project: Project,
    threshold: float,
    user_ids: Collection[int] | None = None,
    actor: User | None = None,
) -> list[str]:
    """Exclude from exports and training snapshots the annotators scoring below the
    threshold (only those of `user_ids` when given: the ones a manager confirmed, still
    below). Their judgments stay stored; returns the usernames newly excluded.

    Raises ExclusionRefused when the threshold would exclude every annotator
    (selectors_quality.exclusion_preview, the rule the confirmation page shows)."""
    preview = exclusion_preview(project=project, threshold=threshold)
    if preview.refused:
        raise ExclusionRefused(preview.refused)
    below = [a.user_id for a in preview.below if user_ids is None or a.user_id in user_ids]
    with transaction.atomic():
        memberships = (
            Membership.objects.select_for_update()
            .filter(project=project, user_id__in=below, excluded_from_exports=False)
            .select_related("user")
        )
        names = sorted(m.user.username for m in memberships)
        Membership.objects.filter(
            project=project, user_id__in=below, excluded_from_exports=False
        ).update(excluded_from_exports=True)
        if names:
            audit_record(
                project=project,
                actor=actor,
                action=AuditAction.ANNOTATORS_EXCLUDED,
                details={"annotators": names, "threshold": threshold},
            )
    return names


def membership_set_excluded(
    *, project: Project, user_id: int, excluded: bool, actor: User | None = None
) -> bool:
    """Exclude one annotator, or take them back; False when they are not a member."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(project=project, user_id=user_id)
            .first()
        )
        if membership is None:
            return False
        if membership.excluded_from_exports != excluded:
            membership.excluded_from_exports = excluded
            membership.save(update_fields=["excluded_from_exports"])
            audit_record(
                project=project,
                actor=actor,
                action=(
                    AuditAction.ANNOTATORS_EXCLUDED if excluded else AuditAction.ANNOTATOR_INCLUDED
                ),
                details={"annotators": [membership.user.get_username()]},
            )
    return True
