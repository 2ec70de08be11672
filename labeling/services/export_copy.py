"""Raw judgments on PostgreSQL, streamed through `COPY ... TO STDOUT` and Arrow.

JSONL and Parquet: the database sends only the judgment table's own columns (a plain SELECT
with the export's filters, in id order; no joins, no per-row formatting), Arrow parses the
CSV stream block by block, and each block is completed with vectorised lookups (pair facts,
pseudonyms) and written: Parquet as a row group, JSONL as lines joined by Arrow's string
kernels. Building JSON in PostgreSQL (`row_to_json`) or in Python per row cost 4-8 s per
million judgments, joining pairs and leases per row in the database 1-3 s; see
bench/README.md for what this path costs beside PostgreSQL's own COPY.

CSV files keep PostgreSQL's own CSV of the export's SELECT. The tests compare every path with
the row-by-row Python writers (labeling.selectors_export.judgment_values).
"""

import contextlib
import json
import queue
import select
import threading
from collections.abc import Iterator
from typing import IO, Any

from django.db import connection, transaction

from labeling.models import Pair, Project
from labeling.selectors_export import (
    JUDGMENT_COLUMNS,
    annotator_pseudonym,
    judgment_values,
    judgments_for_export,
)

# The judgment's own columns, in the order of the COPY below.
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
# The same text the Python CSV writer gives a timestamp: isoformat(timespec="microseconds").
_STAMP = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') AS {0}"
# Characters a JSON string must escape; the common ones are replaced by vectorised kernels.
_UNSAFE = r'[\x00-\x1f"\\]'
# Arrow parses (and the writers write) the stream in blocks of this many bytes.
BLOCK_BYTES = 1 << 20
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def judgments_copy(*, project: Project, options: Any, fileobj: IO[bytes]) -> int:
    """Write raw judgments as options.file_format (jsonl, csv or parquet); returns the rows."""
    if options.file_format == "csv":
        return _copy_csv(project, options, fileobj)
    judgments = judgments_for_export(project=project, filters=options.filters).order_by("id")
    sql, params = judgments.values_list(*STREAMED_COLUMNS).query.sql_with_params()
    pairs_sql, pairs_params = (
        Pair.objects.filter(project=project)
        .order_by()
        .values_list(*_PAIR_FACTS)
        .query.sql_with_params()
    )
    as_json = options.file_format == "jsonl"
    with transaction.atomic(), connection.cursor() as cursor:
        _tuned(cursor)
        pg_cursor = cursor.cursor
        pairs = _PairFacts(_read_pairs(pg_cursor, pairs_sql, pairs_params), as_json=as_json)
        pseudonyms = _Pseudonyms(project.pk)
        with _CopyRows(pg_cursor, f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as rows:
            batches = _csv_batches(rows, as_json=as_json)
            if as_json:
                return _write_jsonl(batches, pairs, pseudonyms, fileobj)
            return _write_parquet(batches, pairs, pseudonyms, options, fileobj)


def _tuned(cursor: Any) -> None:
    """One long sequential read: JIT compilation costs more than it saves here, a sort that
    fits in memory does not spill to disk, and timestamps come in UTC (local settings)."""
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute("SET LOCAL TimeZone = 'UTC'")


class _CopyRows:
    """`COPY ... TO STDOUT` read in blocks of whole rows, for Arrow's CSV parser.

    It speaks to libpq directly (psycopg's `pgconn`): one blocking `get_copy_data` per row
    is a few times cheaper than psycopg's Copy iterator, which waits in Python for every row.
    Each message is one row, so a block of messages is a block of complete CSV records, even
    with newlines inside values. Use it as a context manager: leaving early cancels the COPY
    and drains it, so the connection is usable (and its transaction rolled back) afterwards."""

    def __init__(self, cursor: Any, statement: str, params: Any) -> None:
        import psycopg
        from psycopg import pq

        self._conn = cursor.connection
        self._pgconn = self._conn.pgconn
        self._done = False
        # COPY takes no bind parameters: the client merges them, as psycopg's copy() does.
        self._pgconn.send_query(
            psycopg.ClientCursor(self._conn)
            .mogrify(statement, params)
            .encode(self._conn.info.encoding)
        )
        result = self._pgconn.get_result()
        if result.status != pq.ExecStatus.COPY_OUT:
            self._finish()
            raise psycopg.errors.error_from_result(result, encoding=self._conn.info.encoding)

    def __enter__(self) -> "_CopyRows":
        return self

    def blocks(self) -> Iterator[bytearray]:
        """The rows, joined into blocks of about BLOCK_BYTES. A thread reads them while the
        caller converts the previous blocks (Arrow's kernels let go of the GIL), so the
        database, the reading and the writing overlap; at most a few blocks wait between."""
        handoff: queue.Queue = queue.Queue(maxsize=4)
        stop = threading.Event()
        reader = threading.Thread(target=self._read, args=(handoff, stop), daemon=True)
        reader.start()
        try:
            while (block := handoff.get()) is not None:
                if isinstance(block, BaseException):
                    raise block
                yield block
        finally:
            stop.set()
            while reader.is_alive():  # it may wait on a full queue
                with contextlib.suppress(queue.Empty):
                    handoff.get_nowait()
                reader.join(0.01)

    def _read(self, handoff: queue.Queue, stop: threading.Event) -> None:
        def put(item: Any) -> None:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    handoff.put(item, timeout=0.1)
                    return

        # Rows are appended to a bytearray at once: a million kept row objects would wake
        # the garbage collector again and again. Waiting for the server happens in
        # select(), without the GIL (the non-blocking libpq calls return at once).
        get_copy_data, block = self._pgconn.get_copy_data, bytearray()
        try:
            while not stop.is_set():
                length, data = get_copy_data(1)
                if length > 0:
                    block += data
                    if len(block) >= BLOCK_BYTES:
                        put(block)
                        block = bytearray()
                elif length == 0:
                    select.select([self._pgconn.socket], [], [])
                    self._pgconn.consume_input()
                else:  # the end of the data: then the COPY's own result
                    self._finish()
                    if block:
                        put(block)
                    put(None)
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the caller, raised there
            put(error)

    def _finish(self) -> None:
        """Read the results that follow the data; raise the COPY's error if it failed."""
        import psycopg
        from psycopg import pq

        self._done = True
        error = None
        while (result := self._pgconn.get_result()) is not None:
            if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.COPY_OUT):
                error = error or psycopg.errors.error_from_result(
                    result, encoding=self._conn.info.encoding
                )
        if error is not None:
            raise error

    def __exit__(self, *exc_info: Any) -> None:
        import psycopg

        if not self._done:  # left early (an error while writing): stop the server, drain
            self._conn.cancel()
            while self._pgconn.get_copy_data(0)[0] >= 0:
                pass
            with contextlib.suppress(psycopg.Error):  # the cancellation's; the first error wins
                self._finish()


