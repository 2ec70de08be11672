"""Importing prompts, candidate responses and existing preferences: validate the whole file,
then write it at once.

Imported preferences become pairs with judgments whose source is "imported" (no annotator).
They count toward the pair's overlap like any judgment: `judgment_count` and `taken` both
include them and `is_full` follows, so a pair that came with `overlap` preferences is not
served again. Raise the project's overlap to have annotators label imported pairs as well.
The pairs are new rows written in this transaction, so no lease can race with the counters.

With `as_gold`, preferences become gold pairs instead: the known answer is stored on the pair
(`gold_choice`, the majority of the row's votes), no judgment is written, and annotators are
shown the pair at the project's gold rate so that their gold accuracy can be measured.
"""

import hashlib
import itertools
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from labeling.formats.parsers import PARSERS
from labeling.formats.records import MAX_ERRORS, ImportRow, RowError, RowInvalid, read_records
from labeling.models import AuditAction, Candidate, Choice, Judgment, Pair, Project, Prompt
from labeling.services.audit import audit_record

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
    judgments: int = 0
    gold_pairs: int = 0
    skipped_existing: int = 0
    # Rows left out with skip_invalid=True, with their reasons.
    errors: list[RowError] = field(default_factory=list)


def data_parse(
    fileobj: IO[bytes], *, filename: str, format: str, skip_invalid: bool = False
) -> tuple[list[ImportRow], list[RowError]]:
    """Parse and validate a whole file; write nothing.

    Raises ImportFailed listing the errors. With skip_invalid, rows with errors are left out
    and returned as errors instead (a file that is empty, too big or not text still fails).
    """
    if format not in PARSERS:
        raise ImportFailed([RowError(0, "format", f"unknown format {format!r}")])
    size = _size(fileobj)
    if size == 0:
        raise ImportFailed([RowError(0, "", f"{filename} is empty")])
    if size > settings.PREFAPP_MAX_IMPORT_BYTES:
        raise ImportFailed(
            [
                RowError(
                    0,
                    "",
                    f"{filename} is {size:,} bytes, over the "
                    f"{settings.PREFAPP_MAX_IMPORT_BYTES:,}-byte import limit",
                )
            ]
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
                    errors.append(
                        RowError(
                            line,
                            "id",
                            f"duplicate id {row.external_id!r} (first on line "
                            f"{seen_ids[row.external_id]})",
                        )
                    )
                    continue
                if row.external_id is not None:
                    seen_ids[row.external_id] = line
                rows.append(row)
            if len(errors) >= MAX_ERRORS and not skip_invalid:
                errors.append(RowError(0, "", f"stopped after {MAX_ERRORS} errors"))
                break
    except UnicodeDecodeError as error:
        raise ImportFailed(
            [RowError(0, "", f"{filename} is not UTF-8 text ({error.reason})")]
        ) from None
    if errors and not skip_invalid:
        raise ImportFailed(errors)
    if not rows:
        raise ImportFailed(errors + [RowError(0, "", f"{filename} has no valid rows")])
    _derive_ids(rows, format=format, taken=set(seen_ids))
    return rows, errors


def data_import(
    *,
    project: Project,
    fileobj: IO[bytes],
    filename: str,
    format: str = "candidates",
    skip_invalid: bool = False,
    as_gold: bool = False,
    actor: User | None = None,
) -> ImportResult:
    """Import a file into the project: all rows or, on any error, none (unless skip_invalid,
    which leaves out the rows with errors and reports them). A person's import is audited."""
    rows, errors = data_parse(fileobj, filename=filename, format=format, skip_invalid=skip_invalid)
    if as_gold and (missing := next((r for r in rows if not r.judgments), None)):
        raise ImportFailed(
            [
                RowError(
                    missing.line,
                    "",
                    "gold pairs need a preference, and this "
                    f"row has none (the {format!r} format carries none)",
                )
            ]
        )
    with transaction.atomic():
        result = rows_write(project=project, rows=rows, as_gold=as_gold)
        if actor is not None:
            audit_record(
                project=project,
                actor=actor,
                action=AuditAction.DATA_IMPORTED,
                details={"file": filename, "format": format, "summary": import_summary(result)},
            )
    result.errors = errors
    return result


def import_summary(result: ImportResult) -> str:
    text = (
        f"Imported {result.prompts} prompts, {result.candidates} responses, "
        f"{result.pairs} pairs, {result.judgments} imported judgments"
    )
    if result.gold_pairs:
        text += f", {result.gold_pairs} of the pairs gold"
    if result.skipped_existing:
        text += f"; {result.skipped_existing} rows were already there"
    if result.errors:
        text += f"; {len(result.errors)} invalid rows were left out"
    return text


def rows_write(
    *, project: Project, rows: list[ImportRow], as_gold: bool = False, batch_size: int = 2000
) -> ImportResult:
    result = ImportResult()
    with transaction.atomic():
        existing: set[str] = set()
        ids = [r.external_id for r in rows if r.external_id]
        for start in range(0, len(ids), 10_000):
            existing.update(
                external_id
                for external_id in Prompt.objects.filter(
                    project=project, external_id__in=ids[start : start + 10_000]
                ).values_list("external_id", flat=True)
                if external_id is not None
            )
        new_rows = [r for r in rows if r.external_id is None or r.external_id not in existing]
        result.skipped_existing = len(rows) - len(new_rows)
        for start in range(0, len(new_rows), batch_size):
            _write_batch(project, new_rows[start : start + batch_size], result, as_gold=as_gold)
    return result


def _write_batch(
    project: Project, rows: list[ImportRow], result: ImportResult, *, as_gold: bool
) -> None:
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, external_id=r.external_id, messages=r.messages, metadata=r.metadata)
        for r in rows
    )
    candidates = Candidate.objects.bulk_create(
        Candidate(prompt=prompt, text=text, source=source)
        for prompt, row in zip(prompts, rows, strict=True)
        for text, source in row.responses
    )
    pairs: list[Pair] = []
    # (index of the pair, the candidate the judgment calls "first", the imported choice)
    judgments: list[tuple[int, Candidate, str]] = []
    offset = 0
    for prompt, row in zip(prompts, rows, strict=True):
        mine = candidates[offset : offset + len(row.responses)]
        offset += len(row.responses)
        if row.judgments:
            votes = Counter((min(j.first, j.second), max(j.first, j.second)) for j in row.judgments)
            indices = list(votes)
        else:
            votes = Counter()
            indices = pair_indices(len(mine), seed=row.external_id or str(prompt.pk))
        where: dict[tuple[int, int], int] = {}
        for first, second in indices:
            a, b = sorted((mine[first], mine[second]), key=lambda c: c.pk)
            count = votes[(first, second)]
            where[(first, second)] = len(pairs)
            pairs.append(
                Pair(
                    project=project,
                    prompt=prompt,
                    candidate_a=a,
                    candidate_b=b,
                    judgment_count=count,
                    taken=count,
                    is_full=count >= project.overlap and count > 0,
                )
            )
        for j in row.judgments:
            key = (min(j.first, j.second), max(j.first, j.second))
            judgments.append((where[key], mine[j.first], j.choice))
    if as_gold:
        _make_gold(pairs, judgments)
        judgments = []
        result.gold_pairs += len(pairs)
    Pair.objects.bulk_create(pairs)
    Judgment.objects.bulk_create(
        Judgment(
            project=project,
            pair=pairs[index],
            annotator=None,
            source=Judgment.Source.IMPORTED,
            choice=_canonical_choice(pairs[index], first, choice),
            left_is_a=None,
        )
        for index, first, choice in judgments
    )
    result.prompts += len(prompts)
    result.candidates += len(candidates)
    result.pairs += len(pairs)
    result.judgments += len(judgments)


