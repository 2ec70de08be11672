"""Active learning: a reward model scores the project's open pairs (a `score` run), and the
project's selection strategy turns the scores into the queue's order.

The run is an ordinary run of the training queue (progress, log, cancel, heartbeat, the
dashboard): `run_config_write` asks `scoring_input_write` for the pairs file, the child
(training/ml/score.py) writes `scores.jsonl`, and on success `scores_ingest` stores each
pair's P(a > b), margin and time of scoring, and the new priorities, in batches
(labeling.services.selection).
"""

import json
import logging
from pathlib import Path
from typing import Any

from django.utils import timezone

from labeling.models import Project
from labeling.selectors_selection import open_pairs_for_scoring
from labeling.services.selection import score_after_reward, selection_apply
from training.ml.score import SCORES_FILE
from training.models import ModelArtifact, TrainingKind, TrainingRun
from training.selectors import run_base_default
from training.services.runs import TrainingRefused, run_create

logger = logging.getLogger(__name__)


def scoring_launch(
    *,
    project: Project,
    reward: str | ModelArtifact | None = None,
    user: Any = None,
    config_values: dict[str, Any] | None = None,
) -> TrainingRun:
    """Queue a run that scores the project's open pairs with `reward` (an artifact, "artifact:ID",
    or a reward-model directory under PREFAPP_MODEL_ROOTS; default: the current reward model).

    TrainingRefused names what is wrong; then nothing is written.
    """
    if reward is None:
        reward = run_base_default(project=project, kind=TrainingKind.SCORE)
        if reward is None:
            raise TrainingRefused(
                "reward: the project has no current reward model; train one or name one"
            )
    return run_create(
        project=project,
        kind=TrainingKind.SCORE,
        base=reward,
        config_values=config_values or {},
        created_by=user,
    )


def scoring_input_write(*, run: TrainingRun) -> Path:
    """The pairs the child scores: the project's open pairs now (ml/score.py's input)."""
    path = run.directory / "pairs.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for row in open_pairs_for_scoring(project=run.project):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def scores_ingest(*, run: TrainingRun) -> bool:
    """Store a finished scoring run's predictions and reorder the queue; False when the run was
    cancelled meanwhile (the batches written by then stay: each pair's values are whole)."""
    new: dict[int, tuple[float, float]] = {}
    with (run.output_dir / SCORES_FILE).open(encoding="utf-8") as scores:
        for line in scores:
            row = json.loads(line)
            new[int(row["id"])] = (float(row["p_a"]), float(row["margin"]))

    def still_running() -> bool:
        # Asked between batches; also the heartbeat, so a long write is not taken for a dead
        # worker (runs_detect_dead).
        return bool(
            TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        )

    project = Project.objects.get(pk=run.project_id)  # the strategy as it is now
    selection_apply(project=project, new=new, scored_at=timezone.now(), keep_going=still_running)
    return still_running()


def scoring_follow_up(*, run_id: int) -> TrainingRun | None:
    """After a reward-model run succeeded: score the open pairs with its model, when the
    project's settings ask for it (labeling.services.selection.score_after_reward)."""
    run = (
        TrainingRun.objects.select_related("project", "artifact")
        .filter(pk=run_id, kind=TrainingKind.REWARD, status=TrainingRun.Status.SUCCEEDED)
        .first()
    )
    if run is None or not score_after_reward(run.project):
        return None
    try:
        return scoring_launch(project=run.project, reward=run.artifact)
    except TrainingRefused as error:
        logger.warning("run %s: scoring its pairs was refused: %s", run_id, error)
        return None
