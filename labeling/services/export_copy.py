"""Raw judgments on PostgreSQL: `COPY (SELECT ...) TO STDOUT` streams rows the database has
already formatted, so Python only moves bytes (JSONL, CSV) or hands CSV to Arrow's reader
(Parquet). The SELECT is the one `judgment_values` builds, so filters and pseudonyms are the
same as on the Python path; the tests compare the two."""

import io
from collections.abc import Iterator
from typing import IO, Any

from django.db import connection, transaction

from labeling.models import Project
from labeling.selectors_export import JUDGMENT_COLUMNS, judgment_values

# The same text the Python writers give a timestamp: isoformat(timespec="microseconds").
_STAMP = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') AS {0}"


def _select(as_csv_text: bool) -> str:
    """The columns; CSV files get the text the Python CSV writer gives. JSON and Arrow read
    PostgreSQL's own timestamps (to_char costs as much as the rest of the row)."""
    columns = []
    for name in JUDGMENT_COLUMNS:
        if name in ("assigned_at", "created_at") and as_csv_text:
            columns.append(_STAMP.format(name))
        elif name == "is_gold" and as_csv_text:
            columns.append("is_gold::text AS is_gold")  # 'true' / 'false'
        else:
            columns.append(name)
    return ", ".join(columns)


def judgments_copy(*, project: Project, options: Any, fileobj: IO[bytes]) -> int:
    """Write raw judgments as options.file_format (jsonl, csv or parquet); returns the rows."""
    sql, params = judgment_values(project=project, filters=options.filters).query.sql_with_params()
    source = f"({sql}) AS j({', '.join(JUDGMENT_COLUMNS)})"
    if options.file_format == "jsonl":
        # CSV with a quote and delimiter that JSON never contains (it escapes control
        # characters), so every row is the JSON text unchanged; text format would double
        # its backslashes.
        statement = (
            f"COPY (SELECT row_to_json(t) FROM (SELECT {_select(False)} FROM {source}) t) "
            "TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
        )
        return _copy_to(statement, params, fileobj)
    as_csv = options.file_format == "csv"
    statement = (
        f"COPY (SELECT {_select(as_csv)} FROM {source}) TO STDOUT "
        f"WITH (FORMAT csv, HEADER {'true' if as_csv else 'false'})"
    )
    if options.file_format == "csv":
        return _copy_to(statement, params, fileobj)
    return _copy_to_parquet(statement, params, options, fileobj)


def _tuned(cursor: Any) -> None:
    """One long sequential read: JIT compilation costs more than it saves here, and a sort
    that fits in memory does not spill to disk (settings local to this transaction)."""
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")


def _copy_to(statement: str, params: Any, fileobj: IO[bytes]) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        _tuned(cursor)
        with cursor.cursor.copy(statement, params) as copy:
            for chunk in copy:
                fileobj.write(chunk)
        return cursor.cursor.rowcount


class _CopyReader(io.RawIOBase):
    """A readable file over a COPY's chunks, for Arrow's streaming CSV reader."""

    def __init__(self, chunks: Iterator[memoryview]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = bytes(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _copy_to_parquet(statement: str, params: Any, options: Any, fileobj: IO[bytes]) -> int:
    from labeling.services.exporting import export_schema

    schema = export_schema(options)
    with transaction.atomic(), connection.cursor() as cursor:
        _tuned(cursor)
        with cursor.cursor.copy(statement, params) as copy:
            count = _csv_to_parquet(copy, schema, fileobj)
    return count


def _csv_to_parquet(copy: Any, schema: Any, fileobj: IO[bytes]) -> int:
    """Arrow parses the CSV in blocks of a few MB, one at a time (no read-ahead threads), so
    memory stays flat; each block becomes a Parquet row group."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    count = 0
    reader = pa_csv.open_csv(
        io.BufferedReader(_CopyReader(iter(copy)), buffer_size=1 << 20),
        read_options=pa_csv.ReadOptions(column_names=schema.names, block_size=4 << 20,
                                        use_threads=False),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False,
            true_values=["t"], false_values=["f"],  # PostgreSQL's booleans in CSV
        ),
    )
    with pq.ParquetWriter(fileobj, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            count += batch.num_rows
    return count
