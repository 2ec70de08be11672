"""Freezing a project's judgments into a DatasetSnapshot: rows, split, hash, files."""

import hashlib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max

from labeling.formats.exports import AGGREGATES as EXPORT_AGGREGATES
from labeling.formats.exports import CROWD_MODELS, ExportFilters, ExportOptions
from labeling.models import Judgment, Project
from labeling.selectors import preference_rows
from labeling.selectors_export import export_empty_reason
from training.models import DatasetSnapshot, data_dir
from training.storage import publish

# What a snapshot may be filtered by: the keyword arguments of preference_rows.
DEFAULT_FILTERS: dict[str, Any] = {
    "aggregate": "all",
    "conversational": True,
    "with_margin": True,
    "include_gold": True,
}
# The exports' aggregates that count each pair's own votes; the crowd models are for exports.
AGGREGATES = tuple(a for a in EXPORT_AGGREGATES if a not in CROWD_MODELS)


class SnapshotRefused(ValueError):
    """The snapshot cannot be made; the message names what to change."""


def snapshot_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    """The full filter set, or SnapshotRefused naming an unknown or ill-typed filter."""
    merged = dict(DEFAULT_FILTERS)
    for key, value in (filters or {}).items():
        if key not in DEFAULT_FILTERS:
            raise SnapshotRefused(
                f"filters.{key}: unknown filter; expected {', '.join(DEFAULT_FILTERS)}"
            )
        if key == "aggregate" and value not in AGGREGATES:
            raise SnapshotRefused(f"filters.aggregate: must be one of {', '.join(AGGREGATES)}")
        if key != "aggregate" and not isinstance(value, bool):
            raise SnapshotRefused(f"filters.{key}: expected true or false, got {value!r}")
        merged[key] = value
    return merged


def split_rows(
    rows: list[dict[str, Any]], *, eval_fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split by prompt, so no eval prompt (or repeated judgment of one pair) is seen in training.

    Deterministic in (rows, eval_fraction, seed); keeps at least one training row.
    """
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(json.dumps(row["prompt"], sort_keys=True), []).append(index)
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    wanted = round(len(rows) * eval_fraction)
    eval_indices: set[int] = set()
    for key in keys:
        if len(eval_indices) >= wanted or len(eval_indices) + len(groups[key]) >= len(rows):
            continue
        eval_indices.update(groups[key])
    train = [row for i, row in enumerate(rows) if i not in eval_indices]
    evaluation = [row for i, row in enumerate(rows) if i in eval_indices]
    return train, evaluation


def _write_jsonl(path: Path, rows: list[dict[str, Any]], digest: "hashlib._Hash") -> None:
    with path.open("wb") as handle:
        for row in rows:
            line = (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode()
            handle.write(line)
            digest.update(line)


def snapshot_create(
    *,
    project: Project,
    filters: dict[str, Any] | None = None,
    eval_fraction: float = 0.1,
    seed: int = 0,
    created_by: Any = None,
) -> DatasetSnapshot:
    """Freeze the project's preference rows now; refuse (writing nothing) if there are none."""
    full_filters = snapshot_filters(filters)
    if not isinstance(eval_fraction, int | float) or not 0 <= eval_fraction < 1:
        raise SnapshotRefused(f"eval_fraction: must be in [0, 1), got {eval_fraction!r}")
    # Read before the rows: a judgment arriving meanwhile may be in the rows and still count as
    # "new" for the schedule, which errs towards training once too often, never too rarely.
    last_judgment_id = Judgment.objects.filter(project=project).aggregate(m=Max("id"))["m"]
    rows = list(preference_rows(project=project, **full_filters))
    if not rows:
        # Why, as an empty export says it: no judgments, all ties, or (easily missed) every
        # judgment by annotators excluded on the quality page.
        options = ExportOptions(
            aggregate=full_filters["aggregate"],
            filters=ExportFilters(include_gold=full_filters["include_gold"]),
        )
        raise SnapshotRefused(
            f"project {project.slug!r} has no preference rows yet: "
            + export_empty_reason(project=project, options=options)
        )
    train, evaluation = split_rows(rows, eval_fraction=float(eval_fraction), seed=seed)
    root = data_dir() / "snapshots"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        digest = hashlib.sha256()
        _write_jsonl(staging / "train.jsonl", train, digest)
        _write_jsonl(staging / "eval.jsonl", evaluation, digest)
        for name in ("train.jsonl", "eval.jsonl"):
            os.chmod(staging / name, 0o444)  # immutable once written
        with transaction.atomic():
            snapshot = DatasetSnapshot.objects.create(
                project=project,
                filters=full_filters,
                content_hash=digest.hexdigest(),
                train_rows=len(train),
                eval_rows=len(evaluation),
                seed=seed,
                eval_fraction=float(eval_fraction),
                last_judgment_id=last_judgment_id,
                created_by=created_by,
            )
            if snapshot.directory.exists():  # left by a rolled-back transaction that reused the id
                shutil.rmtree(snapshot.directory)
            os.replace(staging, snapshot.directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(snapshot.directory)  # for training workers on other machines (training/storage.py)
    return snapshot
