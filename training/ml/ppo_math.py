"""PPO's arithmetic on tensors: KL estimates, KL-penalised rewards, GAE, the clipped losses and
the adaptive KL controller. Pure functions of their inputs (no model), tested on worked examples
in tests/training/ml/test_ppo_math.py; the loop that uses them is ppo.py."""

from dataclasses import dataclass

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8, shift_mean: bool = True
) -> torch.Tensor:
    """Unit variance over the valid (mask == 1) entries, and zero mean unless shift_mean is
    False (then the mean is kept, as for rewards, whose sign matters); padding stays 0."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def kl_estimate(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1"
) -> torch.Tensor:
    """Per-token estimate of KL(π || π_ref) from samples of π (Schulman, "Approximating KL").

    k1 = log π − log π_ref is unbiased but can be negative; k3 = (r − 1) − log r with
    r = π_ref/π is unbiased too, never negative and of lower variance near the reference.
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}")


def kl_penalised_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    estimator: str = "k1",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards [B, T]: -β·KL estimate everywhere, + score on the last valid token.

    Returns (rewards, kl) where kl is the per-token log-ratio (k1, zero on padding): what is
    reported as the KL, whichever estimator the penalty uses.
    Responses are right-padded: the valid tokens of row b are 0 .. mask[b].sum() - 1.
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -beta * kl_estimate(logprobs, ref_logprobs, estimator) * mask
    last = mask.sum(dim=1).long() - 1
    rows = torch.arange(rewards.size(0), device=rewards.device)
    rewards[rows, last] += scores
    return rewards, kl


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over right-padded sequences [B, T].

    δ_t = r_t + γ·V_{t+1} − V_t (V after the last valid token is 0: the episode ended),
    A_t = δ_t + γλ·A_{t+1}; returns R_t = A_t + V_t. Padding gets advantage and return 0.
    """
    batch, length = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros(batch, dtype=rewards.dtype, device=rewards.device)
    next_value = torch.zeros(batch, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(length)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = (delta + gamma * lam * next_advantage) * mask[:, t]
        advantages[:, t] = advantage
        # A padded position passes nothing back: the episode was over.
        next_advantage = advantage
        next_value = values[:, t] * mask[:, t]
    returns = (advantages + values) * mask
    return advantages, returns


def clipped_surrogate_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO policy loss mean(max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε))), ρ = π/π_old.

    Returns (loss, clip fraction, approximate KL(π_old || π) = mean(½(log ρ)²)).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped > unclipped).float(), mask)
    approx_kl = 0.5 * masked_mean(log_ratio**2, mask)
    return loss, clipfrac, approx_kl


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange_value: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """½·mean(max((V − R)², (V_clip − R)²)), V_clip = V_old + clip(V − V_old, ±c).

    Returns (loss, clip fraction).
    """
    clipped_values = old_values + torch.clamp(
        values - old_values, -cliprange_value, cliprange_value
    )
    unclipped_loss = (values - returns) ** 2
    clipped_loss = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_loss, clipped_loss), mask)
    clipfrac = masked_mean((clipped_loss > unclipped_loss).float(), mask)
    return loss, clipfrac


@dataclass
class KLController:
    """β, fixed or adaptive: β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon) (Ziegler et al.)."""

    value: float
    target: float | None = None  # None = fixed β
    horizon: int = 10000

    def update(self, current_kl: float, n_episodes: int) -> None:
        if self.target is None:
            return
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_episodes / self.horizon
