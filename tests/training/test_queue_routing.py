"""Runs routed to worker pools (Celery queues), and a queued run's page saying whether any
worker serves its pool (asked of a real worker through Celery's remote control)."""

import pytest
from django.urls import reverse

from prefapp.celery import app
from tests.conftest import client_for
from tests.training.conftest import judge_pairs
from tests.training.dashboard import fake_model_dir
from training.models import TrainingRun
from training.selectors_workers import worker_queues
from training.services.runs import TrainingRefused, run_create, run_queue

pytestmark = pytest.mark.django_db


def test_it_takes_the_runs_pool_else_the_projects_else_the_kinds(project, settings):
    settings.PREFAPP_TRAINING_QUEUE_BY_KIND = {"dpo": "training-gpu"}
    settings.PREFAPP_TRAINING_QUEUE_BY_PROJECT = {}

    assert run_queue(project=project, kind="reward") == "training"
    assert run_queue(project=project, kind="dpo") == "training-gpu"
    settings.PREFAPP_TRAINING_QUEUE_BY_PROJECT = {project.slug: "training-big"}
    assert run_queue(project=project, kind="dpo") == "training-big"
    assert run_queue(project=project, kind="dpo", requested=" training-cpu ") == "training-cpu"


def test_it_refuses_a_pool_that_is_not_a_queue_name_and_writes_nothing(project, data_dir, tmp_path):
    judge_pairs(project, pairs=2)
    with pytest.raises(TrainingRefused, match="queue: 'gpu pool!' is not a queue name"):
        run_create(
            project=project,
            kind="reward",
            base=str(fake_model_dir(tmp_path / "base")),
            config_values={},
            created_by=None,
            queue="gpu pool!",
        )
    assert not TrainingRun.objects.exists()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_sends_a_run_to_its_pool_and_says_when_no_worker_serves_it(
    celery_worker, worker_settings, project, manager, settings, tiny_models
):
    settings.PREFAPP_WORKER_QUEUES_CACHE_SECONDS = 0  # ask the workers on every page
    judge_pairs(project, pairs=2)
    run = run_create(
        project=project,
        kind="reward",
        base=str(tiny_models["reward"]),
        config_values={"max_steps": 1},
        created_by=None,
        queue="training-gpu",
    )

    # The test's worker serves default and training: it answers, and not for training-gpu.
    queues = worker_queues()
    assert queues is not None and queues.get("training") and not queues.get("training-gpu")
    page = client_for(manager).get(reverse("training_run", args=[project.slug, run.pk]))
    assert "No worker serves the pool <code>training-gpu</code>" in page.content.decode()
    run.refresh_from_db()
    assert run.status == "queued" and run.sent_at is not None
    with app.connection_for_write() as broker:  # the message waits in that pool's queue
        assert broker.default_channel.queue_purge("training-gpu") == 1
