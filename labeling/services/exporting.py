"""Writing preference datasets to files."""

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

EXPORT_FORMATS = ("trl",)


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def export_write(*, rows: Iterable[dict[str, Any]], fileobj: IO[str]) -> int:
    """Write rows as JSONL; returns how many."""
    count = 0
    for line in jsonl_lines(rows):
        fileobj.write(line)
        count += 1
    return count