def _csv_batches(rows: _CopyRows, *, as_json: bool) -> Iterator[Any]:
    """Record batches of the streamed columns, one per block. For JSON the text stays text:
    PostgreSQL's numbers already are their JSON, and its timestamps nearly (ISO 8601 with a
    space). Blocks are parsed as they come, on this thread: a read-ahead thread would fight
    the converting one for the GIL at every row."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    stamp = pa.timestamp("us", tz="UTC")
    text = pa.string()
    types = {
        "id": pa.int64(),
        "pair_id": pa.int64(),
        "annotator_id": pa.int64(),
        "source": text,
        "choice": text,
        "strength": pa.int64(),
        "rationale": text,
        "left_is_a": pa.bool_(),
        "time_spent_ms": pa.int64(),
        "created_at": stamp,
    }
    if as_json:
        types = {name: text for name in types} | {"pair_id": pa.int64(), "annotator_id": pa.int64()}
    read_options = pa_csv.ReadOptions(
        column_names=list(STREAMED_COLUMNS), use_threads=False, block_size=BLOCK_BYTES + (1 << 20)
    )
    parse_options = pa_csv.ParseOptions(newlines_in_values=True)
    convert_options = pa_csv.ConvertOptions(
        column_types=types,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],  # PostgreSQL's booleans in CSV
    )
    for block in rows.blocks():
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(block)),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        yield from table.combine_chunks().to_batches()


def _read_pairs(cursor: Any, sql: str, params: Any) -> Any:
    """The project's pairs (id, prompt id, candidates, gold flag) as an Arrow table: a few
    dozen bytes a pair, looked up per block instead of joined per row by the database."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    types = [pa.int64(), pa.string(), pa.int64(), pa.int64(), pa.bool_()]
    with _CopyRows(cursor, f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as rows:
        data = b"".join(rows.blocks())
    if not data:  # no pairs (Arrow's reader refuses an empty file)
        return pa.table(
            {name: pa.array([], type) for name, type in zip(_PAIR_FACTS, types, strict=True)}
        )
    table = pa_csv.read_csv(
        pa.BufferReader(data),
        read_options=pa_csv.ReadOptions(column_names=list(_PAIR_FACTS), use_threads=False),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict(zip(_PAIR_FACTS, types, strict=True)),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return table.combine_chunks()


# Arrays are built from numpy arrays, never Python lists: pyarrow would first import pandas
# to see whether a list is one of its objects (half a second).
class _PairFacts:
    """Per pair: its columns for Parquet, or its JSON members for JSONL, taken by pair id."""

    def __init__(self, table: Any, *, as_json: bool) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        self.ids = _array(table["id"])
        # Pair ids of a project are nearly contiguous: a position per id from the smallest
        # on is a plain array lookup per row (index_in would hash every pair per block).
        self._first = pc.min(self.ids).as_py() or 0
        span = (pc.max(self.ids).as_py() or 0) - self._first + 1
        self._dense = None
        if len(self.ids) and span <= 4 * len(self.ids) + 1_000_000:
            positions = pa.array(np.arange(len(self.ids), dtype=np.int64))
            self._dense = pc.scatter(
                positions, pc.subtract(self.ids, self._first), max_index=span - 1
            )
        self.columns = {name: _array(table[name]) for name in _PAIR_FACTS[1:]}
        if as_json:
            prompt = self.columns["prompt__external_id"]
            prompt_json = pc.fill_null(
                pc.binary_join_element_wise('"', json_body(prompt), '"', ""), "null"
            )
            # "pair_id":1,"prompt_id":"q1","candidate_a_id":1,"candidate_b_id":2
            self.json_members = pc.binary_join_element_wise(
                '"pair_id":',
                pc.cast(self.ids, pa.string()),
                ',"prompt_id":',
                prompt_json,
                ',"candidate_a_id":',
                pc.cast(self.columns["candidate_a_id"], pa.string()),
                ',"candidate_b_id":',
                pc.cast(self.columns["candidate_b_id"], pa.string()),
                "",
            )
            self.json_gold = pc.if_else(self.columns["is_gold"], "true", "false")

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
    """Annotator ids to pseudonyms, computed once per annotator as blocks bring them."""

    def __init__(self, project_id: int) -> None:
        self._project_id = project_id
        self._names: dict[int, str] = {}
        self._ids: Any = None
        self._values: Any = None

    def of(self, annotator_ids: Any) -> Any:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        seen = pc.unique(annotator_ids.drop_null()).to_pylist()
        if self._ids is None or any(uid not in self._names for uid in seen):
            for uid in seen:
                self._names.setdefault(
                    uid, annotator_pseudonym(project_id=self._project_id, user_id=uid)
                )
            self._ids = pa.array(np.array(list(self._names), dtype=np.int64))
            self._values = pa.array(np.array(list(self._names.values()), dtype=object), pa.string())
        names = pc.take(self._values, pc.index_in(annotator_ids, value_set=self._ids))
        return pc.fill_null(names, annotator_pseudonym(project_id=self._project_id, user_id=None))


def _array(column: Any) -> Any:
    """One contiguous array of a (combined) table column."""
    import pyarrow as pa

    return column.chunk(0) if column.num_chunks else pa.array([], column.type)


def json_body(values: Any) -> Any:
    """Strings as the inside of JSON strings (nulls stay null). Only blocks with a quote,
    a backslash or a control character are rewritten; rare control characters other than
    newline, return and tab are escaped by Python's json."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pc.any(pc.match_substring_regex(values, _UNSAFE)).as_py():
        return values
    original = values
    for raw, escaped in _ESCAPES:
        values = pc.replace_substring(values, raw, escaped)
    rare = pc.fill_null(pc.match_substring_regex(values, r"[\x00-\x1f]"), False)
    if pc.any(rare).as_py():
        fixed = [
            json.dumps(text, ensure_ascii=False)[1:-1] for text in original.filter(rare).to_pylist()
        ]
        values = pc.replace_with_mask(values, rare, pa.array(fixed, pa.string()))
    return values


def _json_stamp(values: Any) -> Any:
    """PostgreSQL's UTC timestamp text ('2026-01-01 10:00:00.5+00') as the JSON text
    row_to_json and the Python writers give ("2026-01-01T10:00:00.5+00:00"), or null."""
    import pyarrow.compute as pc

    iso = pc.replace_substring(values, " ", "T", max_replacements=1)
    return pc.fill_null(pc.binary_join_element_wise('"', iso, ':00"', ""), "null")


def _write_jsonl(
    batches: Iterator[Any], pairs: _PairFacts, pseudonyms: _Pseudonyms, fileobj: IO[bytes]
) -> int:
    """Each block's lines are joined column-wise by Arrow and written as one buffer; the
    member order is JUDGMENT_COLUMNS'."""
    import pyarrow.compute as pc

    count = 0
    for batch in batches:
        at = pairs.positions(batch["pair_id"])
        left = batch["left_is_a"]
        lines = pc.binary_join_element_wise(
            '{"judgment_id":',
            batch["id"],
            ",",
            pc.take(pairs.json_members, at),
            ',"annotator":"',
            pseudonyms.of(batch["annotator_id"]),
            '","source":"',
            json_body(batch["source"]),
            '","choice":"',
            json_body(batch["choice"]),
            '","strength":',
            pc.fill_null(batch["strength"], "null"),
            ',"rationale":"',
            json_body(batch["rationale"]),
            '","shown_left":',
            pc.fill_null(pc.if_else(pc.equal(left, "t"), '"a"', '"b"'), "null"),
            ',"time_spent_ms":',
            pc.fill_null(batch["time_spent_ms"], "null"),
            ',"is_gold":',
            pc.take(pairs.json_gold, at),
            ',"created_at":',
            _json_stamp(batch["created_at"]),
            "}\n",
            "",
        )
        # The lines lie back to back in the array's data buffer: one write per block.
        _, offsets, data = lines.buffers()
        offset = memoryview(offsets).cast("i")  # int32, little-endian like the machine
        fileobj.write(memoryview(data)[offset[lines.offset] : offset[lines.offset + len(lines)]])
        count += batch.num_rows
    return count


def _write_parquet(
    batches: Iterator[Any],
    pairs: _PairFacts,
    pseudonyms: _Pseudonyms,
    options: Any,
    fileobj: IO[bytes],
) -> int:
    """One row group per CSV block (a few MB), so memory stays flat."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from labeling.services.exporting import export_schema

    schema = export_schema(options)
    count = 0
    with pq.ParquetWriter(fileobj, schema, compression="zstd") as writer:
        for batch in batches:
            at = pairs.positions(batch["pair_id"])
            left = batch["left_is_a"]
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
                "shown_left": pc.if_else(left, "a", "b"),
                "time_spent_ms": batch["time_spent_ms"],
                "is_gold": pc.take(pairs.columns["is_gold"], at),
                "created_at": batch["created_at"],
            }
            writer.write_batch(
                pa.RecordBatch.from_arrays(
                    [columns[name].cast(schema.field(name).type) for name in JUDGMENT_COLUMNS],
                    schema=schema,
                )
            )
            count += batch.num_rows
    return count


# --- CSV: PostgreSQL writes the export's SELECT -----------------------------------------------


def _csv_select() -> str:
    """The columns as the Python CSV writer gives them (timestamps, 'true'/'false')."""
    columns = []
    for name in JUDGMENT_COLUMNS:
        if name == "created_at":
            columns.append(_STAMP.format(name))
        elif name == "is_gold":
            columns.append("is_gold::text AS is_gold")
        else:
            columns.append(name)
    return ", ".join(columns)


def _copy_csv(project: Project, options: Any, fileobj: IO[bytes]) -> int:
    sql, params = judgment_values(project=project, filters=options.filters).query.sql_with_params()
    source = f"({sql}) AS j({', '.join(JUDGMENT_COLUMNS)})"
    statement = f"COPY (SELECT {_csv_select()} FROM {source}) TO STDOUT WITH (FORMAT csv, HEADER)"
    with transaction.atomic(), connection.cursor() as cursor:
        _tuned(cursor)
        with cursor.cursor.copy(statement, params) as copy:
            for chunk in copy:
                fileobj.write(chunk)
        return cursor.cursor.rowcount
