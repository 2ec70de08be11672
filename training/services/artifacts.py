"""Registering trained models and choosing the current one per project and kind."""

from typing import Any

from django.db import IntegrityError, transaction

from labeling.models import AuditAction
from labeling.services.audit import audit_record
from training.ml.artifact import artifact_kind
from training.models import ModelArtifact, TrainingRun


def artifact_register(*, run: TrainingRun, metrics: dict) -> ModelArtifact:
    """Record the run's output directory as an artifact; the project's first of a kind is current.

    The caller holds a transaction (the run's success and its artifact are one fact).
    """
    kind = artifact_kind(run.kind)
    fields = dict(
        project_id=run.project_id, run=run, kind=kind, path=str(run.output_dir), metrics=metrics
    )
    if not ModelArtifact.objects.filter(
        project_id=run.project_id, kind=kind, is_current=True
    ).exists():
        try:
            with transaction.atomic():  # a savepoint: two first artifacts may race for current
                return ModelArtifact.objects.create(**fields, is_current=True)
        except IntegrityError:
            pass
    return ModelArtifact.objects.create(**fields, is_current=False)


def artifact_make_current(*, artifact: ModelArtifact, actor: Any = None) -> ModelArtifact:
    """Make the artifact its project's current model of its kind; a person's choice (`actor`)
    is audited, the loop's is not."""
    with transaction.atomic():
        # Lock the project's artifacts of this kind so two managers cannot both win.
        list(
            ModelArtifact.objects.select_for_update().filter(
                project_id=artifact.project_id, kind=artifact.kind
            )
        )
        ModelArtifact.objects.filter(
            project_id=artifact.project_id, kind=artifact.kind, is_current=True
        ).exclude(pk=artifact.pk).update(is_current=False)
        ModelArtifact.objects.filter(pk=artifact.pk).update(is_current=True)
        if actor is not None:
            audit_record(
                project=artifact.project,
                actor=actor,
                action=AuditAction.MODEL_MADE_CURRENT,
                details={"artifact": artifact.pk, "kind": artifact.kind, "run": artifact.run_id},
            )
    artifact.is_current = True
    return artifact
