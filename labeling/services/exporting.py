"""Writing a project's judgments to files: TRL preference rows, HH-RLHF transcripts or raw
judgments, as JSONL, CSV, Parquet or a Hugging Face `datasets` directory.

Rows stream from `labeling.selectors_export` and are written as they come (Parquet in record
batches), so memory stays flat. Raw judgments on PostgreSQL are read as Arrow batches and
written by Arrow and Polars (labeling/services/export_copy.py), several times faster than
building them in Python, with the same rows.
"""

import csv
import io
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.contrib.auth.models import User
from django.db import connection

from labeling.formats.exports import (
    ExportOptions,
    export_filename,
    export_schema,
    spreadsheet_safe,
)
from labeling.models import AuditAction, Project
from labeling.selectors_export import judgment_rows, preference_rows
from labeling.services.audit import audit_record
from labeling.services.export_copy import judgments_copy

BATCH_ROWS = 5000
TEXT_TYPES = {"jsonl": "application/jsonl", "csv": "text/csv"}


def export_rows(*, project: Project, options: ExportOptions) -> Iterator[dict[str, Any]]:
    """The exported rows as dicts, in file order."""
    if options.kind == "judgments":
        yield from judgment_rows(project=project, filters=options.filters, chunk_size=BATCH_ROWS)
        return
    yield from preference_rows(
        project=project,
        aggregate=options.aggregate,
        conversational=options.conversational,
        with_margin=options.with_margin,
        filters=options.filters,
        implicit_prompt=options.implicit_prompt,
        style=options.kind,
        with_confidence=options.confidence,
    )


def _audit_export(project: Project, options: ExportOptions, actor: User | None) -> None:
    if actor is None:  # a command line or a snapshot, not a person's download
        return
    details = {
        "kind": options.kind,
        "format": options.file_format,
        "aggregate": options.aggregate,
        "filters": {k: str(v) for k, v in vars(options.filters).items() if v not in (None, ())},
    }
    audit_record(project=project, actor=actor, action=AuditAction.DATA_EXPORTED, details=details)


def export_text_pieces(
    *, project: Project, options: ExportOptions, actor: User | None = None
) -> Iterator[str]:
    """JSONL or CSV text, piece by piece, for a streaming response; a person's (`actor`)
    download is audited."""
    _audit_export(project, options, actor)
    return _text_pieces(export_rows(project=project, options=options), options)


def _text_pieces(rows: Iterable[dict[str, Any]], options: ExportOptions) -> Iterator[str]:
    if options.file_format == "csv":
        return csv_lines(rows, export_schema(options).names)
    return jsonl_lines(rows)


@dataclass(frozen=True)
class ExportDownload:
    """An export ready to send: text pieces to stream, or a rewound temporary file."""

    filename: str
    content_type: str
    rows: int | None  # known for files; a stream is counted as it goes
    pieces: Iterator[str] | None = None
    file: IO[bytes] | None = None


def export_prepare(
    *, project: Project, options: ExportOptions, actor: User | None = None
) -> ExportDownload | None:
    """The export for a download, or None when it has no row (the caller says why, with
    selectors_export.export_empty_reason, rather than send an empty file). A person's
    (`actor`) download is audited; an empty one sends nothing and is not.

    Preference rows as JSONL or CSV stream row by row (the first row is read before the
    answer starts, to know there is one); other exports are written to a temporary file."""
    filename = export_filename(project_slug=project.slug, options=options)
    if options.kind != "judgments" and options.file_format in ("jsonl", "csv"):
        rows = export_rows(project=project, options=options)
        first = next(rows, None)
        if first is None:
            return None
        _audit_export(project, options, actor)
        return ExportDownload(
            filename=filename,
            content_type=TEXT_TYPES[options.file_format],
            rows=None,
            pieces=_text_pieces(itertools.chain([first], rows), options),
        )
    spool, count = export_spooled_counted(project=project, options=options)
    if count == 0:
        spool.close()
        return None
    _audit_export(project, options, actor)
    return ExportDownload(
        filename=filename, content_type="application/octet-stream", rows=count, file=spool
    )


def export_write_file(*, project: Project, options: ExportOptions, fileobj: IO[bytes]) -> int:
    """Write the export into an open binary file; returns the number of rows."""
    if options.file_format == "hf":
        raise ValueError("a datasets directory is written with export_to_path")
    if options.kind == "judgments" and connection.vendor == "postgresql":
        return judgments_copy(project=project, options=options, fileobj=fileobj)
    rows = export_rows(project=project, options=options)
    if options.file_format == "parquet":
        return _write_parquet(rows, export_schema(options), fileobj)
    text = io.TextIOWrapper(fileobj, encoding="utf-8", newline="", write_through=False)
    try:
        if options.file_format == "csv":
            return _write_csv(rows, export_schema(options).names, text)
        return export_write(rows=rows, fileobj=text)
    finally:
        text.flush()
        text.detach()


