"""Snapshots and artifacts on an S3-compatible store: a real S3 server (moto's server mode,
started here on a free port), a worker "on another machine" (its own data directory) that
downloads the snapshot and uploads the artifact, and the web app's download reading the store."""

import io
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
from django.urls import reverse

from tests.conftest import client_for
from tests.training.conftest import judge_pairs, wait_for_run, worker_database_url, worker_process
from training import storage
from training.ml.artifact import ARTIFACT_FILE
from training.models import ModelArtifact
from training.services.runs import run_create

BUCKET = "prefapp-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server in a child process; yields its endpoint URL with the bucket made."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("moto's S3 server did not start")
            time.sleep(0.3)
    import s3fs

    s3fs.S3FileSystem(
        endpoint_url=endpoint, key="testing", secret="testing", skip_instance_cache=True
    ).mkdir(BUCKET)
    try:
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def store(s3_server, settings, monkeypatch, tmp_path):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.PREFAPP_STORAGE_URL = f"s3://{BUCKET}/{tmp_path.name}"
    settings.PREFAPP_STORAGE_ENDPOINT_URL = s3_server
    settings.PREFAPP_DATA_DIR = tmp_path / "web-data"
    return settings.PREFAPP_STORAGE_URL


def _directory(root: Path) -> Path:
    directory = root / "artifacts" / "run-1"
    (directory / "sub").mkdir(parents=True)
    (directory / "a.txt").write_text("a")
    (directory / "sub" / "b.txt").write_text("b")
    return directory


def test_it_shows_a_directory_on_the_store_only_once_its_upload_completed(
    store, settings, tmp_path
):
    directory = _directory(settings.PREFAPP_DATA_DIR)
    # What an upload cut short leaves: some files, no `.complete` (publish writes it last).
    filesystem, root = storage._store()
    filesystem.put_file(str(directory / "a.txt"), f"{root}/artifacts/run-1/a.txt")

    assert not storage.is_published(directory)
    settings.PREFAPP_DATA_DIR = tmp_path / "other-machine"
    with pytest.raises(storage.StorageMissing):
        storage.artifact_directory(str(directory))

    settings.PREFAPP_DATA_DIR = tmp_path / "web-data"
    storage.publish(directory)
    settings.PREFAPP_DATA_DIR = tmp_path / "other-machine"
    copy = storage.artifact_directory(str(directory))
    assert copy == tmp_path / "other-machine" / "artifacts" / "run-1"
    assert (copy / "a.txt").read_text() == "a" and (copy / "sub" / "b.txt").read_text() == "b"
    assert not (copy / storage.COMPLETE).exists()
    assert not list(copy.parent.glob(".run-1-*"))  # the download's staging directory is gone


@pytest.mark.training
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_trains_on_another_machine_through_the_store(
    store, settings, project, manager, tiny_models, tmp_path, tmp_path_factory, django_db_blocker
):
    from tests.training.conftest import needs_worker_services

    needs_worker_services()
    settings.PREFAPP_MODEL_ROOTS = [str(tmp_path_factory.getbasetemp())]
    worker_dir = tmp_path / "gpu-machine-data"
    judge_pairs(project, pairs=4)
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    with worker_process(
        tmp_path / "worker.log",
        database_url=database_url,
        data_dir=worker_dir,
        model_roots=tmp_path_factory.getbasetemp(),
        PREFAPP_STORAGE_URL=settings.PREFAPP_STORAGE_URL,
        PREFAPP_STORAGE_ENDPOINT_URL=settings.PREFAPP_STORAGE_ENDPOINT_URL,
        **CREDENTIALS,
    ):
        run = run_create(
            project=project,
            kind="reward",
            base=str(tiny_models["reward"]),
            config_values={"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 64},
            created_by=None,
        )
        run = wait_for_run(run, ("succeeded", "failed", "cancelled"))
    assert run.status == "succeeded", run.error

    # The worker downloaded the snapshot into its own data directory and trained there.
    assert (worker_dir / "snapshots" / str(run.snapshot_id) / "train.jsonl").is_file()
    artifact = ModelArtifact.objects.get(run=run)
    assert Path(artifact.path).parent.parent == worker_dir
    assert storage.is_published(
        Path(settings.PREFAPP_DATA_DIR) / "artifacts" / Path(artifact.path).name
    )
    # The web app has no copy until a download fetches it from the store.
    local = Path(settings.PREFAPP_DATA_DIR) / "artifacts" / Path(artifact.path).name
    assert not local.exists()
    response = client_for(manager).get(
        reverse("training_artifact_download", args=[project.slug, artifact.pk])
    )
    assert response.status_code == 200
    body = io.BytesIO(b"".join(response.streaming_content))
    with tarfile.open(fileobj=body, mode="r:gz") as archive:
        assert any(name.endswith(ARTIFACT_FILE) for name in archive.getnames())
    assert local.is_dir() and os.path.exists(local / "config.json")
