"""The broker goes away and comes back: a run launched meanwhile is kept, then trained.

A Redis of the test's own, on a free port, is the broker of this process's Celery app and of a
worker; the test stops and starts it (the shared Redis is never touched).
"""

import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.urls import reverse

from tests.conftest import client_for
from tests.training.conftest import (
    judge_pairs,
    needs_worker_services,
    wait_for_run,
    worker_database_url,
    worker_process,
)
from tests.training.dashboard import run_form_data
from training.models import TrainingRun
from training.services.runs import runs_send_waiting

pytestmark = [
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

REWARD = {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64}


class OwnRedis:
    """A throw-away redis-server without persistence: stopped, it loses everything."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    own = OwnRedis(tmp_path_factory.mktemp("redis"))
    own.start()
    yield own
    own.stop()


@pytest.fixture(scope="module")
def broker_worker(django_db_setup, django_db_blocker, broker, worker_data_dir, tmp_path_factory):
    needs_worker_services()
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    with worker_process(
        tmp_path_factory.mktemp("worker") / "worker.log",
        database_url=database_url,
        data_dir=worker_data_dir,
        model_roots=tmp_path_factory.getbasetemp(),
        REDIS_URL=broker.url,
    ) as worker:
        yield worker


@pytest.fixture
def app_on_own_broker(broker):
    """This process sends its tasks to the test's Redis. The app keeps its producers in its
    `amqp` (a cached property): dropping it makes the next send connect to the new URL."""
    from prefapp.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = broker.url
    del app.amqp
    yield app
    app.conf.broker_url = previous
    del app.amqp


def test_it_keeps_a_run_launched_while_the_broker_is_down_and_sends_it_once_back(
    broker_worker, worker_settings, app_on_own_broker, broker, project, manager, tiny_models, caplog
):
    judge_pairs(project, pairs=4)
    broker.stop()

    response = client_for(manager).post(
        reverse("training_new", args=[project.slug, "reward"]),
        run_form_data("reward", str(tiny_models["policy"]), **REWARD),
    )

    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("training_run", args=[project.slug, run.pk])
    assert (run.status, run.sent_at) == ("queued", None)
    assert "the broker could not be reached" in caplog.text
    assert runs_send_waiting(now=run.created_at + timedelta(seconds=31)) == 0  # still down

    broker.start()  # empty: it lost whatever it held

    assert runs_send_waiting(now=run.created_at + timedelta(seconds=31)) == 1
    run = wait_for_run(run, ("succeeded", "failed", "cancelled"))
    assert run.status == "succeeded", run.error
    assert run.artifact.kind == "reward"
