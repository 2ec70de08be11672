"""Helpers of the dashboard's view tests: runs, points and artifacts made directly, no worker."""

import hashlib
from pathlib import Path

from django.utils import timezone

from labeling.models import Project
from training.ml.artifact import artifact_kind
from training.ml.config import config_fields
from training.models import DatasetSnapshot, MetricPoint, ModelArtifact, TrainingRun


def make_snapshot(
    project: Project, *, train_rows: int = 8, eval_rows: int = 2, **fields
) -> DatasetSnapshot:
    digest = hashlib.sha256(f"{project.pk}-{train_rows}-{fields}".encode()).hexdigest()
    return DatasetSnapshot.objects.create(
        project=project, content_hash=digest, train_rows=train_rows, eval_rows=eval_rows, **fields
    )


def make_run(
    project: Project,
    *,
    kind: str = "reward",
    status: str = "queued",
    snapshot: DatasetSnapshot | None = None,
    **fields,
) -> TrainingRun:
    now = timezone.now()
    defaults = {"base_model": "/models/tiny", "config": {"learning_rate": 1e-5, "max_steps": 4}}
    if status != "queued":
        defaults["started_at"] = now - timezone.timedelta(seconds=30)
    if status in TrainingRun.FINISHED:
        defaults["finished_at"] = now
    defaults.update(fields)
    return TrainingRun.objects.create(
        project=project,
        kind=kind,
        status=status,
        snapshot=snapshot or make_snapshot(project),
        **defaults,
    )


def add_points(run: TrainingRun, names: tuple[str, ...], steps: range) -> list[MetricPoint]:
    return MetricPoint.objects.bulk_create(
        MetricPoint(run=run, step=step, name=name, value=1.0 / (step + 1))
        for step in steps
        for name in names
    )


def make_artifact(
    run: TrainingRun, path: Path, *, is_current: bool = False, metrics: dict | None = None
) -> ModelArtifact:
    return ModelArtifact.objects.create(
        project=run.project,
        run=run,
        kind=artifact_kind(run.kind),
        path=str(path),
        metrics=metrics or {"loss": 0.5, "accuracy": 0.75},
        is_current=is_current,
    )


def fake_model_dir(path: Path) -> Path:
    """Enough of a model directory for the base-model check (a config.json)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    return path


def run_form_data(kind: str, base: str, **config: object) -> dict[str, str]:
    """A new-run form as a browser posts it: a new snapshot, `base` typed as the base model, and
    every config field at its default unless given."""
    data = {
        f"config-{spec.name}": ("on" if spec.default is True else "")
        if spec.type is bool
        else ("" if spec.default is None else str(spec.default))
        for spec in config_fields(kind)
    }
    data.update({f"config-{name}": str(value) for name, value in config.items()})
    return {
        "snapshot": "new",
        "aggregate": "all",
        "eval_fraction": "0.1",
        "base_artifact": "",
        "base_model": base,
        **data,
    }
