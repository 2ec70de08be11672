"""PPO's pieces on small worked examples whose numbers are computed by hand in the comments."""

import math

import pytest
import torch

from training.ml.ppo_math import (
    KLController,
    clipped_surrogate_loss,
    clipped_value_loss,
    compute_gae,
    kl_estimate,
    kl_penalised_rewards,
    masked_whiten,
)


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_it_penalises_kl_per_token_and_adds_the_score_on_the_last_token():
    logprobs = t([[-1.0, -2.0, -0.5], [-1.0, -1.0, 0.0]])
    ref_logprobs = t([[-1.5, -1.0, -0.5], [-2.0, -1.0, -3.0]])
    mask = t([[1, 1, 1], [1, 1, 0]])  # second response is two tokens long
    rewards, kl = kl_penalised_rewards(t([1.0, 2.0]), logprobs, ref_logprobs, mask, beta=0.1)
    # kl = logπ − logπ_ref = [[0.5, −1, 0], [1, 0, (pad) 0]]; rewards = −0.1·kl, + score at the end.
    assert torch.allclose(kl, t([[0.5, -1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert torch.allclose(rewards, t([[-0.05, 0.1, 1.0], [-0.1, 2.0, 0.0]]))


def test_it_computes_gae_backwards():
    rewards, values, mask = t([[0.0, 0.0, 1.0]]), t([[0.5, 0.2, 0.4]]), t([[1, 1, 1]])
    advantages, returns = compute_gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # t=2: δ = 1 − 0.4 = 0.6                  A2 = 0.6
    # t=1: δ = 0.9·0.4 − 0.2 = 0.16           A1 = 0.16 + 0.72·0.6 = 0.592
    # t=0: δ = 0.9·0.2 − 0.5 = −0.32          A0 = −0.32 + 0.72·0.592 = 0.10624
    assert torch.allclose(advantages, t([[0.10624, 0.592, 0.6]]), atol=1e-6)
    assert torch.allclose(returns, t([[0.60624, 0.792, 1.0]]), atol=1e-6)


def test_it_ends_the_episode_at_the_last_valid_token():
    # The value 9.9 sits on padding: it must not leak into the advantage of the last real token.
    advantages, returns = compute_gae(
        t([[0.0, 2.0, 0.0]]), t([[0.1, 0.3, 9.9]]), t([[1, 1, 0]]), gamma=1.0, lam=1.0
    )
    # A1 = 2 − 0.3 = 1.7; A0 = (0.3 − 0.1) + 1.7 = 1.9; returns = A + V = [2, 2, 0 (pad)]
    assert torch.allclose(advantages, t([[1.9, 1.7, 0.0]]), atol=1e-6)
    assert torch.allclose(returns, t([[2.0, 2.0, 0.0]]), atol=1e-6)


def test_it_clips_the_surrogate():
    ratios = t([[1.5, 0.5, 1.1, 0.7]])
    advantages, mask = t([[1.0, 1.0, -1.0, -1.0]]), t([[1, 1, 1, 1]])
    loss, clipfrac, _ = clipped_surrogate_loss(
        ratios.log(), torch.zeros_like(ratios), advantages, mask, 0.2
    )
    # per token max(−Aρ, −A·clip(ρ, 0.8, 1.2)):
    # max(−1.5, −1.2) = −1.2 (clipped); max(−0.5, −0.8) = −0.5;
    # max(1.1, 1.1) = 1.1; max(0.7, 0.8) = 0.8 (clipped) -> mean 0.2/4 = 0.05, clip fraction 2/4.
    assert loss.item() == pytest.approx(0.05, abs=1e-6)
    assert clipfrac.item() == pytest.approx(0.5)


def test_it_clips_the_value_loss():
    values, old_values, returns = t([[1.0, 0.0, 0.6]]), t([[0.5, 0.5, 0.5]]), t([[2.0, 0.0, 0.0]])
    loss, clipfrac = clipped_value_loss(
        values, old_values, returns, t([[1, 1, 1]]), cliprange_value=0.2
    )
    # clipped values [0.7, 0.3, 0.6];
    # max((V−R)², (Vc−R)²) = [max(1, 1.69), max(0, 0.09), max(0.36, 0.36)]
    # loss = ½·(1.69 + 0.09 + 0.36)/3 = 0.356667; clipped loss larger on 2 of 3 tokens.
    assert loss.item() == pytest.approx(0.356667, abs=1e-5)
    assert clipfrac.item() == pytest.approx(2 / 3)


def test_it_whitens_over_valid_tokens_only():
    whitened = masked_whiten(t([[1.0, 2.0, 3.0, 100.0]]), t([[1, 1, 1, 0]]))
    s = 1 / math.sqrt(2 / 3)  # mean 2, variance 2/3
    assert torch.allclose(whitened, t([[-s, 0.0, s, 0.0]]), atol=1e-4)


def test_it_adapts_beta_towards_the_target_kl():
    controller = KLController(0.1, target=6.0, horizon=100)
    controller.update(current_kl=12.0, n_episodes=10)  # error clipped to +0.2 -> ×(1 + 0.2·10/100)
    assert controller.value == pytest.approx(0.102)
    controller.update(current_kl=3.0, n_episodes=10)  # error −0.5 clipped to −0.2 -> ×0.98
    assert controller.value == pytest.approx(0.102 * 0.98)
    fixed = KLController(0.1)
    fixed.update(100.0, 10)
    assert fixed.value == 0.1


def test_it_estimates_kl_with_k1_or_the_non_negative_k3():
    logprobs, ref_logprobs = t([[-1.0, -2.0]]), t([[-1.5, -1.0]])
    # k1 = log π − log π_ref = [0.5, −1]; k3 = e^{−k1} − 1 + k1 = [e^{−0.5} − 0.5, e − 2].
    assert torch.allclose(kl_estimate(logprobs, ref_logprobs, "k1"), t([[0.5, -1.0]]))
    k3 = kl_estimate(logprobs, ref_logprobs, "k3")
    assert torch.allclose(k3, t([[math.exp(-0.5) - 0.5, math.e - 2.0]]))
    mask = t([[1, 1]])
    rewards, kl = kl_penalised_rewards(t([0.0]), logprobs, ref_logprobs, mask, 1.0, "k3")
    assert torch.allclose(rewards, -k3) and torch.allclose(kl, t([[0.5, -1.0]]))


def test_it_scales_rewards_without_moving_their_mean():
    values, mask = t([[1.0, 3.0, 0.0]]), t([[1, 1, 0]])
    # mean 2, variance 1: unit variance already, so only the padding is touched.
    assert torch.allclose(masked_whiten(values, mask, shift_mean=False), t([[1.0, 3.0, 0.0]]))
    assert torch.allclose(masked_whiten(values, mask), t([[-1.0, 1.0, 0.0]]), atol=1e-6)
