"""Importing prompts and candidate responses: validate the whole file, then write it at once."""

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.db import transaction

from labeling.importers import MAX_ERRORS, PARSERS, ImportRow, RowError, RowInvalid, read_records
from labeling.models import Candidate, Pair, Project, Prompt

# Every pair of up to this many responses; beyond it a sample of pairs (each response in one).
ALL_PAIRS_UP_TO = 4
MAX_PAIRS_PER_PROMPT = 6


class ImportFailed(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


@dataclass
class ImportResult:
    prompts: int = 0
    candidates: int = 0
    pairs: int = 0
    skipped_existing: int = 0
    errors: list[RowError] = field(default_factory=list)


def data_parse(fileobj: IO[bytes], *, filename: str, format: str) -> list[ImportRow]:
    """Parse and validate a whole file; raise ImportFailed listing the errors, write nothing."""
    if format not in PARSERS:
        raise ImportFailed([RowError(0, "format", f"unknown format {format!r}")])
    size = _size(fileobj)
    if size == 0:
        raise ImportFailed([RowError(0, "", f"{filename} is empty")])
    if size > settings.PREFAPP_MAX_IMPORT_BYTES:
        raise ImportFailed(
            [RowError(0, "", f"{filename} is {size:,} bytes, over the "
                      f"{settings.PREFAPP_MAX_IMPORT_BYTES:,}-byte import limit")]
        )
    parse = PARSERS[format]
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen_ids: dict[str, int] = {}
    try:
        for line, record in read_records(fileobj, filename=filename):
            try:
                if isinstance(record, RowInvalid):
                    raise record
                row = parse(line, record)
            except RowInvalid as error:
                errors.append(RowError(line, error.field, error.message))
            else:
                if row.external_id is not None and row.external_id in seen_ids:
                    errors.append(RowError(
                        line, "id", f"duplicate id {row.external_id!r} (first on line "
                        f"{seen_ids[row.external_id]})"))
                elif row.external_id is not None:
                    seen_ids[row.external_id] = line
                rows.append(row)
            if len(errors) >= MAX_ERRORS:
                errors.append(RowError(0, "", f"stopped after {MAX_ERRORS} errors"))
                break
    except UnicodeDecodeError as error:
        errors.append(RowError(0, "", f"{filename} is not UTF-8 text ({error.reason})"))
    if not errors and not rows:
        errors.append(RowError(0, "", f"{filename} has no rows"))
    if errors:
        raise ImportFailed(errors)
    return rows


def data_import(
    *, project: Project, fileobj: IO[bytes], filename: str, format: str = "candidates"
) -> ImportResult:
    """Import a file into the project: all rows or, on any error, none."""
    rows = data_parse(fileobj, filename=filename, format=format)
    return rows_write(project=project, rows=rows)


def rows_write(*, project: Project, rows: list[ImportRow], batch_size: int = 2000) -> ImportResult:
    result = ImportResult()
    with transaction.atomic():
        existing = set(
            Prompt.objects.filter(
                project=project, external_id__in=[r.external_id for r in rows if r.external_id]
            ).values_list("external_id", flat=True)
        )
        new_rows = [r for r in rows if r.external_id is None or r.external_id not in existing]
        result.skipped_existing = len(rows) - len(new_rows)
        for start in range(0, len(new_rows), batch_size):
            _write_batch(project, new_rows[start : start + batch_size], result)
    return result


def _write_batch(project: Project, rows: list[ImportRow], result: ImportResult) -> None:
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, external_id=r.external_id, messages=r.messages, metadata=r.metadata)
        for r in rows
    )
    candidates = Candidate.objects.bulk_create(
        Candidate(prompt=prompt, text=text, source=source)
        for prompt, row in zip(prompts, rows, strict=True)
        for text, source in row.responses
    )
    pairs = []
    offset = 0
    for prompt, row in zip(prompts, rows, strict=True):
        mine = candidates[offset : offset + len(row.responses)]
        offset += len(row.responses)
        for first, second in pair_indices(len(mine), seed=row.external_id or str(prompt.pk)):
            a, b = sorted((mine[first], mine[second]), key=lambda c: c.pk)
            pairs.append(Pair(project=project, prompt=prompt, candidate_a=a, candidate_b=b))
    Pair.objects.bulk_create(pairs)
    result.prompts += len(prompts)
    result.candidates += len(candidates)
    result.pairs += len(pairs)


def pair_indices(count: int, *, seed: str) -> list[tuple[int, int]]:
    """All pairs of up to ALL_PAIRS_UP_TO responses; beyond that a capped, seeded sample in
    which every response appears at least once (a shuffled chain, then random extras)."""
    if count <= ALL_PAIRS_UP_TO:
        return list(itertools.combinations(range(count), 2))
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest(), 16))
    order = list(range(count))
    rng.shuffle(order)
    chosen = {tuple(sorted(p)) for p in zip(order[::2], order[1::2], strict=False)}
    if count % 2:
        chosen.add(tuple(sorted((order[-1], order[0]))))
    others = [p for p in itertools.combinations(range(count), 2) if p not in chosen]
    rng.shuffle(others)
    cap = max(MAX_PAIRS_PER_PROMPT, len(chosen))
    return sorted(chosen) + others[: cap - len(chosen)]


def _size(fileobj: IO[bytes]) -> int:
    fileobj.seek(0, 2)
    size = fileobj.tell()
    fileobj.seek(0)
    return size
