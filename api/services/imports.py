"""Imports sent through the API: small ones at once, large ones as a job on the default worker.

Both go through labeling.services.importing.data_import, which validates the whole file before
writing anything (all rows or none, errors with line and field) and skips rows whose id is
already there, so sending the same file twice imports it once.
"""

import shutil
import uuid
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from api.models import ImportJob
from labeling.formats.records import RowError
from labeling.models import Project
from labeling.services.importing import ImportFailed, ImportResult, data_import, import_summary


def import_counts(result: ImportResult) -> dict[str, int]:
    return {
        "prompts": result.prompts,
        "candidates": result.candidates,
        "pairs": result.pairs,
        "judgments": result.judgments,
        "gold_pairs": result.gold_pairs,
        "skipped_existing": result.skipped_existing,
    }


def row_errors(errors: list[RowError]) -> list[dict[str, Any]]:
    return [{"line": e.line or None, "field": e.field or None, "message": str(e)} for e in errors]


def _jobs_dir() -> Path:
    path = Path(settings.PREFAPP_DATA_DIR) / "api-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_job_create(
    *,
    project: Project,
    user: User,
    fileobj: IO[bytes],
    filename: str,
    format: str,
    skip_invalid: bool = False,
    as_gold: bool = False,
) -> ImportJob:
    """Keep the upload and queue its import on the default worker (after the commit)."""
    from api.tasks import run_import_job

    path = _jobs_dir() / f"{uuid.uuid4().hex}-{Path(filename).name}"
    with path.open("wb") as out:
        shutil.copyfileobj(fileobj, out)
    with transaction.atomic():
        job = ImportJob.objects.create(
            project=project,
            created_by=user,
            filename=filename,
            format=format,
            skip_invalid=skip_invalid,
            as_gold=as_gold,
            path=str(path),
        )
        transaction.on_commit(lambda: run_import_job.delay(job.pk))
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued import; a second delivery of the same job does nothing."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING
    )
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if not claimed:
        return job
    path = Path(job.path)
    try:
        with path.open("rb") as fileobj:
            result = data_import(
                project=job.project,
                fileobj=fileobj,
                filename=job.filename,
                format=job.format,
                skip_invalid=job.skip_invalid,
                as_gold=job.as_gold,
            )
    except ImportFailed as failed:
        job.status, job.errors = ImportJob.Status.FAILED, row_errors(failed.errors)
        job.summary = "Nothing was imported."
    else:
        job.status, job.counts = ImportJob.Status.SUCCEEDED, import_counts(result)
        job.summary, job.errors = import_summary(result), row_errors(result.errors)
    finally:
        path.unlink(missing_ok=True)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "errors", "summary", "counts", "finished_at"])
    return job
