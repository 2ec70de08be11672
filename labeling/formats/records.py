"""Reading import files into rows, with every problem named by line and field.

Parsing writes nothing: `services.importing.data_import` first parses the whole file with
these functions and writes only when no row had an error.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

MAX_TEXT_CHARS = 100_000
# A line longer than this is refused before it is parsed (one huge line must not exhaust memory).
MAX_LINE_CHARS = 2_000_000
MAX_ERRORS = 50
# Records nested deeper than this are refused. No format nests more than a few levels, and
# Python's JSON reader and writers take one stack frame per level: a line of 200,000 open
# brackets exhausts the stack (RecursionError) instead of naming its line.
MAX_JSON_DEPTH = 64
ROLES = ("system", "user", "assistant")
# What an imported judgment says, about the row's responses by index.
IMPORTED_CHOICES = ("first", "second", "tie", "both_bad")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        if self.field:
            return f"{where}, {self.field}: {self.message}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportedJudgment:
    """A preference that came with the data: responses[first] vs responses[second]."""

    first: int
    second: int
    choice: str  # one of IMPORTED_CHOICES


@dataclass
class ImportRow:
    line: int
    external_id: str | None
    messages: list[dict[str, str]]
    # (text, source) per response
    responses: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # Rows of preference datasets carry their judgments; their pairs are exactly those judged.
    judgments: list[ImportedJudgment] = field(default_factory=list)
    # Preference datasets rarely have ids: the importer then derives one from the content, so
    # importing the same file twice adds nothing.
    derive_id: bool = False


class RowInvalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def read_records(fileobj: IO[bytes], *, filename: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, record) from JSONL, or from CSV when the name ends in .csv.

    A line that is not JSON, is too long or nests too deep yields a RowInvalid instead of a
    record.
    """
    text = io.TextIOWrapper(fileobj, encoding="utf-8-sig", errors="strict", newline="")
    if filename.lower().endswith(".csv"):
        csv.field_size_limit(MAX_LINE_CHARS)
        reader = csv.DictReader(text, strict=True)
        try:
            for record in reader:
                if None in record:
                    yield reader.line_num, RowInvalid("", "has more cells than the header")
                    continue
                yield reader.line_num, record
        except csv.Error as error:
            yield reader.line_num, RowInvalid("", f"not valid CSV ({error})")
        return
    first_record = True
    for number, line in enumerate(text, start=1):
        if len(line) > MAX_LINE_CHARS:
            yield (
                number,
                RowInvalid(
                    "",
                    f"is {len(line):,} characters, "
                    f"over the {MAX_LINE_CHARS:,}-character line limit",
                ),
            )
            continue
        if not line.strip():
            continue
        # Without its line break: json.loads would otherwise report a row cut off mid-way at
        # "line 2, column 1", the position after the break, rather than where the row ends.
        content = line.rstrip("\r\n")
        first, first_record = first_record, False
        try:
            record = json.loads(content)
            too_deep = _nested_deeper_than(record, MAX_JSON_DEPTH)
        except json.JSONDecodeError as error:
            message = _json_error_text(error, content)
            if first and content.lstrip().startswith("["):
                message += "; the file looks like one JSON array, and imports read JSON Lines: "
                message += "one object per line"
            yield number, RowInvalid("", message)
            continue
        except RecursionError:  # deeper than the interpreter's stack allows: over the limit too
            too_deep = True
        if too_deep:
            message = f"nests arrays or objects more than {MAX_JSON_DEPTH} levels deep"
            yield number, RowInvalid("", message)
        else:
            yield number, record


def _json_error_text(error: json.JSONDecodeError, content: str) -> str:
    """Where a line stops being JSON, as a column of that line (counted in characters)."""
    if error.pos >= len(content.rstrip()):
        return (
            f"not valid JSON: the line ends at column {len(content.rstrip())} before the "
            f"record does ({error.msg}); is the row cut off?"
        )
    return f"not valid JSON ({error.msg} at column {error.pos + 1})"


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in item)
    return False


def as_text(value: Any, field_name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RowInvalid(field_name, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowInvalid(field_name, "is empty")
    if len(value) > MAX_TEXT_CHARS:
        raise RowInvalid(
            field_name, f"is {len(value):,} characters, over the {MAX_TEXT_CHARS:,} limit"
        )
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; say so here rather than fail half-way through writing.
        raise RowInvalid(field_name, "contains a NUL character")
    return value


def as_messages(value: Any, field_name: str) -> list[dict[str, str]]:
    """A prompt given as a string or as a conversation [{role, content}, ...]."""
    if isinstance(value, str):
        return [{"role": "user", "content": as_text(value, field_name)}]
    if not isinstance(value, list) or not value:
        raise RowInvalid(field_name, "must be a string or a non-empty list of {role, content}")
    return [as_message(message, f"{field_name}[{index}]") for index, message in enumerate(value)]


def as_message(message: Any, where: str) -> dict[str, str]:
    if not isinstance(message, dict):
        raise RowInvalid(where, "must be an object with role and content")
    role = message.get("role")
    if role not in ROLES:
        raise RowInvalid(f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
    return {"role": role, "content": as_text(message.get("content"), f"{where}.content")}


def as_external_id(value: Any, field_name: str = "id") -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowInvalid(field_name, f"must be a string or an integer, got {type(value).__name__}")
    if len(str(value)) > 200:
        raise RowInvalid(field_name, "is longer than 200 characters")
    return str(value)


def as_metadata(record: dict[str, Any]) -> dict[str, Any]:
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RowInvalid("metadata", "must be an object")
    return metadata


def require_object(record: Any, *fields: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RowInvalid("", "must be a JSON object")
    for name in fields:
        if name not in record or record[name] is None:
            raise RowInvalid(name, "is missing")
    return record
