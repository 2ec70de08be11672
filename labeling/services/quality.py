"""Excluding annotators from exports and training snapshots by their quality
(labeling.selectors_quality), or one by one. Their judgments always stay stored."""

from django.db import transaction

from labeling.models import Membership, Project
from labeling.selectors_quality import annotators_below


def annotators_exclude_below(*, project: Project, threshold: float) -> list[str]:
    """Exclude from exports and training snapshots every annotator scoring below the
    threshold. Their judgments stay stored; returns the usernames newly excluded."""
    below = annotators_below(project=project, threshold=threshold)
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
    return names


def membership_set_excluded(*, project: Project, user_id: int, excluded: bool) -> bool:
    """Exclude one annotator, or take them back; False when they are not a member."""
    return bool(
        Membership.objects.filter(project=project, user_id=user_id).update(
            excluded_from_exports=excluded
        )
    )
