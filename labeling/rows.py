"""Model instances from the rows of hand-written SQL, for the labelling request path.

The statements in `labeling/sql.py` select the columns that `columns()` lists, several models
in one row (a lease with its pair, prompt and candidates), and turn each model's slice of the
row back into an instance here, with the same conversions the ORM applies (JSON decoding,
SQLite's booleans and datetimes), so templates and services see ordinary models.

This is the one module that uses Django internals (the fields' column list and database
converters); docs/DEVELOPING.md ("Upgrade notes") names them and the benchmark that keeps them.
"""

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


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


def instances(row: Sequence, *models: type[Model]) -> list[Any]:
    """Split a row selected as `columns(m1), columns(m2), ...` into one instance per model."""
    out, start = [], 0
    for model in models:
        end = start + width(model)
        out.append(instance(model, row[start:end]))
        start = end
    return out
