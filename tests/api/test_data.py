"""Import (inline and as a job), streamed exports and raw judgments since a cursor."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from api.models import ImportJob
from api.services.imports import import_job_run
from labeling.models import Pair, Prompt
from tests.labeling.test_views_import_upload import ROWS

JSON = "application/json"


def _label(project, annotator_api, count):
    base = f"/api/v1/projects/{project.slug}/labelling"
    for _ in range(count):
        lease = annotator_api.post(f"{base}/next").json()["lease"]
        annotator_api.post(
            f"{base}/submit",
            {"assignment_id": lease["assignment_id"], "side": "left"},
            content_type=JSON,
        )


def test_it_imports_rows_once_and_refuses_bad_ones_with_line_and_field(project, manager_api):
    url = f"/api/v1/projects/{project.slug}/imports/rows"
    done = manager_api.post(url, {"format": "candidates", "rows": ROWS}, content_type=JSON)
    assert done.status_code == 200, done.content
    assert done.json()["counts"]["prompts"] == 2 and Pair.objects.count() == 4
    again = manager_api.post(url, {"format": "candidates", "rows": ROWS}, content_type=JSON)
    assert again.json()["counts"]["skipped_existing"] == 2 and Prompt.objects.count() == 2
    bad = [*ROWS, {"id": "q3", "prompt": "Hi", "responses": []}]
    refused = manager_api.post(url, {"format": "candidates", "rows": bad}, content_type=JSON)
    error = refused.json()["error"]
    assert refused.status_code == 400 and error["line"] == 3 and error["errors"]
    assert Prompt.objects.count() == 2


def test_it_runs_a_large_upload_as_a_job(project, manager_api, settings):
    settings.PREFAPP_API_IMPORT_INLINE_BYTES = 10
    text = "".join(json.dumps(row) + "\n" for row in ROWS).encode()
    upload = SimpleUploadedFile("rows.jsonl", text, content_type="application/jsonl")
    url = f"/api/v1/projects/{project.slug}/imports"
    queued = manager_api.post(url, {"file": upload, "format": "candidates"})
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    job_id = queued.json()["job_id"]
    import_job_run(job_id=job_id)  # what the default worker's task calls
    status = manager_api.get(f"{url}/{job_id}").json()
    assert status["status"] == "succeeded" and status["counts"]["pairs"] == 4
    assert ImportJob.objects.get(pk=job_id).finished_at is not None


def test_it_streams_exports_and_pulls_judgments_incrementally(project, manager_api, annotator_api):
    from tests.factories import make_pairs

    make_pairs(project, 3)
    _label(project, annotator_api, 2)
    base = f"/api/v1/projects/{project.slug}"
    export = manager_api.get(f"{base}/export?kind=trl&file_format=jsonl")
    assert export.status_code == 200 and export["Content-Disposition"].endswith('.jsonl"')
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert len(lines) == 2 and "chosen" in json.loads(lines[0])
    empty = manager_api.get(f"{base}/export?file_format=hf&since=2000-01-01&until=2000-01-01")
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "empty"
    refused = manager_api.get(f"{base}/export?min_agreement=2")
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "min_agreement"

    first = manager_api.get(f"{base}/judgments?page_size=1").json()
    assert len(first["results"]) == 1 and first["next"]
    second = manager_api.get(first["next"]).json()
    assert second["results"][0]["judgment_id"] > first["results"][0]["judgment_id"]
    _label(project, annotator_api, 1)
    newer = manager_api.get(f"{base}/judgments?since={second['since']}").json()
    assert len(newer["results"]) == 1 and newer["next"] is None
    assert newer["results"][0]["annotator"] != "annotator"  # the export's pseudonym
