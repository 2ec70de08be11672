"""Periodic training: enough new judgments since the last reward model → queue a reward run,
optionally followed (once it succeeds) by a DPO or PPO run of the current policy."""

import logging

from django.db import transaction
from django.utils import timezone

from labeling.models import Judgment, Project
from training.models import TrainingKind, TrainingRun, TrainingSchedule
from training.selectors import run_base_default, schedule_get
from training.services.runs import TrainingRefused, run_create

logger = logging.getLogger(__name__)


def schedule_set(*, project: Project, **fields: object) -> TrainingSchedule:
    """Create or change a project's schedule (enabled, min_new_judgments, ...)."""
    allowed = {f.name for f in TrainingSchedule._meta.concrete_fields} - {
        "id",
        "project",
        "last_checked_at",
        "last_message",
    }
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValueError(f"{unknown[0]}: not a schedule setting")
    schedule, _ = TrainingSchedule.objects.update_or_create(project=project, defaults=fields)
    return schedule


def new_judgments_count(*, project: Project) -> int:
    """Judgments the project's latest reward run (whatever became of it) has not seen.

    Counting from the latest run, failed or not, means a run that keeps failing is retried
    after N more judgments, not on every check.
    """
    last = (
        TrainingRun.objects.filter(project=project, kind=TrainingKind.REWARD)
        .select_related("snapshot")
        .order_by("-created_at", "-id")
        .first()
    )
    judgments = Judgment.objects.filter(project=project)
    snapshot = last.snapshot if last is not None else None  # a reward run always has one
    if snapshot is not None and snapshot.last_judgment_id is not None:
        judgments = judgments.filter(id__gt=snapshot.last_judgment_id)
    return judgments.count()


def _note(schedule: TrainingSchedule, message: str) -> None:
    TrainingSchedule.objects.filter(pk=schedule.pk).update(
        last_message=message, last_checked_at=timezone.now()
    )


def schedule_check_project(*, schedule: TrainingSchedule) -> TrainingRun | None:
    project = schedule.project
    busy = TrainingRun.objects.filter(
        project=project,
        kind=TrainingKind.REWARD,
        status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING],
    ).exists()
    if busy:
        _note(schedule, "A reward-model run is already queued or running.")
        return None
    new = new_judgments_count(project=project)
    if new < schedule.min_new_judgments:
        _note(schedule, f"{new} new judgments of {schedule.min_new_judgments} needed.")
        return None
    follow_up = "" if schedule.follow_up == TrainingSchedule.FollowUp.NONE else schedule.follow_up
    try:
        run = run_create(
            project=project,
            kind=TrainingKind.REWARD,
            base=run_base_default(project=project, kind=TrainingKind.REWARD) or "",
            config_values=schedule.reward_config,
            created_by=None,
            follow_up_kind=follow_up,
        )
    except TrainingRefused as error:
        _note(schedule, f"Could not queue a reward-model run: {error}")
        return None
    _note(schedule, f"{new} new judgments: queued reward-model run {run.pk}.")
    return run


def schedule_check() -> list[TrainingRun]:
    """Celery beat: check every enabled schedule; returns the runs queued."""
    queued = []
    schedules = TrainingSchedule.objects.filter(enabled=True, project__archived_at__isnull=True)
    for schedule in schedules.select_related("project"):
        with transaction.atomic():
            # One checker per project at a time, if beat ever runs twice.
            locked = (
                TrainingSchedule.objects.select_for_update(skip_locked=True)
                .select_related("project")
                .filter(pk=schedule.pk)
                .first()
            )
            if locked is None:
                continue
            run = schedule_check_project(schedule=locked)
        if run is not None:
            queued.append(run)
    return queued


def schedule_follow_up(*, run_id: int) -> TrainingRun | None:
    """After a scheduled reward run succeeded: train the current policy on the same snapshot.

    Does nothing for a run that did not succeed or has no follow-up.
    """
    run = (
        TrainingRun.objects.select_related("project", "snapshot", "artifact")
        .filter(pk=run_id, status=TrainingRun.Status.SUCCEEDED)
        .exclude(follow_up_kind="")
        .first()
    )
    if run is None:
        return None
    schedule = schedule_get(project=run.project)
    policy = run_base_default(project=run.project, kind=run.follow_up_kind)
    message: str
    follow_up_run = None
    if policy is None:
        message = (
            f"Run {run.pk} succeeded, but the project has no current policy and the "
            f"schedule names no policy base model: no {run.follow_up_kind} run queued."
        )
    else:
        try:
            follow_up_run = run_create(
                project=run.project,
                kind=run.follow_up_kind,
                base=policy,
                config_values=schedule.follow_up_config if schedule else {},
                snapshot=run.snapshot,
                created_by=None,
                reward_artifact=run.artifact if run.follow_up_kind == TrainingKind.PPO else None,
            )
            message = f"Run {run.pk} succeeded: queued {run.follow_up_kind} run {follow_up_run.pk}."
        except TrainingRefused as error:
            message = (
                f"Run {run.pk} succeeded, but its {run.follow_up_kind} run was refused: {error}"
            )
    logger.info(message)
    if schedule is not None:
        _note(schedule, message)
    return follow_up_run