def export_to_path(
    *, project: Project, options: ExportOptions, path: Path, empty_ok: bool = True
) -> int:
    """Write the export to `path` (a directory for hf), atomically: a failed export leaves
    nothing behind and never half a file; with empty_ok=False neither does an export without
    a row (0 is returned and `path` is left as it was)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        if options.file_format == "hf":
            count = _write_datasets_dir(project, options, tmp / "dataset")
            if count or empty_ok:
                if path.exists():
                    shutil.rmtree(path)
                os.replace(tmp / "dataset", path)
        else:
            with open(tmp / "export", "wb") as fileobj:
                count = export_write_file(project=project, options=options, fileobj=fileobj)
            if count or empty_ok:
                os.replace(tmp / "export", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count


def export_to_archive(*, project: Project, options: ExportOptions, fileobj: IO[bytes]) -> int:
    """A datasets directory as a zip (for downloads)."""
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "dataset"
        count = _write_datasets_dir(project, options, directory)
        with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted(directory.rglob("*")):
                if item.is_file():
                    archive.write(item, Path(project.slug) / item.relative_to(directory))
    return count


def export_spooled(
    *, project: Project, options: ExportOptions, actor: User | None = None
) -> IO[bytes]:
    """The export in an unnamed temporary file, rewound (a zip for hf); deleted on close.
    A person's (`actor`) download is audited."""
    _audit_export(project, options, actor)
    return export_spooled_counted(project=project, options=options)[0]


def export_spooled_counted(*, project: Project, options: ExportOptions) -> tuple[IO[bytes], int]:
    """export_spooled, and how many rows the file holds (not audited: export_prepare is)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it (FileResponse)
    try:
        if options.file_format == "hf":
            count = export_to_archive(project=project, options=options, fileobj=spool)
        else:
            count = export_write_file(project=project, options=options, fileobj=spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, count


def _write_datasets_dir(project: Project, options: ExportOptions, directory: Path) -> int:
    """Parquet first (streamed), then `datasets` turns it into its Arrow directory."""
    import datasets

    parquet_options = replace(options, file_format="parquet")
    with tempfile.TemporaryDirectory(dir=directory.parent) as tmp:
        parquet = Path(tmp) / "rows.parquet"
        with open(parquet, "wb") as fileobj:
            count = export_write_file(project=project, options=parquet_options, fileobj=fileobj)
        if count:
            cache = str(Path(tmp) / "cache")
            dataset = datasets.Dataset.from_parquet(str(parquet), cache_dir=cache)
        else:
            # `datasets` reads no rows from an empty Parquet file ("corresponds to no data"):
            # an empty dataset with the export's columns instead.
            import pyarrow.parquet as pq

            schema = pq.read_schema(parquet)
            features = datasets.Features.from_arrow_schema(schema)
            dataset = datasets.Dataset.from_dict({name: [] for name in schema.names}, features)
        dataset.save_to_disk(str(directory))
    return count


# --- writers --------------------------------------------------------------------------------


def json_timestamp(value: datetime) -> str:
    """RFC 3339 with as many fractional digits as the value needs (none, milliseconds or
    microseconds): the text Polars writes, so every path and format agree."""
    if value.microsecond == 0:
        return value.isoformat(timespec="seconds")
    if value.microsecond % 1000 == 0:
        return value.isoformat(timespec="milliseconds")
    return value.isoformat(timespec="microseconds")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return json_timestamp(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, default=_json_default) + "\n"


def export_write(*, rows: Iterable[dict[str, Any]], fileobj: IO[str]) -> int:
    """Write rows as JSONL; returns how many."""
    count = 0
    for line in jsonl_lines(rows):
        fileobj.write(line)
        count += 1
    return count


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str):
        return spreadsheet_safe(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return json_timestamp(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_lines(rows: Iterable[dict[str, Any]], columns: list[str]) -> Iterator[str]:
    """CSV text in pieces; conversations are JSON in their cell, None an empty cell, a text a
    spreadsheet would run as a formula behind a single quote (formats.exports.spreadsheet_safe)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(name)) for name in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _write_csv(rows: Iterable[dict[str, Any]], columns: list[str], fileobj: IO[str]) -> int:
    count = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    for piece in csv_lines(counted(), columns):
        fileobj.write(piece)
    return count


def _write_parquet(rows: Iterable[dict[str, Any]], schema, fileobj: IO[bytes]) -> int:
    import itertools

    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0
    iterator = iter(rows)
    with pq.ParquetWriter(fileobj, schema, compression="zstd") as writer:
        while batch := list(itertools.islice(iterator, BATCH_ROWS)):
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            count += len(batch)
    return count
