"""Model instances from the rows of hand-written SQL, for the labelling request path.

The ORM spends more CPU building a query than PostgreSQL spends running it, and the
labelling page runs a few queries per request, many times a second (bench/README.md). The
statements in `labeling/sql.py` select the columns that `columns()` lists and turn each
model's slice of a row back into an instance here, with the same conversions the ORM applies
(JSON decoding, SQLite's booleans and datetimes), so templates and services see ordinary models.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TypeVar

from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model

M = TypeVar("M", bound=Model)


@contextmanager
def cursor() -> Iterator:
    """A cursor for the hot path's statements; on PostgreSQL one that PostgreSQL can prepare.

    Django's cursors bind parameters on the client (the values are written into the SQL), so
    every execution is parsed and planned again. These statements bind on the server, and
    psycopg prepares each once per connection (settings: `prepare_threshold`), which saves
    PostgreSQL most of its CPU per statement. Queries are still logged as Django's are.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as plain:
            yield plain
        return
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    try:
        if connection.queries_logged:
            yield _LoggedCursor(raw, connection)
        else:
            yield connection.make_cursor(raw)  # type: ignore[arg-type]
    finally:
        raw.close()


class _LoggedCursor(CursorDebugWrapper):
    """Logs the statement as written: a prepared statement's execution carries no SQL text."""

    def execute(self, sql, params=None):  # noqa: ANN001, ANN201 - Django's signature
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def columns(model: type[Model], alias: str) -> str:
    """`alias."col", ...` for every concrete field of the model, in the model's field order."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> tuple[tuple[int, tuple, object], ...]:
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.cached_col  # type: ignore[attr-defined]
        steps = tuple(
            connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        )
        if steps:
            found.append((index, steps, column))
    return tuple(found)


def instance(model: type[M], values: Sequence) -> M:
    """The model instance for one model's columns of a row, as `columns()` selected them."""
    values = list(values)
    for index, steps, column in _converters(model, connection.vendor):
        value = values[index]
        for step in steps:
            value = step(value, column, connection)
        values[index] = value
    return model.from_db(connection.alias, None, values)  # type: ignore[arg-type]


def instances(row: Sequence, *models: type[Model]) -> list[Model]:
    """Split a row selected as `columns(m1), columns(m2), ...` into one instance per model."""
    out, start = [], 0
    for model in models:
        end = start + width(model)
        out.append(instance(model, row[start:end]))
        start = end
    return out
