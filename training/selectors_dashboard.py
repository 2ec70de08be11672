"""Reads the training dashboard needs beyond training/selectors.py. Nothing here writes."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from labeling.models import Judgment, Project
from training.models import ModelArtifact, TrainingRun
from training.selectors import run_metric_series, runs_for_project

# One poll answers at most this many points; a page that fell behind catches up over the next
# polls, so no single request (or browser) has to swallow a whole long run at once.
POLL_POINTS_LIMIT = 5000
COMPARE_RUNS_LIMIT = 6

# The metrics a reader looks at first, in this order; the rest follow alphabetically, then the
# optimiser's state. Counters and end-of-run summaries are listed in tables but not drawn.
_KEY_METRICS = (
    "candidates_added",
    "pairs_added",
    "loss",
    "accuracy",
    "margin",
    "mean_reward",
    "eval_accuracy",
    "eval_mean_margin",
    "eval_loss",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
    "score",
    "reward",
    # The guards against reward hacking (training/ml/rewards.py), the same names for every method
    # that samples.
    "sequence_kl",
    "response_length",
    "eos_rate",
    "kl",
    "pg_clipfrac",
    "clip_ratio/region_mean",
    "entropy",
    "vf_loss",
    "logratio/chosen",
    "logratio/rejected",
)
_OPTIMISER = ("learning_rate", "grad_norm")
_NOT_DRAWN = ("epoch", "num_tokens", "total_flos", "eval_num_pairs")
_NOT_DRAWN_PREFIXES = ("train_",)
_NOT_DRAWN_SUFFIXES = ("_runtime", "_per_second")
# What the charts script needs to lay out and leave out curves as the tables do.
METRIC_ORDER = {
    "key": _KEY_METRICS,
    "last": _OPTIMISER,
    "hidden": _NOT_DRAWN,
    "hidden_prefixes": _NOT_DRAWN_PREFIXES,
    "hidden_suffixes": _NOT_DRAWN_SUFFIXES,
}


def metric_is_drawn(name: str) -> bool:
    return not (
        name in _NOT_DRAWN
        or name.startswith(_NOT_DRAWN_PREFIXES)
        or name.endswith(_NOT_DRAWN_SUFFIXES)
    )


def metric_sort_key(name: str) -> tuple[int, int, str]:
    if name in _KEY_METRICS:
        return (0, _KEY_METRICS.index(name), name)
    if not metric_is_drawn(name):
        return (3, 0, name)
    if name in _OPTIMISER:
        return (2, 0, name)
    return (1, 0, name)


def key_metrics(metrics: dict[str, Any], limit: int = 4) -> list[tuple[str, Any]]:
    """The few metrics worth a glance in a table cell, most telling first: held-out numbers
    before training ones."""
    names = sorted(
        (n for n in metrics if metric_sort_key(n)[0] < 2),
        key=lambda n: (not n.startswith("eval_"), metric_sort_key(n)),
    )
    return [(name, metrics[name]) for name in names[:limit]]


@dataclass
class RunTiming:
    elapsed: timedelta | None
    eta: timedelta | None  # None when unknown (not started, no step yet) or finished


def run_timing(*, run: TrainingRun, now: datetime | None = None) -> RunTiming:
    """Elapsed time, and the remaining time at the rate of the steps done so far."""
    if run.started_at is None:
        return RunTiming(None, None)
    end = run.finished_at or now or timezone.now()
    elapsed = max(end - run.started_at, timedelta(0))
    eta = None
    if run.status == TrainingRun.Status.RUNNING and run.step and run.total_steps:
        remaining = max(run.total_steps - run.step, 0)
        eta = elapsed / run.step * remaining
    return RunTiming(elapsed, eta)


def run_points_after(
    *, run: TrainingRun, after_id: int, limit: int = POLL_POINTS_LIMIT
) -> list[tuple[int, str, int, float]]:
    """(id, name, step, value) of the run's points after `after_id`, oldest first: one query
    on the (run, id) index whatever the length of the run."""
    return list(
        run.metric_points.filter(id__gt=after_id)
        .order_by("id")
        .values_list("id", "name", "step", "value")[:limit]
    )


def run_for_page(*, project: Project, run_id: int) -> TrainingRun | None:
    """The project's run with its artifact (if any) in the same query, or None."""
    return runs_for_project(project=project).select_related("artifact").filter(pk=run_id).first()