def _make_gold(pairs: list[Pair], judgments: list[tuple[int, Candidate, str]]) -> None:
    """Turn the pairs' imported votes into their gold answers (the most frequent vote)."""
    votes: dict[int, Counter] = {}
    for index, first, choice in judgments:
        votes.setdefault(index, Counter())[_canonical_choice(pairs[index], first, choice)] += 1
    for index, pair in enumerate(pairs):
        pair.is_gold = True
        pair.gold_choice = votes[index].most_common(1)[0][0]
        pair.judgment_count = pair.taken = 0
        pair.is_full = False


def _canonical_choice(pair: Pair, first_candidate: Candidate, choice: str) -> str:
    """An imported choice about (first, second) as a choice about the pair's (a, b)."""
    if choice in ("tie", "both_bad"):
        return Choice.TIE if choice == "tie" else Choice.BOTH_BAD
    first_is_a = first_candidate.pk == pair.candidate_a_id
    first_won = choice == "first"
    return Choice.A if first_won == first_is_a else Choice.B


def pair_indices(count: int, *, seed: str) -> list[tuple[int, int]]:
    """All pairs of up to ALL_PAIRS_UP_TO responses; beyond that a capped, seeded sample in
    which every response appears at least once (a shuffled chain, then random extras)."""
    if count <= ALL_PAIRS_UP_TO:
        return list(itertools.combinations(range(count), 2))
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest(), 16))
    order = list(range(count))
    rng.shuffle(order)
    chosen = {(min(p), max(p)) for p in zip(order[::2], order[1::2], strict=False)}
    if count % 2:
        chosen.add((min(order[-1], order[0]), max(order[-1], order[0])))
    others = [p for p in itertools.combinations(range(count), 2) if p not in chosen]
    rng.shuffle(others)
    cap = max(MAX_PAIRS_PER_PROMPT, len(chosen))
    return sorted(chosen) + others[: cap - len(chosen)]


def _derive_ids(rows: list[ImportRow], *, format: str, taken: set[str]) -> None:
    """Give id-less preference rows an id from their content: importing the file again adds
    nothing, while identical rows in one file stay distinct (#2, #3, ...)."""
    occurrences: Counter[str] = Counter()
    for row in rows:
        if not row.derive_id or row.external_id is not None:
            continue
        content = json.dumps(
            [row.messages, row.responses, [vars(j) for j in row.judgments]],
            ensure_ascii=False,
            sort_keys=True,
        )
        digest = hashlib.sha256(content.encode()).hexdigest()[:24]
        occurrences[digest] += 1
        n = occurrences[digest]
        row.external_id = f"{format}:{digest}" + (f"#{n}" if n > 1 else "")
        taken.add(row.external_id)


def _size(fileobj: IO[bytes]) -> int:
    fileobj.seek(0, 2)
    size = fileobj.tell()
    fileobj.seek(0)
    return size
