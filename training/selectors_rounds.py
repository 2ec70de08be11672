"""Reads of the loop: its settings, rounds and steps, and the held-out evaluation prompts."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet

from labeling.models import Judgment, Project, Prompt
from training.models import LoopSettings, ModelArtifact, Round, RoundStep
from training.selectors_generation import prompts_for_set


def loop_settings_get(*, project: Project) -> LoopSettings | None:
    return LoopSettings.objects.filter(project=project).first()


def heldout_prompts(*, project: Project) -> QuerySet[Prompt]:
    """The prompts evaluations sample on (Prompt.heldout), in a fixed order."""
    return prompts_for_set(project=project, prompt_set="heldout", k=0)


def next_round_prompt_ids(*, project: Project, count: int) -> list[int]:
    """The prompts the next round's policy answers: `count` of those people label (never the
    held-out ones), those with the fewest candidates first, so rounds go round the prompts."""
    prompts = prompts_for_set(project=project, prompt_set="all", k=0)
    ranked = prompts.annotate(answers=Count("candidates")).order_by("answers", "pk")
    return list(ranked.values_list("pk", flat=True)[:count])


def round_open(*, project: Project) -> Round | None:
    """The round now labelling, running or failed (at most one: a constraint)."""
    return Round.objects.filter(project=project).exclude(status=Round.Status.DONE).first()


def round_judgments_count(*, round: Round) -> int:
    """Judgments made in the round so far (those after its start)."""
    judgments = Judgment.objects.filter(project_id=round.project_id)
    if round.after_judgment_id is not None:
        judgments = judgments.filter(id__gt=round.after_judgment_id)
    return judgments.count()


def round_steps_latest(*, round: Round) -> dict[str, RoundStep]:
    """Each step's latest attempt, by step name."""
    latest: dict[str, RoundStep] = {}
    for step in RoundStep.objects.filter(round=round).select_related("run").order_by("attempt"):
        latest[step.name] = step
    return latest


@dataclass
class RoundRow:
    """One round as the rounds page shows it."""

    round: Round
    judgments: int
    steps: list[RoundStep]  # every attempt, in order
    reward_accuracy: float | None
    evaluation: dict[str, Any]
    reward_artifact: ModelArtifact | None
    policy_artifact: ModelArtifact | None


def _artifact(step: RoundStep | None) -> ModelArtifact | None:
    if step is None or step.run is None:
        return None
    return ModelArtifact.objects.filter(run_id=step.run_id).first()


def rounds_table(*, project: Project) -> list[RoundRow]:
    """Every round of the project with its judgments, reward-model held-out accuracy,
    evaluation and models (the latest successful attempt of each step)."""
    rows = []
    for round in Round.objects.filter(project=project).order_by("number"):
        steps = list(RoundStep.objects.filter(round=round).select_related("run").order_by("id"))
        succeeded = {s.name: s for s in steps if s.status == RoundStep.Status.SUCCEEDED}
        reward = succeeded.get("reward")
        evaluate = succeeded.get("evaluate")
        metrics = reward.run.final_metrics if reward and reward.run else {}
        rows.append(
            RoundRow(
                round=round,
                judgments=round.judgments
                if round.judgments is not None
                else round_judgments_count(round=round),
                steps=steps,
                reward_accuracy=metrics.get("eval_accuracy"),
                evaluation=evaluate.run.final_metrics if evaluate and evaluate.run else {},
                reward_artifact=_artifact(reward),
                policy_artifact=_artifact(succeeded.get("policy")),
            )
        )
    return rows


# What the rounds page charts, x = the round: (chart title, [(line label, value key), ...]).
ROUND_CHARTS = (
    (
        "win-rate against round 0",
        [("win-rate", "win_rate"), ("95 % low", "win_rate_low"), ("95 % high", "win_rate_high")],
    ),
    ("reward-model held-out accuracy", [("accuracy", "reward_accuracy")]),
    ("mean reward", [("policy", "mean_reward"), ("round 0", "reference_mean_reward")]),
    ("KL to round 0 (nats)", [("KL", "kl")]),
    (
        "mean response length (tokens)",
        [("policy", "mean_length"), ("round 0", "reference_mean_length")],
    ),
)


def rounds_chart_data(rows: list[RoundRow]) -> list[dict[str, Any]]:
    """The charts in the compare page's format (static/training/charts.js)."""
    charts = []
    for title, lines in ROUND_CHARTS:
        series = []
        for label, key in lines:
            points = []
            for row in rows:
                value = row.reward_accuracy if key == "reward_accuracy" else row.evaluation.get(key)
                if isinstance(value, int | float):
                    points.append([row.round.number, value])
            series.append({"label": label, "points": points})
        if any(s["points"] for s in series):
            charts.append({"name": title, "x": "round", "series": series})
    return charts
