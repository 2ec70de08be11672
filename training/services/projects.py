"""What the training side does when a project is archived or deleted (labeling.signals; the
receivers are connected in training/apps.py)."""

import shutil
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from labeling.models import Project
from labeling.services.projects import ProjectRefused
from training.models import (
    DatasetSnapshot,
    ModelArtifact,
    Round,
    RoundStep,
    TrainingRun,
    data_dir,
)
from training.models_arena import Arena, ArenaContender


def runs_cancel_for_archive(
    *, project: Project, actor: User | None = None, **_signal: Any
) -> dict[str, Any]:
    """Cancel the project's queued runs, each with a note saying why; a running run finishes."""
    who = f" by {actor.get_username()}" if actor is not None else ""
    note = (
        f"Cancelled before it started: the project was archived{who} "
        f"on {timezone.now():%Y-%m-%d %H:%M} UTC."
    )
    cancelled = []
    for run in TrainingRun.objects.filter(project=project, status=TrainingRun.Status.QUEUED):
        if run.mark_cancelled(note):
            cancelled.append(run.pk)
    return {"runs_cancelled": cancelled} if cancelled else {}


def training_data_delete(*, project: Project, **_signal: Any) -> dict[str, Any]:
    """Delete the project's rounds, runs, models and snapshots, and their files once the
    deletion is committed. Refused while a run is running: its worker still writes."""
    runs = TrainingRun.objects.filter(project=project)
    running = list(runs.filter(status=TrainingRun.Status.RUNNING).values_list("pk", flat=True))
    if running:
        raise ProjectRefused(
            f"run {', '.join(map(str, running))} is running; cancel it or let it end, then delete"
        )
    elsewhere = (
        ArenaContender.objects.filter(artifact__project=project)
        .exclude(arena__project=project)
        .select_related("arena__project")
        .first()
    )
    if elsewhere is not None:
        raise ProjectRefused(
            f"artifact {elsewhere.artifact_id} is a contender in the arena of "
            f"{elsewhere.arena.project.slug}; remove it there first"
        )
    directories = [str(run.directory) for run in runs]
    directories += [str(s.directory) for s in DatasetSnapshot.objects.filter(project=project)]
    directories += [artifact.path for artifact in ModelArtifact.objects.filter(project=project)]
    # Rows that protect each other (a run its base artifact, an artifact its run) go in order.
    RoundStep.objects.filter(round__project=project).delete()
    Round.objects.filter(project=project).delete()
    runs.update(base_artifact=None, reward_artifact=None, base_model="(deleted)")
    Arena.objects.filter(project=project).delete()  # its contenders protect their artifacts
    ModelArtifact.objects.filter(project=project).delete()
    runs.delete()
    DatasetSnapshot.objects.filter(project=project).delete()
    root = data_dir().resolve()

    def remove_files() -> None:
        for directory in directories:
            path = Path(directory)
            if path.resolve().is_relative_to(root):  # never outside the data directory
                shutil.rmtree(path, ignore_errors=True)

    transaction.on_commit(remove_files)
    return {}
