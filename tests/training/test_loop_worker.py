"""Two rounds of the loop through a real Celery worker on tiny models: labelling up to the
budget, snapshot → reward model → policy update → evaluation → generation of the next round's
candidates → scoring of the open pairs, a failed step and its resume, then simulated
annotators labelling those candidates into round 2 (correctness, not learning)."""

import shutil

import pytest

from labeling.models import Pair, Prompt
from labeling.services.simulation import annotators_simulate
from tests.training.conftest import judge_pairs, wait_until
from training.models import LoopSettings, ModelArtifact, Round, RoundStep, TrainingRun
from training.selectors import artifact_current
from training.selectors_generation import generation_outputs
from training.selectors_rounds import round_judgments_count
from training.services.loop import loop_resume, loop_settings_set
from training.tasks import advance_loops

pytestmark = [
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

REWARD = {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64}
DPO = {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64}
EVALUATE = {"max_new_tokens": 4, "samples_per_prompt": 2}


def _round(project, number: int) -> Round:
    return Round.objects.get(project=project, number=number)


def _state(project) -> str:
    """What the loop did, for a failing wait's message."""
    lines = [f"settings: {LoopSettings.objects.get(project=project).last_message}"]
    lines += [f"{r}: {r.error}" for r in Round.objects.filter(project=project)]
    lines += [f"{s}: {s.note} {s.run and s.run.error}" for s in RoundStep.objects.all()]
    lines += [f"{r}: {r.error[-500:]}" for r in TrainingRun.objects.filter(project=project)]
    return "\n".join(lines)


def _wait_for_round(project, status: str, *, timeout: float, number: int = 1) -> None:
    try:
        wait_until(lambda: _round(project, number).status == status, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"round {number} not {status}: {error}\n{_state(project)}") from None


def test_it_runs_a_round_stops_at_a_failed_step_and_resumes_it(
    project, celery_worker, worker_settings, tiny_models, tmp_path
):
    judgments = judge_pairs(project, pairs=8)
    Prompt.objects.filter(pk__in=Prompt.objects.order_by("id")[:2].values("pk")).update(
        heldout=True
    )
    # The start policy's weights go missing: the policy step's run fails in its child.
    start = tmp_path / "start-policy"
    shutil.copytree(tiny_models["policy"], start)
    loop_settings_set(
        project=project,
        enabled=True,
        label_budget=judgments,
        reward_base_model=str(tiny_models["reward"]),
        reward_config=REWARD,
        policy_method="dpo",
        policy_config=DPO,
        start_policy=str(start),
        evaluation_config=EVALUATE,
        prompts_per_round=3,
        k=2,
        pairing="all",
        sampling={"max_new_tokens": 6, "temperature": 1.0},
    )
    weights = next(start.glob("*.safetensors"))
    weights.rename(tmp_path / weights.name)

    advance_loops.delay()  # beat: the budget is reached
    _wait_for_round(project, Round.Status.FAILED, timeout=200)
    first = _round(project, 1)
    assert first.error.startswith("policy: ")
    assert first.judgments == judgments and first.snapshot is not None
    steps = {(s.name, s.attempt): s for s in RoundStep.objects.filter(round=first)}
    assert {name: s.status for (name, _), s in steps.items()} == {
        "snapshot": "succeeded",
        "reward": "succeeded",
        "policy": "failed",
    }
    assert steps[("policy", 1)].run.status == TrainingRun.Status.FAILED
    # Nothing of the failed round was applied: no policy, no round 2.
    assert artifact_current(project=project, kind="policy") is None
    assert not Round.objects.filter(project=project, number=2).exists()

    # A duplicate advance changes nothing while the round stands failed.
    advance_loops.delay()
    (tmp_path / weights.name).rename(weights)
    loop_resume(project=project)
    _wait_for_round(project, Round.Status.DONE, timeout=400)

    first = _round(project, 1)
    latest = {s.name: s for s in RoundStep.objects.filter(round=first).order_by("attempt")}
    assert [s.attempt for s in RoundStep.objects.filter(round=first, name="policy")] == [1, 2]
    assert {name: s.status for name, s in latest.items()} == {
        "snapshot": "succeeded",
        "reward": "succeeded",
        "policy": "succeeded",
        "evaluate": "succeeded",
        "generate": "succeeded",
        "score": "succeeded",
    }
    # The reward model was trained once: the resume restarted the failed step only.
    assert RoundStep.objects.filter(round=first, name="reward").count() == 1
    policy = ModelArtifact.objects.get(run=latest["policy"].run)
    reward = ModelArtifact.objects.get(run=latest["reward"].run)
    assert artifact_current(project=project, kind="policy") == policy
    assert artifact_current(project=project, kind="reward") == reward
    evaluation = latest["evaluate"].run
    assert evaluation.kind == "evaluate" and evaluation.reference_model == first.reference_policy
    assert evaluation.base_artifact == policy and evaluation.reward_artifact == reward
    metrics = evaluation.final_metrics
    assert metrics["num_samples"] == 4  # two held-out prompts, two samples each
    assert metrics["win_rate_low"] <= metrics["win_rate"] <= metrics["win_rate_high"]
    assert {"kl", "mean_reward", "mean_length", "eos_rate"} <= set(metrics)
    assert not ModelArtifact.objects.filter(run=evaluation).exists()  # an evaluation is no model
    # The next round's candidates: the new policy answered 3 labelled prompts (the fewest
    # answered first, never a held-out one), and their pairs wait for the annotators.
    generation = latest["generate"].run
    assert generation.kind == "generate" and generation.base_artifact == policy
    answers = generation_outputs(generation)
    assert answers and {c.prompt_id for c in answers} <= set(
        Prompt.objects.filter(project=project, heldout=False).values_list("pk", flat=True)
    )
    assert len({c.prompt_id for c in answers}) <= 3
    new_pairs = Pair.objects.filter(candidate_a__in=answers) | Pair.objects.filter(
        candidate_b__in=answers
    )
    assert new_pairs.exists() and not new_pairs.filter(judgment_count__gt=0).exists()
    # ... and the round's reward model scored every open pair, the new ones included.
    scoring = latest["score"].run
    assert scoring.kind == "score" and scoring.base_artifact == reward
    assert not new_pairs.filter(scored_at__isnull=True).exists()
    second = _round(project, 2)
    assert second.status == Round.Status.LABELLING
    assert second.after_judgment_id == first.snapshot.last_judgment_id

    # Round 2: simulated annotators label the new pairs through the labelling services; the
    # budget reached, beat starts the round, which trains from round 1's policy.
    made = annotators_simulate(
        project=project, oracle=lambda prompt, a, b: "a" if len(a) >= len(b) else "b", annotators=2
    ).judgments
    assert made > 0 and round_judgments_count(round=second) == made
    loop_settings_set(project=project, label_budget=made)
    advance_loops.delay()
    _wait_for_round(project, Round.Status.DONE, timeout=400, number=2)
    second = _round(project, 2)
    assert second.judgments == made
    assert second.policy_before == f"artifact:{policy.pk}"
    assert second.reference_policy == first.reference_policy  # still round 0
    assert artifact_current(project=project, kind="policy").run.round_steps.get().round == second
    assert _round(project, 3).status == Round.Status.LABELLING
