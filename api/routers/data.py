"""Import, export and raw judgments: the manage page's import and export, for scripts."""

import dataclasses
import io
import json
from datetime import date
from itertools import islice
from typing import IO, Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from api.access import manager_project_or_404
from api.auth import caller
from api.errors import ApiError, form_error, import_error
from api.schemas import Id, ImportOut, ImportRowsIn, JudgmentPage, answers
from api.selectors import import_job_of
from api.services.imports import import_counts, import_job_create, row_errors
from labeling.downloads import export_empty_text, export_response
from labeling.formats.exports import AGGREGATES, FILE_FORMATS, KINDS, ExportOptions
from labeling.formats.parsers import PARSERS
from labeling.forms import ExportForm
from labeling.models import Project
from labeling.selectors import project_annotator_names
from labeling.selectors_export import judgment_rows
from labeling.services.exporting import export_prepare
from labeling.services.importing import ImportFailed, data_import, import_summary

router = Router(tags=["import and export"])


def _one_of(choices: tuple[str, ...], default: str) -> Any:
    """A text field whose choices the schema lists; the page's form checks it, in its words."""
    return Field(default, json_schema_extra={"enum": list(choices)})


class ExportQuery(Schema):
    """The export form's options (labeling/forms.py ExportForm, labeling/formats/exports.py)."""

    kind: str = _one_of(KINDS, "trl")
    file_format: str = _one_of(FILE_FORMATS, "jsonl")
    aggregate: str = _one_of(AGGREGATES, "all")
    conversational: bool = False
    implicit_prompt: bool = False
    margin: bool = False
    confidence: bool = False
    since: date | None = None
    until: date | None = None
    annotators: list[str] = []
    min_agreement: float | None = None
    min_quality: float | None = None
    exclude_gold: bool = False
    exclude_imported: bool = False


class JudgmentQuery(Schema):
    """The export's filters that apply to raw judgments; `since` is the pull's cursor."""

    since: Id | None = None
    page_size: int = Field(1000, ge=1, le=5000)
    annotators: list[str] = []
    min_agreement: float | None = None
    min_quality: float | None = None
    exclude_gold: bool = False
    exclude_imported: bool = False


class ImportFormIn(Schema):
    format: str = _one_of(tuple(PARSERS), "candidates")
    skip_invalid: bool = False
    as_gold: bool = False


def _export_options(project: Project, data: dict[str, Any]) -> ExportOptions:
    """Validated by the page's form, so that the rules and messages are the page's."""
    data = {key: value for key, value in data.items() if value not in (None, False, [], "")}
    form = ExportForm(data, annotators=project_annotator_names(project=project))
    if not form.is_valid():
        raise form_error(form)
    return form.options()


def _run_import(
    request: HttpRequest, project: Project, fileobj: IO[bytes], name: str, size: int, options: dict
) -> Status:
    if size > settings.PREFAPP_API_IMPORT_INLINE_BYTES:
        job = import_job_create(
            project=project, user=caller(request), fileobj=fileobj, filename=name, **options
        )
        return Status(202, ImportOut(status=job.status, job_id=job.pk))
    try:
        result = data_import(project=project, fileobj=fileobj, filename=name, **options)
    except ImportFailed as failed:
        raise import_error(failed) from None
    done = {
        "status": "succeeded",
        "summary": import_summary(result),
        "counts": import_counts(result),
        "errors": row_errors(result.errors),
    }
    return Status(200, ImportOut.model_validate(done))


@router.post(
    "/projects/{slug}/imports", response={**answers(ImportOut, extra=(400,)), 202: ImportOut}
)
def import_file(
    request: HttpRequest, slug: str, file: File[UploadedFile], form: Form[ImportFormIn]
) -> Status:
    """Upload a file (multipart: `file`, and `format` as on the manage page). Validated whole
    first: all rows or none (unless `skip_invalid`), errors with line and field; rows whose id
    is already there are skipped. Files over the inline limit answer 202 with a job."""
    project = manager_project_or_404(request, slug)
    return _run_import(
        request, project, file, file.name or "upload.jsonl", file.size or 0, form.dict()
    )


@router.post(
    "/projects/{slug}/imports/rows", response={**answers(ImportOut, extra=(400,)), 202: ImportOut}
)
def import_rows(request: HttpRequest, slug: str, payload: ImportRowsIn) -> Status:
    """Rows as JSON, each as one line of the chosen import format would be."""
    project = manager_project_or_404(request, slug)
    text = "".join(json.dumps(row) + "\n" for row in payload.rows).encode()
    options = {
        "format": payload.format,
        "skip_invalid": payload.skip_invalid,
        "as_gold": payload.as_gold,
    }
    return _run_import(request, project, io.BytesIO(text), "rows.jsonl", len(text), options)


@router.get("/projects/{slug}/imports/{int:job_id}", response=answers(ImportOut))
def import_status(request: HttpRequest, slug: str, job_id: int) -> ImportOut:
    project = manager_project_or_404(request, slug)
    job = import_job_of(project=project, job_id=job_id)
    if job is None:
        raise Http404("No such import")
    return ImportOut.model_validate(
        {
            "status": job.status,
            "job_id": job.pk,
            "summary": job.summary,
            "counts": job.counts or None,
            "errors": job.errors,
        }
    )


@router.get(
    "/projects/{slug}/export",
    response={**answers(None, extra=(400, 409)), 200: None},
    openapi_extra={
        "responses": {
            200: {
                "description": "The export file, streamed",
                "content": {
                    "application/jsonl": {},
                    "text/csv": {},
                    "application/octet-stream": {},
                },
            }
        }
    },
)
def export(request: HttpRequest, slug: str, query: Query[ExportQuery]) -> HttpResponseBase:
    """Any export of the manage page or `manage.py export_data`: kind, aggregation, file format
    and filters. Text formats stream row by row. An export with no row answers 409 (code
    `empty`) with the page's reason rather than an empty file."""
    project = manager_project_or_404(request, slug)
    options = _export_options(project, query.dict())
    download = export_prepare(project=project, options=options, actor=caller(request))
    if download is None:
        raise ApiError(409, export_empty_text(project=project, options=options), code="empty")
    return export_response(download)


@router.get("/projects/{slug}/judgments", response=answers(JudgmentPage, extra=(400,)))
def judgments_since(request: HttpRequest, slug: str, query: Query[JudgmentQuery]) -> JudgmentPage:
    """Raw judgments in id order after the judgment id `since` (the cursor of incremental
    pulls), with the export's filters; annotators under the export's pseudonyms."""
    project = manager_project_or_404(request, slug)
    filter_fields = query.dict(exclude={"since", "page_size"})
    options = _export_options(project, {**filter_fields, "kind": "judgments"})
    filters = dataclasses.replace(options.filters, after_id=query.since)
    size = min(max(query.page_size, 1), 5000)
    rows = list(islice(judgment_rows(project=project, filters=filters, chunk_size=size), size))
    last = rows[-1]["judgment_id"] if rows else query.since
    next_url = None
    if len(rows) == size:
        params = {**request.GET.dict(), "since": last}
        next_url = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
    return JudgmentPage.model_validate({"results": rows, "next": next_url, "since": last})
