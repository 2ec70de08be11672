"""Raw judgments on PostgreSQL, read as Arrow through ADBC and written by pyarrow and Polars.

The database sends only the judgment table's own columns (the export's filters, in id order;
no joins, no per-row formatting). ADBC's PostgreSQL driver (Apache Arrow) reads them with
`COPY ... TO STDOUT (FORMAT binary)` straight into Arrow record batches of about 1 MB, in C++,
on a thread of its own. Each batch is completed with vectorised lookups (pair facts, read
meanwhile over a second connection; pseudonyms) and written by the caller: Parquet by
pyarrow, a row group per batch; JSONL and CSV by Polars. No protocol, CSV or JSON code of
ours. The previous path (libpq read by hand, PostgreSQL's CSV parsed by Arrow, JSON joined
with Arrow's string kernels) was 10-25 % slower; building JSON in PostgreSQL (`row_to_json`)
or in Python per row, four to eight times (bench/README.md).

Both connections are opened from the Django connection's parameters and read in one
REPEATABLE READ snapshot (the second imports the first's). They see what is committed, not
the caller's open transaction. The tests compare every format with the row-by-row Python
writers (labeling.selectors_export.judgment_rows)."""

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.db import connection

from labeling.formats.exports import (
    FORMULA_STARTS,
    JUDGMENT_COLUMNS,
    ExportOptions,
    export_schema,
)
from labeling.models import Pair, Project
from labeling.selectors_export import annotator_pseudonym, judgments_for_export

# The judgment's own columns, as the database sends them.
STREAMED_COLUMNS = (
    "id",
    "pair_id",
    "annotator_id",
    "source",
    "choice",
    "strength",
    "rationale",
    "left_is_a",
    "time_spent_ms",
    "created_at",
)
_PAIR_FACTS = ("id", "prompt__external_id", "candidate_a_id", "candidate_b_id", "is_gold")
# Timestamps in CSV as in JSON (exporting.json_timestamp): seconds, then milliseconds or
# microseconds only where they are not zero (chrono's "%.f").
CSV_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
# The driver cuts the stream into record batches of about this many bytes; a thread reads up
# to READ_AHEAD of them ahead (at most ~32 MB waiting, however slow the file): reading goes on
# while the pairs are read and evens out the writer's pace (with 8: 15-20 % slower).
BATCH_BYTES = 1 << 20
READ_AHEAD = 32
_END = object()


def judgments_copy(*, project: Project, options: ExportOptions, fileobj: IO[bytes]) -> int:
    """Write raw judgments as options.file_format (jsonl, csv or parquet); returns the rows."""
    judgments = judgments_for_export(project=project, filters=options.filters).order_by("id")
    pairs = Pair.objects.filter(project=project).order_by().values_list(*_PAIR_FACTS)
    schema = export_schema(options)
    write = {"parquet": _write_parquet, "jsonl": _write_jsonl, "csv": _write_csv}
    # The judgments stream from the start (a thread reads up to READ_AHEAD batches ahead)
    # while a second connection, in the same snapshot, reads the pairs; then each batch is
    # completed, encoded and written here.
    with _Reader() as reader:
        snapshot = reader.snapshot()
        batches = reader.batches(judgments.values_list(*STREAMED_COLUMNS).query)
        with contextlib.closing(_ReadAhead(batches)) as read_ahead:
            with _Reader(snapshot=snapshot) as pair_reader:
                facts = _PairFacts(pair_reader.table(pairs.query))
            pseudonyms = _Pseudonyms(project.pk)
            completed = (_complete(batch, facts, pseudonyms, schema) for batch in read_ahead)
            return write[options.file_format](completed, schema, fileobj)


