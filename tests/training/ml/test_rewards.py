"""The reward of a sampled response and the guards on it (training/ml/rewards.py)."""

import pytest

from training.ml.config import ConfigError, config_fields, validate_config
from training.ml.rewards import KLBudget, shaped_scores, trl_guard_metrics


@pytest.mark.parametrize("kind", ["ppo", "rloo", "grpo"])
def test_every_sampling_kind_has_the_same_guards(kind):
    names = {f.name for f in config_fields(kind)}
    assert {"missing_eos_penalty", "length_penalty", "length_normalised_reward", "kl_budget"} <= (
        names
    )


def test_a_length_penalty_lowers_the_reward_of_longer_answers():
    plain = validate_config("ppo", {})
    penalised = validate_config("ppo", {"length_penalty": 0.1})
    scores, lengths, ended = [1.0, 1.0], [5, 20], [True, True]

    assert shaped_scores(scores, lengths, ended, plain) == [1.0, 1.0]
    assert shaped_scores(scores, lengths, ended, penalised) == pytest.approx([0.5, -1.0])


def test_a_length_normalised_reward_divides_by_the_length_before_the_penalties():
    config = validate_config("rloo", {"length_normalised_reward": True, "missing_eos_penalty": 1})
    assert shaped_scores([4.0, 4.0], [2, 8], [True, False], config) == pytest.approx([2.0, -0.5])


def test_the_missing_eos_penalty_applies_only_to_answers_that_never_ended():
    config = validate_config("grpo", {"missing_eos_penalty": 2})
    assert shaped_scores([1.0, 1.0], [3, 3], [True, False], config) == [1.0, -1.0]


def test_it_reads_the_guards_off_trl_logs():
    logs = {"kl": 0.05, "completions/mean_length": 40.0, "completions/clipped_ratio": 0.25}
    assert trl_guard_metrics(logs) == pytest.approx(
        {"response_length": 40.0, "eos_rate": 0.75, "sequence_kl": 2.0}
    )
    assert trl_guard_metrics({"loss": 1.0}) == {}


def test_a_kl_budget_stops_once_and_says_so(capsys):
    budget = KLBudget(3.0)
    assert not budget.exceeded(1, {"sequence_kl": 2.5})
    assert not budget.exceeded(2, {"loss": 1.0})
    assert budget.exceeded(3, {"sequence_kl": 3.5})
    assert budget.exceeded(4, {"sequence_kl": 4.0})
    assert budget.final_metrics() == {"kl_budget_stop_step": 3.0}
    out = capsys.readouterr().out
    assert out.count("KL budget reached at step 3") == 1
    assert not KLBudget(None).exceeded(1, {"sequence_kl": 100.0})


def test_a_kl_budget_needs_a_measured_kl():
    with pytest.raises(ConfigError, match="kl_budget: needs beta > 0"):
        validate_config("grpo", {"kl_budget": 5})
    assert validate_config("grpo", {"kl_budget": 5, "beta": 0.01}).kl_budget == 5
    assert validate_config("ppo", {"kl_budget": 5, "beta": 0}).kl_budget == 5  # PPO always measures
