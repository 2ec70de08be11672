"""Reads: progress, work lists and preference rows. Nothing here writes."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Q, QuerySet, Sum, Value
from django.db.models.functions import Least
from django.utils import timezone

from labeling import sql
from labeling.models import (
    Assignment,
    Choice,
    Judgment,
    Membership,
    Pair,
    Participant,
    Project,
)

# Preference rows live with the other export reads; importable from here as before.
from labeling.selectors_export import (  # noqa: F401
    exclusions_empty_exports,
    preference_row,
    preference_rows,
)


def membership_get(*, user: User | AnonymousUser, project_slug: str) -> Membership | None:
    if not user.is_authenticated:
        return None
    # Every labelling request asks this first: one plain query for membership and project.
    membership = sql.membership_with_project(user_id=user.pk, project_slug=project_slug)
    if membership is not None and membership.project.is_archived and not membership.is_manager:
        return None  # an archived project is its managers' alone
    return membership


@dataclass(frozen=True)
class ProjectProgress:
    pairs: int  # ordinary pairs (gold pairs check annotators; they are not the work)
    overlap: int  # judgments wanted per pair
    done: int  # pairs with `overlap` judgments
    started: int  # pairs with a judgment or a lease, short of `overlap` judgments
    not_started: int  # pairs nobody has judged or leased yet
    judgments: int  # every judgment of the project, gold pairs' and imported ones included
    counted: int  # judgments toward the target: each pair's, up to `overlap`
    live_leases: int  # pairs someone is judging now

    @property
    def wanted(self) -> int:
        """Judgments the project wants: `overlap` on every ordinary pair."""
        return self.pairs * self.overlap

    @property
    def percent(self) -> int:
        """Share of the wanted judgments made (41 of 84 is 49 %, even with no pair done)."""
        return min(100, round(100 * self.counted / self.wanted)) if self.wanted else 0


def project_progress(*, project: Project) -> ProjectProgress:
    ordinary = Pair.objects.filter(project=project, is_gold=False)
    counts = ordinary.aggregate(
        pairs=Count("id"),
        done=Count("id", filter=Q(judgment_count__gte=project.overlap)),
        started=Count("id", filter=Q(taken__gt=0) | Q(judgment_count__gt=0)),
        counted=Sum(Least("judgment_count", Value(project.overlap))),
    )
    return ProjectProgress(
        pairs=counts["pairs"],
        overlap=project.overlap,
        done=counts["done"],
        started=counts["started"] - counts["done"],
        not_started=counts["pairs"] - counts["started"],
        judgments=Judgment.objects.filter(project=project).count(),
        counted=counts["counted"] or 0,
        live_leases=live_leases_count(project=project),
    )


@dataclass(frozen=True)
class MyProject:
    membership: Membership
    judged: int


def projects_for_user(*, user: User) -> list[MyProject]:
    """The user's projects; archived ones only where they manage them."""
    memberships = (
        Membership.objects.filter(user=user)
        .exclude(project__archived_at__isnull=False, role=Membership.Role.ANNOTATOR)
        .select_related("project")
    )
    judged = dict(
        Judgment.objects.filter(annotator=user)
        .values_list("project")
        .annotate(n=Count("id"))
        .values_list("project", "n")
    )
    return [MyProject(membership=m, judged=judged.get(m.project_id, 0)) for m in memberships]


def assignment_of(*, assignment_id: int, annotator: User, project: Project) -> Assignment | None:
    """The annotator's own assignment in this project, or None (someone else's is never found)."""
    return Assignment.objects.filter(pk=assignment_id, annotator=annotator, project=project).first()


def judged_count(*, project: Project, annotator: User) -> int:
    """How many pairs this annotator has judged in the project (their own progress only)."""
    return sql.judged_count(project_id=project.pk, annotator_id=annotator.pk)


def judgment_target(*, project: Project, annotator: User) -> int | None:
    """How many judgments this annotator is asked for in the project; None: no limit.

    The project's cap, and for a crowd participant their batch (the smaller of the two), so
    that the page's "k of N", the lease rule below and the participant's stop rule
    (labeling/services/participants.py) read the same N.
    """
    limits = (project.judgments_per_annotator, participant_batch_size(project, annotator))
    known = [n for n in limits if n is not None]
    return min(known) if known else None


def participant_batch_size(project: Project, annotator: User) -> int | None:
    """A crowd participant's batch in the project; None for anyone else. Participants' accounts
    have no password (labeling/services/participants.py), so for a user with one, the label
    page's every request, nothing more is asked of the database."""
    if annotator.has_usable_password():
        return None
    return (
        Participant.objects.filter(project=project, user_id=annotator.pk)
        .values_list("project__crowd_study__batch_size", flat=True)
        .first()
    )


def judgments_left(*, project: Project, annotator: User, judged: int | None = None) -> int | None:
    """How many more judgments this annotator may give in the project; None: no limit.

    The one rule that `assignment_next` enforces (no new lease at 0) and the page shows.
    `judged`: the annotator's count when the caller already has it (one query less).
    """
    target = judgment_target(project=project, annotator=annotator)
    if target is None:
        return None
    if judged is None:
        judged = judged_count(project=project, annotator=annotator)
    return max(target - judged, 0)


def open_pairs_count(*, project: Project) -> int:
    """Ordinary pairs that still want judgments (the queue's partial index)."""
    return Pair.objects.filter(project=project, is_gold=False, is_full=False).count()


def judgments_of_annotator(*, project: Project, annotator: User) -> QuerySet[Judgment]:
    """One annotator's own judgments in the project, newest first (their "my judgments" page)."""
    return (
        Judgment.objects.filter(project=project, annotator=annotator)
        .select_related("pair__prompt")
        .order_by("-created_at", "-id")
    )


def judgments_per_annotator(*, project: Project) -> QuerySet:
    return (
        Judgment.objects.filter(project=project, annotator__isnull=False)
        .values("annotator__username")
        .annotate(
            judgments=Count("id"),
            ties=Count("id", filter=Q(choice=Choice.TIE)),
            both_bad=Count("id", filter=Q(choice=Choice.BOTH_BAD)),
        )
        .order_by("-judgments")
    )


def project_annotator_names(*, project: Project) -> list[str]:
    """Whom an export can be filtered by: every member, since managers label too."""
    return sorted(
        Membership.objects.filter(project=project).values_list("user__username", flat=True)
    )


@dataclass(frozen=True)
class ManageCounters:
    """What the manage page counts, refreshed by itself (templates/labeling/partials/_progress)."""

    progress: ProjectProgress
    annotators: list[dict]
    excluded_only: int  # judgments exclusions leave out when exports have nothing else


def manage_counters(*, project: Project) -> ManageCounters:
    return ManageCounters(
        progress=project_progress(project=project),
        annotators=list(judgments_per_annotator(project=project)),
        excluded_only=exclusions_empty_exports(project=project),
    )


def live_leases_count(*, project: Project) -> int:
    return Assignment.objects.filter(
        project=project, status=Assignment.Status.LEASED, expires_at__gt=timezone.now()
    ).count()


def judgment_sides(*, judgment: Judgment) -> dict[str, str]:
    """Which sources (models) wrote the answers an annotator saw left and right: what a
    project that reveals sources shows after the vote."""
    pair = Pair.objects.select_related("candidate_a", "candidate_b").get(pk=judgment.pair_id)
    a, b = pair.candidate_a.source, pair.candidate_b.source
    left_is_a = judgment.left_is_a is not False
    return {"left": a if left_is_a else b, "right": b if left_is_a else a}
