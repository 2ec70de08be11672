"""Import parsing, kept importable from here: the code lives in `labeling.formats`."""

from labeling.formats.parsers import PARSERS, candidates_row
from labeling.formats.records import (
    MAX_ERRORS,
    MAX_TEXT_CHARS,
    ImportedJudgment,
    ImportRow,
    RowError,
    RowInvalid,
    as_external_id,
    as_messages,
    as_text,
    read_records,
)

__all__ = [
    "MAX_ERRORS",
    "MAX_TEXT_CHARS",
    "PARSERS",
    "ImportRow",
    "ImportedJudgment",
    "RowError",
    "RowInvalid",
    "as_external_id",
    "as_messages",
    "as_text",
    "candidates_row",
    "read_records",
]
