"""The losses ARCHITECTURE.md promises, checked against what TRL 1.16 actually computes."""

import math
from types import SimpleNamespace

import pytest
import torch

from tests.training.ml.conftest import trl_cpu_arguments, trl_reward_trainer
from training.ml.data import load_preference_dataset
from training.ml.trl_adapter import load_tokenizer


def _sigmoid_nll(x: float) -> float:
    return -math.log(1 / (1 + math.exp(-x)))


@pytest.fixture
def reward_trainer(tiny_models, standard_file, tmp_path):
    return trl_reward_trainer(tiny_models["reward"], standard_file, tmp_path / "rm", batch_size=2)


def _fixed_rewards(chosen: list[float], rejected: list[float]):
    """A stand-in model with chosen scores, so TRL's loss can be checked against hand numbers."""
    logits = torch.tensor(chosen + rejected).unsqueeze(-1)
    return lambda **inputs: SimpleNamespace(logits=logits)


def test_it_matches_trl_bradley_terry_loss(reward_trainer):
    inputs = {"input_ids": torch.ones(4, 3, dtype=torch.long), "attention_mask": torch.ones(4, 3)}
    loss = reward_trainer.compute_loss(_fixed_rewards([1.0, 0.5], [0.0, 1.0]), dict(inputs))
    # −log σ(1 − 0) = 0.313262, −log σ(0.5 − 1) = 0.974077 -> mean 0.643670
    assert loss.item() == pytest.approx(0.643670, abs=1e-5)
    assert loss.item() == pytest.approx((_sigmoid_nll(1.0) + _sigmoid_nll(-0.5)) / 2, abs=1e-6)

    with_margin = dict(inputs, margin=torch.tensor([0.5, 0.0]))
    loss = reward_trainer.compute_loss(_fixed_rewards([1.0, 0.5], [0.0, 1.0]), with_margin)
    # −log σ(1 − 0 − 0.5) = 0.474077, −log σ(−0.5 − 0) = 0.974077 -> mean 0.724077
    assert loss.item() == pytest.approx(0.724077, abs=1e-5)

    reward_trainer.args.center_rewards_coefficient = 0.01
    loss = reward_trainer.compute_loss(_fixed_rewards([1.0, 0.5], [0.0, 1.0]), dict(inputs))
    # + 0.01 · mean((1 + 0)², (0.5 + 1)²) = 0.01 · 1.625 = 0.01625
    assert loss.item() == pytest.approx(0.643670 + 0.01625, abs=1e-5)


def _completion_logps(model, batch) -> torch.Tensor:
    """Σ log π(token) over completion tokens, computed independently of TRL."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logp = (
        torch.log_softmax(logits[:, :-1].float(), -1)
        .gather(2, batch["input_ids"][:, 1:, None])
        .squeeze(-1)
    )
    return (logp * batch["completion_mask"][:, 1:]).sum(1)


def test_it_matches_trl_dpo_sigmoid_loss(tiny_models, standard_file, tmp_path):
    from trl import DPOConfig, DPOTrainer

    beta = 0.5
    args = DPOConfig(
        **trl_cpu_arguments(
            tmp_path / "dpo",
            per_device_train_batch_size=2,
            beta=beta,
            loss_type=["sigmoid"],
            max_length=64,
        )
    )
    policy = str(tiny_models["policy"])
    trainer = DPOTrainer(
        model=policy,
        args=args,
        train_dataset=load_preference_dataset(standard_file, False),
        processing_class=load_tokenizer(policy),
    )
    torch.manual_seed(0)
    with torch.no_grad():  # move the policy away from the reference so the log-ratios are not zero
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch)).item()
        policy_logps = _completion_logps(trainer.model, batch)
        ref_logps = _completion_logps(trainer.ref_model, batch)
    chosen, rejected = (policy_logps - ref_logps).chunk(2)
    expected = torch.nn.functional.softplus(-beta * (chosen - rejected)).mean().item()  # −log σ(βΔ)
    assert abs((chosen - rejected).mean().item()) > 1e-3  # a real test, not log 2 = log 2
    assert loss == pytest.approx(expected, rel=1e-4, abs=1e-5)
