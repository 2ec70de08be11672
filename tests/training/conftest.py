"""Fixtures for the training side: tiny offline models, judged projects, a real Celery worker."""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection

from labeling.models import Candidate, Pair, Project
from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from prefapp.run_dev import worker_command
from tests.factories import MembershipFactory, PromptFactory, UserFactory
from training.models import TrainingRun

REPO_ROOT = Path(__file__).resolve().parents[2]
GOOD = "I am glad to help: the answer is short, correct and polite."
BAD = "No."


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Llama policy and reward model (random weights, real tokenizer), built once."""
    from training.ml.tiny import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(autouse=True)
def temporary_model_roots(settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models built by the tests (tiny_models, fake_model_dir) live under pytest's temporary
    directory: that is the model root a base model may point into (PREFAPP_MODEL_ROOTS)."""
    root = tmp_path_factory.getbasetemp()
    settings.PREFAPP_MODEL_ROOTS = [str(root)]
    return root


@pytest.fixture
def data_dir(tmp_path: Path, settings) -> Path:
    settings.PREFAPP_DATA_DIR = tmp_path / "data"
    return settings.PREFAPP_DATA_DIR


def judge_pairs(project: Project, *, pairs: int, annotators: int = 1) -> int:
    """Make `pairs` pairs (a good and a bad answer each) and have annotators judge them all
    through the labeling services, picking the good answer; returns the judgments made."""
    for i in range(pairs):
        messages = [{"role": "user", "content": f"Question {i}: how are you?"}]
        prompt = PromptFactory(project=project, messages=messages)
        a = Candidate.objects.create(prompt=prompt, text=GOOD if i % 2 else BAD)
        b = Candidate.objects.create(prompt=prompt, text=BAD if i % 2 else GOOD)
        Pair.objects.create(project=project, prompt=prompt, candidate_a=a, candidate_b=b)
    made = 0
    for n in range(annotators):
        user = MembershipFactory(project=project, user=UserFactory(username=f"judge{n}")).user
        while (assignment := assignment_next(project=project, annotator=user)) is not None:
            side = "left" if assignment.left.text == GOOD else "right"
            judgment_record(project=project, assignment_id=assignment.pk, annotator=user, side=side)
            made += 1
    return made


def wait_for_run(
    run: TrainingRun, statuses: tuple[str, ...], *, timeout: float = 240, condition=None
) -> TrainingRun:
    """Poll until the run reaches one of `statuses` (or `condition(run)` holds)."""
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if run.status in statuses or (condition is not None and condition(run)):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run.pk} is {run.status} at step {run.step} after "
                f"{timeout}s; log tail:\n{run.log_tail}"
            )
        time.sleep(0.3)


def wait_until(predicate, *, timeout: float = 60, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.3)


def worker_database_url() -> str:
    parts = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture(scope="module")
def worker_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-data")


@contextlib.contextmanager
def worker_process(
    log_path: Path, *, database_url: str, data_dir: Path, model_roots: Path, **env: str
):
    """A real `celery worker` process on both queues against `database_url`; stopped at exit.
    `env` overrides its environment (e.g. REDIS_URL: another broker)."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PREFAPP_DATA_DIR": str(data_dir),
        "PREFAPP_MODEL_ROOTS": str(model_roots),
        "DB_CONN_MAX_AGE": "0",
        "PYTHONPATH": str(REPO_ROOT),
        **env,
    }
    nodename = f"train-test-{uuid.uuid4().hex[:8]}@%h"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            worker_command(
                "default,training",
                nodename,
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ),
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while " ready." not in log_path.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield worker
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def needs_worker_services() -> None:
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs DATABASE_URL (PostgreSQL) and REDIS_URL: the worker is another process")


@pytest.fixture(scope="module")
def celery_worker(
    django_db_setup,
    django_db_blocker,
    worker_data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    """A real `celery worker` process on both queues, against the test database and Redis.

    Module-scoped: starting one costs seconds. Tests that use it need `transactional_db`, so
    that what they write is committed and the worker sees it.
    """
    needs_worker_services()
    from prefapp.celery import app

    with django_db_blocker.unblock():
        database_url = worker_database_url()
    with app.connection_for_write() as broker:
        for queue in ("default", "training"):  # left by earlier sessions: runs long gone
            broker.default_channel.queue_purge(queue)
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with worker_process(
        log_path,
        database_url=database_url,
        data_dir=worker_data_dir,
        model_roots=tmp_path_factory.getbasetemp(),
    ) as worker:
        yield worker


@pytest.fixture
def worker_settings(settings, worker_data_dir: Path, tmp_path_factory) -> Path:
    """This test's settings agree with the worker's (the data directory, the model roots)."""
    settings.PREFAPP_DATA_DIR = worker_data_dir
    settings.PREFAPP_MODEL_ROOTS = [str(tmp_path_factory.getbasetemp())]
    return worker_data_dir
