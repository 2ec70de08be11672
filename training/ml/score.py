"""Score open pairs with a reward model: the child side of a `score` run (active learning).

Input (the run's `train_file`): JSONL rows {"id": pair id, "prompt": ..., "a": ..., "b": ...},
formatted by the Django side exactly as a snapshot's conversational preference rows are, so the
reward model reads them as it read its training data. Output: `scores.jsonl` in the work
directory, one {"id", "score_a", "score_b", "margin", "p_a"} per row, where margin = r(a) - r(b)
and p_a = P(a > b) = sigmoid(margin). Scoring goes through `RewardScorer`, the scorer PPO,
RLOO/GRPO and evaluation use.
"""

import json
import math
from pathlib import Path
from typing import Any

from . import events
from .config import ScoreRunConfig

SCORES_FILE = "scores.jsonl"
# Pairs per progress event (and per write): often enough for the dashboard's progress bar.
_CHUNK_PAIRS = 256


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def score_pairs(
    config: ScoreRunConfig, reward_model: str, pairs_file: str, work_dir: str
) -> dict[str, float]:
    from .scorer import RewardScorer

    rows: list[dict[str, Any]] = [
        json.loads(line) for line in Path(pairs_file).read_text(encoding="utf-8").splitlines()
    ]
    chunks = math.ceil(len(rows) / _CHUNK_PAIRS)
    events.emit("start", total_steps=chunks)
    scorer = RewardScorer(reward_model, batch_size=config.batch_size, max_length=config.max_length)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    margins: list[float] = []
    with Path(work_dir, SCORES_FILE).open("w", encoding="utf-8") as out:
        for step, start in enumerate(range(0, len(rows), _CHUNK_PAIRS), start=1):
            chunk = rows[start : start + _CHUNK_PAIRS]
            prompts = [row["prompt"] for row in chunk]
            answers = [r["a"] for r in chunk] + [r["b"] for r in chunk]
            scores = scorer.score(prompts + prompts, answers)
            for row, score_a, score_b in zip(
                chunk, scores[: len(chunk)], scores[len(chunk) :], strict=True
            ):
                margin = score_a - score_b
                margins.append(margin)
                line = {"id": row["id"], "score_a": score_a, "score_b": score_b}
                line.update(margin=margin, p_a=_sigmoid(margin))
                out.write(json.dumps(line) + "\n")
            events.emit("progress", step=step, total_steps=chunks)
    count = len(margins)
    return {
        "pairs_scored": count,
        "mean_abs_margin": sum(abs(m) for m in margins) / count if count else 0.0,
        "share_a_preferred": sum(m > 0 for m in margins) / count if count else 0.0,
    }
