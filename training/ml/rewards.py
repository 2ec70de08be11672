"""The reward of a sampled response, and the guards a manager reads and sets on it.

One place turns a reward model's score into the reward PPO, RLOO and GRPO optimise
(`shaped_scores`), so a length penalty or the missing-EOS penalty means the same in every
method. The guard metrics every sampling method emits, under the same names, are:

    response_length  mean tokens per sampled response (up to and including EOS)
    eos_rate         share of sampled responses that ended with EOS rather than at the length limit
    sequence_kl      KL to the reference in nats per response: the per-token log-ratio
                     log π − log π_ref summed over a response, averaged over responses

`KLBudget` stops a run once `sequence_kl` exceeds the configured budget.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from . import events


class RewardShaping(Protocol):
    """The fields of config.REWARD_SHAPING_FIELDS, which PPO's and RLOO/GRPO's configs share."""

    @property
    def missing_eos_penalty(self) -> float | None: ...
    @property
    def length_penalty(self) -> float | None: ...
    @property
    def length_normalised_reward(self) -> bool: ...


GUARD_METRICS = ("response_length", "eos_rate", "sequence_kl")


def shaped_scores(
    scores: Sequence[float],
    lengths: Sequence[int],
    has_eos: Sequence[bool],
    config: RewardShaping,
) -> list[float]:
    """The reward of each response: its score (divided by its length if length-normalised),
    minus length_penalty per token, minus missing_eos_penalty when it never ended."""
    shaped = []
    for score, length, ended in zip(scores, lengths, has_eos, strict=True):
        if config.length_normalised_reward:
            score = score / max(length, 1)
        if config.length_penalty:
            score -= config.length_penalty * length
        if config.missing_eos_penalty and not ended:
            score -= config.missing_eos_penalty
        shaped.append(score)
    return shaped


def trl_guard_metrics(logs: dict[str, float]) -> dict[str, float]:
    """The guard metrics, read off what TRL's RLOO and GRPO trainers log.

    TRL logs `kl` per token (sum over all tokens / number of tokens) and the mean completion
    length over the same completions, so their product is the KL per response. GRPO's `kl` is
    measured with the k3 estimator during the update, RLOO's with k1 on the samples.
    """
    guards: dict[str, float] = {}
    if "completions/mean_length" in logs:
        guards["response_length"] = logs["completions/mean_length"]
    if "completions/clipped_ratio" in logs:
        guards["eos_rate"] = 1.0 - logs["completions/clipped_ratio"]
    if "kl" in logs and "completions/mean_length" in logs:
        guards["sequence_kl"] = logs["kl"] * logs["completions/mean_length"]
    return guards


@dataclass
class KLBudget:
    """Says when a run has spent its KL budget, once, with a log line saying so."""

    budget: float | None
    stopped_at_step: int | None = None

    def exceeded(self, step: int, metrics: dict[str, float]) -> bool:
        kl = metrics.get("sequence_kl")
        if self.budget is None or kl is None or kl <= self.budget:
            return False
        if self.stopped_at_step is None:
            self.stopped_at_step = step
            events.emit(
                "log",
                message=f"KL budget reached at step {step}: KL to the reference {kl:.3g} nats "
                f"per response > kl_budget {self.budget:g}; stopping early and saving",
            )
        return True

    def final_metrics(self) -> dict[str, float]:
        if self.stopped_at_step is None:
            return {}
        return {"kl_budget_stop_step": float(self.stopped_at_step)}
