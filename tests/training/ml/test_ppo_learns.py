"""PPO on a toy task: the tiny random policy must learn what a rule-based scorer prefers.

The scorer stands in for a reward model through the same `Scorer` interface PPO uses in
production: it rewards the share of the letter "e" in the decoded response (about 0.1 for the
untrained policy). Many byte-level BPE tokens contain an "e", so the signal is dense enough for a
few dozen PPO iterations on a CPU, while the KL penalty keeps the policy near the reference.
"""

import time

import pytest
import torch
from transformers import AutoModelForCausalLM

from training.ml.config import validate_config
from training.ml.ppo import run_ppo
from training.ml.trl_adapter import load_tokenizer


class LetterShareScorer:
    def score(self, prompts, responses):
        return [r.count("e") / max(len(r), 1) for r in responses]


@pytest.mark.training
def test_it_raises_the_reward_while_kl_stays_bounded(tiny_models):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is as fast, and kinder to a shared machine
    tokenizer = load_tokenizer(str(tiny_models["policy"]))
    policy = AutoModelForCausalLM.from_pretrained(tiny_models["policy"])
    config = validate_config(
        "ppo",
        {
            "learning_rate": 3e-3,
            "max_steps": 80,
            "rollout_batch_size": 32,
            "num_mini_batches": 2,
            "ppo_epochs": 2,
            "response_length": 12,
            "temperature": 1.0,
            "beta": 0.02,
            "vf_coef": 0.1,
        },
    )
    prompts = [
        [{"role": "user", "content": f"Question {i}: tell me something."}] for i in range(16)
    ]
    started = time.monotonic()
    try:
        history = run_ppo(config, policy, tokenizer, prompts, LetterShareScorer())
    finally:
        torch.set_num_threads(threads)
    seconds = time.monotonic() - started

    before = sum(h["score"] for h in history[:5]) / 5
    after = sum(h["score"] for h in history[-5:]) / 5
    kl_after = sum(h["sequence_kl"] for h in history[-5:]) / 5
    print(
        f"\nPPO toy task: mean score {before:.3f} -> {after:.3f} over {len(history)} iterations "
        f"({seconds:.1f} s); sequence KL to reference at the end {kl_after:.2f} nats; "
        f"entropy {history[0]['entropy']:.2f} -> {history[-1]['entropy']:.2f}"
    )
    assert after > before + 0.05 and after > 1.5 * before
    assert 0.0 < kl_after < 10.0
    assert all(h["pg_clipfrac"] < 0.5 for h in history)
