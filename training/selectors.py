"""Reads of the training side. Nothing here writes."""

from django.db.models import QuerySet

from labeling.models import Project
from training.models import (
    DatasetSnapshot,
    MetricPoint,
    ModelArtifact,
    TrainingRun,
    TrainingSchedule,
)


def runs_for_project(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).select_related(
        "snapshot", "base_artifact", "reward_artifact", "created_by"
    )


def run_get(*, project: Project, run_id: int) -> TrainingRun | None:
    """The project's run, or None (an outsider's id or another project's run)."""
    return runs_for_project(project=project).filter(pk=run_id).first()


def run_metric_points(*, run: TrainingRun, after_id: int = 0) -> QuerySet[MetricPoint]:
    """Points after `after_id`, oldest first (the dashboard polls with the last id it saw)."""
    return MetricPoint.objects.filter(run=run, id__gt=after_id).order_by("id")


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
