"""Reads of the training side. Nothing here writes."""

from django.db.models import QuerySet

from labeling.models import Project
from training.models import (
    DatasetSnapshot,
    MetricPoint,
    ModelArtifact,
    TrainingKind,
    TrainingRun,
    TrainingSchedule,
)


def runs_for_project(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).select_related(
        "snapshot", "base_artifact", "reward_artifact", "created_by"
    )


def run_metric_series(*, run: TrainingRun) -> dict[str, list[tuple[int, float]]]:
    """{metric name: [(step, value), ...]} of the whole run."""
    series: dict[str, list[tuple[int, float]]] = {}
    for name, step, value in (
        MetricPoint.objects.filter(run=run).order_by("id").values_list("name", "step", "value")
    ):
        series.setdefault(name, []).append((step, value))
    return series


def artifacts_for_project(*, project: Project, kind: str | None = None) -> QuerySet[ModelArtifact]:
    artifacts = ModelArtifact.objects.filter(project=project).select_related("run")
    return artifacts.filter(kind=kind) if kind else artifacts


def artifact_current(*, project: Project, kind: str) -> ModelArtifact | None:
    return ModelArtifact.objects.filter(project=project, kind=kind, is_current=True).first()


def snapshots_for_project(*, project: Project) -> QuerySet[DatasetSnapshot]:
    return DatasetSnapshot.objects.filter(project=project)


def schedule_get(*, project: Project) -> TrainingSchedule | None:
    return TrainingSchedule.objects.filter(project=project).first()


def run_base_default(*, project: Project, kind: str) -> str | ModelArtifact | None:
    """What a new run of `kind` starts from unless told otherwise: a reward model from the
    schedule's reward base model; a scoring run is the current reward model; any other kind
    from the current policy, else the schedule's policy base model. None when the project
    names none. (The dashboard's form, the `train` command and the schedule all ask here.)"""
    if kind == TrainingKind.SCORE:  # the reward model that scores the pairs
        return artifact_current(project=project, kind=ModelArtifact.Kind.REWARD)
    schedule = schedule_get(project=project)
    if kind == TrainingKind.REWARD:
        return schedule.reward_base_model if schedule and schedule.reward_base_model else None
    current = artifact_current(project=project, kind=ModelArtifact.Kind.POLICY)
    if current is not None:
        return current
    return schedule.policy_base_model if schedule and schedule.policy_base_model else None
