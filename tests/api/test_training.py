"""Training through the API: create (the service's checks and words), list, read, metrics
since a point, cancel; artifacts: list, read, make current, download."""

import io
import tarfile

from tests.factories import make_pairs
from tests.training.dashboard import add_points, fake_model_dir, make_artifact, make_run
from training.models import TrainingRun

JSON = "application/json"


def _judge(project, client, count):
    make_pairs(project, count)
    base = f"/api/v1/projects/{project.slug}/labelling"
    for _ in range(count):
        lease = client.post(f"{base}/next").json()["lease"]
        client.post(
            f"{base}/submit",
            {"assignment_id": lease["assignment_id"], "side": "left"},
            content_type=JSON,
        )


def test_it_creates_runs_with_the_services_checks(
    project, manager_api, annotator_api, settings, tmp_path
):
    settings.PREFAPP_MODEL_ROOTS = [str(tmp_path)]
    settings.PREFAPP_DATA_DIR = tmp_path / "data"
    model = fake_model_dir(tmp_path / "base")
    url = f"/api/v1/projects/{project.slug}/runs"
    _judge(project, annotator_api, 4)
    bad = manager_api.post(
        url,
        {"kind": "reward", "base": str(model), "config": {"learning_rate": -1}},
        content_type=JSON,
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "config"
    assert "learning_rate" in bad.json()["error"]["message"]
    outside = manager_api.post(url, {"kind": "reward", "base": "/etc"}, content_type=JSON)
    assert outside.status_code == 400 and outside.json()["error"]["field"] == "base"
    assert not TrainingRun.objects.exists()

    made = manager_api.post(url, {"kind": "reward", "base": str(model)}, content_type=JSON)
    assert made.status_code == 201, made.content
    run = made.json()
    assert run["status"] == "queued" and run["snapshot_id"] is not None
    assert manager_api.get(url).json()["results"][0]["id"] == run["id"]
    unknown = manager_api.get(f"{url}?kind=sft%00")
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "kind"
    cancelled = manager_api.post(f"{url}/{run['id']}/cancel").json()
    assert cancelled == {"cancelled": True, "status": "cancelled"}
    assert manager_api.get(f"{url}/{run['id']}").json()["status"] == "cancelled"


def test_it_streams_metrics_since_a_point(project, manager_api):
    run = make_run(project, status="running")
    points = add_points(run, ("loss",), range(3))
    url = f"/api/v1/projects/{project.slug}/runs/{run.pk}/metrics"
    first = manager_api.get(url).json()
    assert [p["step"] for p in first["points"]] == [0, 1, 2]
    assert first["last_point_id"] == points[-1].pk
    add_points(run, ("loss",), range(3, 4))
    later = manager_api.get(f"{url}?after={first['last_point_id']}").json()
    assert [p["step"] for p in later["points"]] == [3]


def test_it_lists_makes_current_and_downloads_artifacts(project, manager_api, tmp_path):
    model = fake_model_dir(tmp_path / "m")
    old = make_artifact(make_run(project, status="succeeded"), model, is_current=True)
    new = make_artifact(make_run(project, status="succeeded"), model, metrics={"acc": 0.7})
    url = f"/api/v1/projects/{project.slug}/artifacts"
    assert [a["id"] for a in manager_api.get(url).json()["results"]] == [new.pk, old.pk]
    assert manager_api.get(f"{url}/{new.pk}").json()["metrics"] == {"acc": 0.7}
    assert manager_api.post(f"{url}/{new.pk}/make-current").json()["is_current"] is True
    old.refresh_from_db()
    assert old.is_current is False
    download = manager_api.get(f"{url}/{new.pk}/download")
    with tarfile.open(fileobj=io.BytesIO(b"".join(download.streaming_content))) as archive:
        assert any(name.endswith("config.json") for name in archive.getnames())
