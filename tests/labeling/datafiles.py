"""Small import files the tests write, and helpers to import them."""

import csv
import io
import json
from pathlib import Path
from typing import Any

from labeling.models import Candidate, Judgment, Pair, Prompt
from labeling.services.importing import ImportResult, data_import


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def import_bytes(
    project, content: bytes, *, format: str, filename: str = "data.jsonl", **kwargs
) -> ImportResult:
    return data_import(
        project=project, fileobj=io.BytesIO(content), filename=filename, format=format, **kwargs
    )


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def db_counts() -> tuple[int, int, int, int]:
    return (
        Prompt.objects.count(),
        Candidate.objects.count(),
        Pair.objects.count(),
        Judgment.objects.count(),
    )


def hh(*turns: str) -> str:
    """A transcript from alternating human / assistant turns."""
    return "".join(
        ("\n\nHuman: " if i % 2 == 0 else "\n\nAssistant: ") + t for i, t in enumerate(turns)
    )


TRL_STANDARD = [
    {"prompt": "What colour is the sky?", "chosen": "Blue.", "rejected": "Green."},
    {"prompt": "2 + 2?", "chosen": "4", "rejected": "5"},
]
TRL_CONVERSATIONAL = [
    {
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
    },
]
HH_ROWS = [
    {
        "chosen": hh("Hi, how do I boil an egg?", "Put it in boiling water for 8 minutes."),
        "rejected": hh("Hi, how do I boil an egg?", "I don't know."),
    },
    {
        "chosen": hh("Tell me a joke", "Why?", "Because I asked", "Knock knock."),
        "rejected": hh("Tell me a joke", "Why?", "Because I asked", "  No."),
    },
    # The real data has empty preferred answers (a refusal by silence).
    {"chosen": hh("Say something rude", ""), "rejected": hh("Say something rude", "Ok")},
]


def add_judgment(
    pair: Pair,
    user,
    choice: str,
    *,
    left_is_a: bool | None = True,
    strength: int | None = None,
    time_spent_ms: int | None = 4000,
    created_at=None,
    rationale: str = "",
) -> Judgment:
    """A stored judgment, as the judgment service would leave it (no lease needed here)."""
    judgment = Judgment.objects.create(
        project=pair.project,
        pair=pair,
        annotator=user,
        choice=choice,
        strength=strength,
        left_is_a=left_is_a,
        time_spent_ms=time_spent_ms,
        rationale=rationale,
    )
    if created_at is not None:
        Judgment.objects.filter(pk=judgment.pk).update(created_at=created_at)
    Pair.objects.filter(pk=pair.pk).update(judgment_count=pair.judgments.count())
    return judgment
