"""PPO's guards and schedule on the tiny policy: the KL budget stops a run, the length penalty
changes the reward it optimises, the learning rate follows its schedule."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from training.ml.config import validate_config
from training.ml.ppo import run_ppo
from training.ml.ppo_rollout import PolicyWithValueHead, sample_rollout
from training.ml.trl_adapter import load_tokenizer

PROMPTS = [[{"role": "user", "content": f"Question {i}: tell me something."}] for i in range(8)]
SMALL = {"rollout_batch_size": 8, "num_mini_batches": 2, "ppo_epochs": 1, "response_length": 8}


class LetterShareScorer:
    def score(self, prompts, responses):
        return [r.count("e") / max(len(r), 1) for r in responses]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _policy(tiny_models):
    return load_tokenizer(str(tiny_models["policy"])), AutoModelForCausalLM.from_pretrained(
        tiny_models["policy"]
    )


@pytest.mark.training
def test_it_stops_at_the_kl_budget(tiny_models, one_thread, capsys):
    tokenizer, policy = _policy(tiny_models)
    config = validate_config(
        "ppo", {**SMALL, "max_steps": 40, "learning_rate": 1e-2, "beta": 0, "kl_budget": 0.5}
    )

    history = run_ppo(config, policy, tokenizer, PROMPTS, LetterShareScorer())

    assert len(history) < 40
    assert history[-1]["sequence_kl"] > 0.5
    assert all(h["sequence_kl"] <= 0.5 for h in history[:-1])
    assert f"KL budget reached at step {len(history)}" in capsys.readouterr().out


@pytest.mark.training
def test_a_length_penalty_changes_the_reward_of_a_rollout(tiny_models, one_thread):
    tokenizer, policy = _policy(tiny_models)
    model = PolicyWithValueHead(policy)
    plain = validate_config("ppo", {**SMALL, "missing_eos_penalty": 1.0})
    penalised = validate_config("ppo", {**SMALL, "missing_eos_penalty": 1.0, "length_penalty": 0.1})
    rollouts = []
    for config in (plain, penalised):
        torch.manual_seed(0)
        rollouts.append(
            sample_rollout(model, tokenizer, PROMPTS, LetterShareScorer(), config, "cpu")
        )

    a, b = rollouts
    assert torch.equal(a.responses, b.responses) and torch.equal(a.raw_scores, b.raw_scores)
    lengths = a.mask.sum(dim=1).float()
    assert torch.allclose(b.scores, a.scores - 0.1 * lengths)
    assert torch.allclose(a.scores, a.raw_scores - 1.0 * (~a.has_eos).float())


@pytest.mark.training
def test_the_learning_rate_warms_up_then_decays(tiny_models, one_thread):
    tokenizer, policy = _policy(tiny_models)
    config = validate_config(
        "ppo",
        {
            **SMALL,
            "max_steps": 4,
            "learning_rate": 1e-3,
            "lr_scheduler_type": "linear",
            "warmup_steps": 2,
        },
    )

    history = run_ppo(config, policy, tokenizer, PROMPTS, LetterShareScorer())

    # Warm-up 0 -> 1e-3 over two iterations, then linear decay to 0 at the end.
    assert [h["learning_rate"] for h in history] == pytest.approx([0.0, 5e-4, 1e-3, 5e-4])
    assert {"sequence_kl", "eos_rate", "response_length", "reward", "score"} <= set(history[0])
