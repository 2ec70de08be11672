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
MAX_ERRORS = 50
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class ImportRow:
    line: int
    external_id: str | None
    messages: list[dict[str, str]]
    # (text, source) per response
    responses: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


class RowInvalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def read_records(fileobj: IO[bytes], *, filename: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, record) from JSONL, or from CSV when the name ends in .csv.

    A line that is not JSON yields a RowInvalid instead of a record.
    """
    text = io.TextIOWrapper(fileobj, encoding="utf-8-sig", errors="strict", newline="")
    if filename.lower().endswith(".csv"):
        reader = csv.DictReader(text)
        for record in reader:
            yield reader.line_num, record
        return
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            yield number, RowInvalid("", f"not valid JSON ({error.msg} at column {error.colno})")


def as_text(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise RowInvalid(field_name, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RowInvalid(field_name, "is empty")
    if len(value) > MAX_TEXT_CHARS:
        raise RowInvalid(field_name, f"is {len(value):,} characters, over the {MAX_TEXT_CHARS:,} limit")
    return value


def as_messages(value: Any, field_name: str) -> list[dict[str, str]]:
    """A prompt given as a string or as a conversation [{role, content}, ...]."""
    if isinstance(value, str):
        return [{"role": "user", "content": as_text(value, field_name)}]
    if not isinstance(value, list) or not value:
        raise RowInvalid(field_name, "must be a string or a non-empty list of {role, content}")
    messages = []
    for index, message in enumerate(value):
        where = f"{field_name}[{index}]"
        if not isinstance(message, dict):
            raise RowInvalid(where, "must be an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise RowInvalid(f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        messages.append({"role": role, "content": as_text(message.get("content"), f"{where}.content")})
    return messages


def as_external_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowInvalid("id", f"must be a string or an integer, got {type(value).__name__}")
    if len(str(value)) > 200:
        raise RowInvalid("id", "is longer than 200 characters")
    return str(value)


def candidates_row(line: int, record: Any) -> ImportRow:
    """`{"id", "prompt", "responses": [{"text", "model"} | "text", ...]}` (JSONL), or CSV
    columns `id, prompt, response_1, response_2, ...` with optional `model_1, model_2, ...`."""
    if not isinstance(record, dict):
        raise RowInvalid("", "must be a JSON object")
    if "prompt" not in record:
        raise RowInvalid("prompt", "is missing")
    if "responses" in record:
        raw = record["responses"]
        if not isinstance(raw, list):
            raise RowInvalid("responses", "must be a list")
    else:
        numbered = sorted(
            (int(key.split("_")[1]), key)
            for key in record
            if key.startswith("response_") and key.split("_")[1].isdigit()
        )
        if not numbered:
            raise RowInvalid("responses", "is missing")
        raw = [
            {"text": record[key], "model": record.get(f"model_{n}") or "imported"}
            for n, key in numbered
            if record[key]
        ]
    responses = []
    for index, item in enumerate(raw):
        where = f"responses[{index}]"
        if isinstance(item, str):
            responses.append((as_text(item, where), "imported"))
            continue
        if not isinstance(item, dict):
            raise RowInvalid(where, "must be a string or an object with text")
        source = item.get("model") or item.get("source") or "imported"
        if not isinstance(source, str):
            raise RowInvalid(f"{where}.model", "must be a string")
        responses.append((as_text(item.get("text"), f"{where}.text"), source[:200]))
    if len(responses) < 2:
        raise RowInvalid("responses", f"needs at least 2 responses, got {len(responses)}")
    if len({text for text, _ in responses}) < len(responses):
        raise RowInvalid("responses", "has the same text twice")
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RowInvalid("metadata", "must be an object")
    return ImportRow(
        line=line,
        external_id=as_external_id(record.get("id")),
        messages=as_messages(record["prompt"], "prompt"),
        responses=responses,
        metadata=metadata,
    )


PARSERS = {"candidates": candidates_row}
