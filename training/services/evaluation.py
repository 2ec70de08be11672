"""The input of an evaluation run: the project's held-out prompts, written for the child."""

import json
from pathlib import Path

from training.models import TrainingRun
from training.selectors_rounds import heldout_prompts


class EvaluationRefused(ValueError):
    """An evaluation cannot run; the message says what the project lacks."""


def evaluation_prompts_write(*, run: TrainingRun) -> Path:
    """Write the held-out prompts (as the child reads them, evaluate.read_prompts) into the
    run's directory; EvaluationRefused when the project has none."""
    prompts = list(heldout_prompts(project=run.project))
    if not prompts:
        raise EvaluationRefused(f"project {run.project.slug!r} has no held-out evaluation prompts")
    run.directory.mkdir(parents=True, exist_ok=True)
    path = run.directory / "prompts.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for prompt in prompts:
            row = {"id": prompt.pk, "prompt": prompt.messages}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