def judgments_total(*, project: Project) -> int:
    return Judgment.objects.filter(project=project).count()


def runs_filtered(*, project: Project, kind: str = "", status: str = "") -> QuerySet[TrainingRun]:
    runs = runs_for_project(project=project).select_related("artifact")
    if kind:
        runs = runs.filter(kind=kind)
    if status:
        runs = runs.filter(status=status)
    return runs


def runs_active(*, project: Project) -> QuerySet[TrainingRun]:
    return runs_for_project(project=project).filter(
        status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
    )


def artifacts_listed(*, project: Project) -> QuerySet[ModelArtifact]:
    return (
        ModelArtifact.objects.filter(project=project)
        .select_related("run", "run__snapshot")
        .order_by("-created_at", "-id")
    )


@dataclass
class Comparison:
    runs: list[TrainingRun]
    # [{"name": metric, "series": [{"label": "run 3", "points": [[step, value], ...]}, ...]}]
    charts: list[dict[str, Any]] = field(default_factory=list)
    # (metric, [final value per run or None])
    final_rows: list[tuple[str, list[Any]]] = field(default_factory=list)
    # (what differs, [value per run])
    differences: list[tuple[str, list[Any]]] = field(default_factory=list)


def _snapshot_facts(run: TrainingRun) -> dict[str, Any]:
    snapshot = run.snapshot
    if snapshot is None:  # a generation job or a scoring run reads no judgments
        return {"snapshot": None}
    facts = {
        "snapshot": snapshot.pk,
        "snapshot rows (train + eval)": f"{snapshot.train_rows} + {snapshot.eval_rows}",
        "snapshot hash": snapshot.content_hash[:12],
        "snapshot seed": snapshot.seed,
        "snapshot eval fraction": snapshot.eval_fraction,
    }
    facts.update({f"snapshot filter {k}": v for k, v in sorted(snapshot.filters.items())})
    return facts


def _run_facts(run: TrainingRun) -> dict[str, Any]:
    facts: dict[str, Any] = {"kind": run.get_kind_display(), "base model": run.base_label}
    if run.reward_artifact_id:
        facts["reward model"] = f"artifact {run.reward_artifact_id}"
    facts.update(_snapshot_facts(run))
    facts.update({f"config {k}": v for k, v in sorted(run.config.items())})
    return facts


def runs_comparison(*, project: Project, run_ids: list[int]) -> Comparison:
    """Curves overlaid per metric, final metrics side by side, and only what differs."""
    wanted = list(dict.fromkeys(run_ids))[:COMPARE_RUNS_LIMIT]
    by_id = {run.pk: run for run in runs_for_project(project=project).filter(pk__in=wanted)}
    runs = [by_id[pk] for pk in wanted if pk in by_id]
    comparison = Comparison(runs=runs)
    series = [run_metric_series(run=run) for run in runs]
    names = sorted(
        {name for s in series for name in s if metric_is_drawn(name)}, key=metric_sort_key
    )
    for name in names:
        comparison.charts.append(
            {
                "name": name,
                "series": [
                    {"label": f"run {run.pk}", "points": [list(p) for p in s.get(name, [])]}
                    for run, s in zip(runs, series, strict=True)
                ],
            }
        )
    finals = sorted({name for run in runs for name in run.final_metrics}, key=metric_sort_key)
    comparison.final_rows = [
        (name, [run.final_metrics.get(name) for run in runs]) for name in finals
    ]
    facts = [_run_facts(run) for run in runs]
    keys = list(dict.fromkeys(key for f in facts for key in f))
    for key in keys:
        values = [f.get(key) for f in facts]
        if len({repr(v) for v in values}) > 1:
            comparison.differences.append((key, values))
    return comparison