class _Reader:
    """An ADBC connection to the Django connection's database, in one read-only REPEATABLE
    READ transaction, in the snapshot of another _Reader when given one. Use it as a context
    manager: it closes what it opened, also when the writing fails half-way (the server's
    COPY is then cancelled with the connection)."""

    def __init__(self, snapshot: str | None = None) -> None:
        self._snapshot = snapshot

    def __enter__(self) -> "_Reader":
        import adbc_driver_manager
        import adbc_driver_postgresql
        from psycopg.conninfo import make_conninfo

        connection.ensure_connection()
        info = connection.connection.info
        self._closing = contextlib.ExitStack()
        database = self._closing.enter_context(
            adbc_driver_postgresql.connect(make_conninfo(info.dsn, password=info.password))
        )
        self._connection = self._closing.enter_context(adbc_driver_manager.AdbcConnection(database))
        for statement in (
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            # Long sequential reads: JIT costs more than it saves, a hash join of the pairs
            # and prompts fits in memory, timestamps come in UTC.
            "SET LOCAL jit = off",
            "SET LOCAL work_mem = '64MB'",
            "SET LOCAL TimeZone = 'UTC'",
        ):
            self._statement(statement).execute_update()
        if self._snapshot is not None:
            self._statement(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'").execute_update()
        return self

    def snapshot(self) -> str:
        """The transaction's snapshot, for other connections to read the same data."""
        with self._read("SELECT pg_export_snapshot()") as rows:
            return rows.read_all().column(0)[0].as_py()

    def _statement(self, sql: str) -> Any:
        import adbc_driver_manager

        statement = self._closing.enter_context(adbc_driver_manager.AdbcStatement(self._connection))
        statement.set_sql_query(sql)
        return statement

    def batches(self, query: Any) -> Any:
        """An Arrow RecordBatchReader of a Django query's rows, in batches of about
        BATCH_BYTES; the query runs now, on the caller's thread."""
        return self._read(_literal_sql(query))

    def _read(self, sql: str) -> Any:
        import pyarrow as pa

        statement = self._statement(sql)
        statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
        stream, _ = statement.execute_query()
        # The handle is an Arrow C stream (the PyCapsule protocol): pyarrow takes it over.
        return self._closing.enter_context(pa.RecordBatchReader.from_stream(stream))

    def table(self, query: Any) -> Any:
        """The rows of a (small) Django query as one Arrow table."""
        with self.batches(query) as reader:
            return reader.read_all()

    def __exit__(self, *exc_info: Any) -> None:
        self._closing.close()


def _literal_sql(query: Any) -> str:
    """A Django query as one SQL string, its parameters merged by psycopg (ADBC binds Arrow
    values by position, not Django's %s)."""
    import psycopg

    sql, params = query.sql_with_params()
    return psycopg.ClientCursor(connection.connection).mogrify(sql, params)


# Arrays are built from numpy arrays, never Python lists: pyarrow would first import pandas
# to see whether a list is one of its objects (half a second).
class _PairFacts:
    """Per pair: its prompt id, candidates and gold flag, taken by pair id."""

    def __init__(self, table: Any) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        table = table.rename_columns(list(_PAIR_FACTS)).combine_chunks()
        self.ids = _array(table["id"])
        # Pair ids of a project are nearly contiguous: a position per id from the smallest
        # on is a plain array lookup per row (index_in would hash every pair per batch).
        self._first = pc.min(self.ids).as_py() or 0
        span = (pc.max(self.ids).as_py() or 0) - self._first + 1
        self._dense = None
        if len(self.ids) and span <= 4 * len(self.ids) + 1_000_000:
            positions = pa.array(np.arange(len(self.ids), dtype=np.int64))
            self._dense = pc.scatter(
                positions, pc.subtract(self.ids, self._first), max_index=span - 1
            )
        self.columns = {name: _array(table[name]) for name in _PAIR_FACTS[1:]}

    def positions(self, pair_ids: Any) -> Any:
        import pyarrow.compute as pc

        positions = None
        if self._dense is not None:
            with contextlib.suppress(IndexError):  # an id outside the project's range
                positions = pc.take(self._dense, pc.subtract(pair_ids, self._first))
        if positions is None:
            positions = pc.index_in(pair_ids, value_set=self.ids)
        if positions.null_count:  # a judgment whose pair is in another project
            missing = pair_ids.filter(pc.is_null(positions))[0].as_py()
            raise ValueError(f"pair {missing} of a judgment is not in the exported project")
        return positions


class _Pseudonyms:
    """Annotator ids to pseudonyms, computed once per annotator as batches bring them."""

    def __init__(self, project_id: int) -> None:
        self._project_id = project_id
        self._names: dict[int, str] = {}
        self._lookup: tuple[Any, Any] | None = None  # (ids, names) as Arrow arrays

    def of(self, annotator_ids: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        annotator_ids = annotator_ids.cast(pa.int64())
        ids, names = self._lookup_for(pc.unique(annotator_ids.drop_null()).to_pylist())
        # The last name is the one of judgments without an annotator (imported ones).
        at = pc.fill_null(pc.index_in(annotator_ids, value_set=ids), len(names) - 1)
        return pc.take(names, at)

    def _lookup_for(self, annotator_ids: list[int]) -> tuple[Any, Any]:
        import numpy as np
        import pyarrow as pa

        if self._lookup is None or any(uid not in self._names for uid in annotator_ids):
            for uid in annotator_ids:
                self._names.setdefault(
                    uid, annotator_pseudonym(project_id=self._project_id, user_id=uid)
                )
            imported = annotator_pseudonym(project_id=self._project_id, user_id=None)
            self._lookup = (
                pa.array(np.array(list(self._names), dtype=np.int64)),
                pa.array(np.array([*self._names.values(), imported], dtype=object), pa.string()),
            )
        return self._lookup


def _array(column: Any) -> Any:
    """One contiguous array of a (combined) table column."""
    import pyarrow as pa

    return column.chunk(0) if column.num_chunks else pa.array([], column.type)


def _complete(batch: Any, pairs: _PairFacts, pseudonyms: _Pseudonyms, schema: Any) -> Any:
    """A batch of the judgment's columns as a batch of the export's (JUDGMENT_COLUMNS)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    at = pairs.positions(batch["pair_id"])
    columns = {
        "judgment_id": batch["id"],
        "pair_id": batch["pair_id"],
        "prompt_id": pc.take(pairs.columns["prompt__external_id"], at),
        "candidate_a_id": pc.take(pairs.columns["candidate_a_id"], at),
        "candidate_b_id": pc.take(pairs.columns["candidate_b_id"], at),
        "annotator": pseudonyms.of(batch["annotator_id"]),
        "source": batch["source"],
        "choice": batch["choice"],
        "strength": batch["strength"],
        "rationale": batch["rationale"],
        "shown_left": pc.if_else(batch["left_is_a"], "a", "b"),
        "time_spent_ms": batch["time_spent_ms"],
        "is_gold": pc.take(pairs.columns["is_gold"], at),
        "created_at": batch["created_at"],
    }
    return pa.RecordBatch.from_arrays(
        [columns[name].cast(schema.field(name).type) for name in JUDGMENT_COLUMNS], schema=schema
    )


# --- reading ahead, and the writers ------------------------------------------------------------
# ADBC's reads, Arrow's kernels, Polars' writers and file writes all let go of the GIL, so the
# database, the reading thread and the caller's completing and writing overlap.


class _ReadAhead:
    """A thread that reads an iterator's items from now on, at most READ_AHEAD ahead of
    the caller; iterate it for them. Closing it stops the thread and closes the iterator."""

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items
        self._handoff: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="export-reader", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._handoff.put(item, timeout=0.1)
                return True
        return False

    def _read(self) -> None:
        try:
            with contextlib.closing(self._items):  # type: ignore[type-var]
                for item in self._items:
                    if not self._put(item):
                        return
            self._put(_END)
        except BaseException as error:  # handed to the caller, raised there
            self._put(error)

    def __iter__(self) -> Iterator[Any]:
        while (item := self._handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _write_parquet(batches: Iterable[Any], schema: Any, fileobj: IO[bytes]) -> int:
    """One row group per batch (about 1 MB of judgments), so memory stays flat."""
    import pyarrow.parquet as pq

    # Dictionary pages for the few-valued columns only (on ids and texts they cost time and
    # save nothing); min/max statistics for the columns readers filter on.
    few_valued = ["annotator", "source", "choice", "shown_left"]
    ranged = ["judgment_id", "pair_id", "created_at"]
    count = 0
    with pq.ParquetWriter(
        fileobj, schema, compression="zstd", use_dictionary=few_valued, write_statistics=ranged
    ) as writer:
        for batch in batches:
            writer.write_batch(batch)
            count += batch.num_rows
    return count


def _write_jsonl(batches: Iterable[Any], schema: Any, fileobj: IO[bytes]) -> int:
    """JSON lines; Polars writes timestamps as json_timestamp does."""
    import polars as pl

    count = 0
    for batch in batches:
        pl.DataFrame(batch).write_ndjson(fileobj)
        count += batch.num_rows
    return count


def _write_csv(batches: Iterable[Any], schema: Any, fileobj: IO[bytes]) -> int:
    """A header, then the rows; empty cells for nulls, booleans as true/false, a text a
    spreadsheet would run as a formula behind a single quote (formats.exports.spreadsheet_safe)."""
    import polars as pl

    fileobj.write((",".join(schema.names) + "\n").encode())
    count = 0
    for batch in batches:
        pl.DataFrame(_spreadsheet_safe(batch)).write_csv(
            fileobj, include_header=False, datetime_format=CSV_TIMESTAMP_FORMAT
        )
        count += batch.num_rows
    return count


def _spreadsheet_safe(batch: Any) -> Any:
    """The batch with a quote before every text starting with a formula character. Such texts
    are rare: each text column's first bytes are looked up once (the characters are ASCII), and
    only a column with one is rewritten (~50 ms per million rows, against ~75 for a regex)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    starts = pa.array([c.encode() for c in FORMULA_STARTS], pa.binary())
    columns = batch.columns
    for at, column in enumerate(columns):
        if not pa.types.is_string(column.type):
            continue
        formula = pc.is_in(pc.binary_slice(column.cast(pa.binary()), 0, 1), value_set=starts)
        if pc.any(formula).as_py():
            quoted = pc.binary_join_element_wise("'", column, "")
            columns[at] = pc.if_else(formula, quoted, column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
