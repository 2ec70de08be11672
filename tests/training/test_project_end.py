"""A project's archive cancels its queued runs; its deletion removes runs, models and files."""

import pytest

from labeling.models import AuditEvent
from labeling.services.projects import ProjectRefused, project_archive, project_delete
from tests.training.conftest import judge_pairs
from training.models import DatasetSnapshot, ModelArtifact, TrainingRun
from training.models_arena import Arena, ArenaContender
from training.services.artifacts import artifact_make_current
from training.services.runs import TrainingRefused, run_cancel, run_create

pytestmark = pytest.mark.django_db


def _run(project, status=TrainingRun.Status.QUEUED, **fields):
    fields = {"kind": "generate", "base_model": "org/model"} | fields
    return TrainingRun.objects.create(project=project, status=status, **fields)


def test_it_cancels_queued_runs_with_a_note_when_the_project_is_archived(project, manager):
    queued, running = _run(project), _run(project, TrainingRun.Status.RUNNING)

    project_archive(project=project, actor=manager)

    queued.refresh_from_db()
    assert queued.status == TrainingRun.Status.CANCELLED
    assert "the project was archived by manager" in queued.error
    assert TrainingRun.objects.get(pk=running.pk).status == TrainingRun.Status.RUNNING
    event = AuditEvent.objects.get(action="project_archived")
    assert event.details["runs_cancelled"] == [queued.pk]
    with pytest.raises(TrainingRefused, match="project: the project is archived"):
        run_create(
            project=project, kind="generate", base="org/m", config_values={}, created_by=None
        )


def test_it_audits_a_managers_cancel_and_choice_of_current_model(project, manager, data_dir):
    run = _run(project)
    assert run_cancel(run=run, actor=manager)
    done = _run(project, TrainingRun.Status.SUCCEEDED)
    artifact = ModelArtifact.objects.create(project=project, run=done, kind="policy", path="x")
    artifact_make_current(artifact=artifact, actor=manager)
    actions = list(AuditEvent.objects.values_list("action", "details__run"))
    assert sorted(actions) == [("model_made_current", done.pk), ("run_cancelled", run.pk)]


def test_it_deletes_the_training_side_with_the_project(
    project, manager, data_dir, django_capture_on_commit_callbacks
):
    judge_pairs(project, pairs=2)
    snapshot = DatasetSnapshot.objects.create(
        project=project, content_hash="0" * 64, train_rows=2, eval_rows=0
    )
    first = _run(project, TrainingRun.Status.SUCCEEDED, snapshot=snapshot)
    model = data_dir / "artifacts" / f"run-{first.pk}"
    model.mkdir(parents=True)
    artifact = ModelArtifact.objects.create(project=project, run=first, kind="policy", path=model)
    second = _run(project, TrainingRun.Status.RUNNING, base_artifact=artifact, base_model="")
    arena = Arena.objects.create(project=project)
    ArenaContender.objects.create(arena=arena, name="first", kind="artifact", artifact=artifact)

    with pytest.raises(ProjectRefused, match=f"run {second.pk} is running"):
        project_delete(project=project, actor=manager, confirm_slug=project.slug)
    second.mark_cancelled()
    with django_capture_on_commit_callbacks(execute=True):
        removed = project_delete(project=project, actor=manager, confirm_slug=project.slug)

    assert removed["training runs"] == 2 and removed["model artifacts"] == 1
    assert not TrainingRun.objects.exists() and not DatasetSnapshot.objects.exists()
    assert not model.exists()
