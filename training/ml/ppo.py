"""PPO for language models (Ziegler et al. 2019; Ouyang et al. 2022), small enough to read at once.

TRL removed its PPOTrainer in 1.13, so this is the project's own. One iteration:
  1. rollout  — sample one response per prompt from the policy (temperature T);
  2. evaluate — log-probs under the policy and the frozen reference (both at temperature T, the
                distribution we sampled from), values, and the reward model's score of the text;
  3. rewards  — per token -β·(log π − log π_ref), plus the score on the last response token
                (minus missing_eos_penalty when the response never ended);
  4. GAE(γ, λ) advantages, whitened over the batch; returns = advantages + values;
  5. ppo_epochs passes over num_mini_batches minibatches: clipped surrogate + vf_coef × clipped
     value loss, one AdamW step per minibatch;
  6. optionally adapt β towards target_kl (adaptive KL controller).

Value function: a linear head on the policy's last hidden state (shared backbone). It costs one
forward pass instead of two and no second model in memory; the price is that value gradients also
move the policy's backbone, which vf_coef keeps small. The head is initialised at zero so the
first advantages are pure reward-to-go. It is discarded at the end: the artifact is the policy.
Runs in one process (no data parallelism); `accelerate launch` with several processes is refused.
"""

import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from . import data, events
from .config import PPORunConfig
from .scorer import Prompt, Scorer

# ----------------------------------------------------------------------------- pure functions


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit variance over the valid (mask == 1) entries; padding stays 0."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(var + eps) * mask


def kl_penalised_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards [B, T]: -β·(log π − log π_ref) everywhere, + score on the last valid token.

    Returns (rewards, kl) where kl is the per-token log-ratio (zero on padding).
    Responses are right-padded: the valid tokens of row b are 0 .. mask[b].sum() - 1.
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -beta * kl
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


# ----------------------------------------------------------------------------- model pieces


class PolicyWithValueHead(nn.Module):
    """A causal LM plus a scalar value head reading the same final hidden state."""

    policy: PreTrainedModel

    def __init__(self, policy: PreTrainedModel) -> None:
        super().__init__()
        self.policy = policy
        self.value_head = nn.Linear(policy.config.get_text_config().hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.policy.base_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=_position_ids(attention_mask),
            use_cache=False,
        ).last_hidden_state
        logits = self.policy.get_output_embeddings()(hidden)
        values = self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)
        return logits, values


def _position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    # Prompts are left-padded; positions must start at 0 on the first real token, as in generate().
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _response_logprobs(
    logits: torch.Tensor, responses: torch.Tensor, query_length: int, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of the response tokens (and entropy) at the sampling temperature."""
    response_logits = logits[:, query_length - 1 : -1].float() / temperature
    logp_all = F.log_softmax(response_logits, dim=-1)
    logprobs = torch.gather(logp_all, 2, responses.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logprobs, entropy


def encode_prompt(tokenizer: Any, prompt: Prompt, max_length: int) -> list[int]:
    """Prompt tokens the policy continues: chat template with generation prompt, or plain text
    (a conversation is flattened by data.prompt_text when the tokenizer has no chat template)."""
    if not isinstance(prompt, str) and not data.has_chat_template(tokenizer):
        prompt = data.prompt_text(list(prompt))
    if isinstance(prompt, str):
        ids = list(tokenizer(text=prompt)["input_ids"])
    else:
        ids = list(
            tokenizer.apply_chat_template(
                prompt, tokenize=True, add_generation_prompt=True, return_dict=True
            )["input_ids"]
        )
    return ids[-max_length:]


# ----------------------------------------------------------------------------- training loop


@dataclass
class Rollout:
    input_ids: torch.Tensor  # [B, Q+T] query (left-padded) + response (right-padded)
    attention_mask: torch.Tensor  # [B, Q+T]
    query_length: int  # Q
    responses: torch.Tensor  # [B, T]
    mask: torch.Tensor  # [B, T] 1 on response tokens up to and including EOS
    scores: torch.Tensor  # [B] reward-model score (after the missing-EOS penalty)
    has_eos: torch.Tensor  # [B] bool


@torch.no_grad()
def sample_rollout(
    model: PolicyWithValueHead,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    scorer: Scorer,
    config: PPORunConfig,
    device: torch.device,
) -> Rollout:
    pad_id, eos_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    encoded = [encode_prompt(tokenizer, p, config.max_prompt_length) for p in prompts]
    width = max(len(ids) for ids in encoded)
    query = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    query_mask = torch.zeros_like(query)
    for row, ids in enumerate(encoded):  # left padding, so every response starts at column `width`
        query[row, width - len(ids) :] = torch.tensor(ids)
        query_mask[row, width - len(ids) :] = 1
    query, query_mask = query.to(device), query_mask.to(device)
    output = model.policy.generate(  # type: ignore[operator]  # nn.Module __getattr__ typing
        input_ids=query,
        attention_mask=query_mask,
        do_sample=True,
        temperature=config.temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=config.response_length,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    responses = output[:, width:]
    is_eos = responses == eos_id
    has_eos = is_eos.any(dim=1)
    first_eos = torch.where(
        has_eos,
        is_eos.int().argmax(dim=1),
        torch.full_like(has_eos, responses.size(1), dtype=torch.long),
    )
    positions = torch.arange(responses.size(1), device=device).unsqueeze(0)
    mask = (positions <= first_eos.unsqueeze(1)).long()
    responses = torch.where(mask.bool(), responses, torch.full_like(responses, pad_id))
    texts = tokenizer.batch_decode(responses, skip_special_tokens=True)
    scores = torch.tensor(scorer.score(list(prompts), texts), dtype=torch.float32, device=device)
    if config.missing_eos_penalty:
        scores = torch.where(has_eos, scores, scores - config.missing_eos_penalty)
    return Rollout(
        torch.cat([query, responses], dim=1),
        torch.cat([query_mask, mask], dim=1),
        width,
        responses,
        mask,
        scores,
        has_eos,
    )


def ppo_step(
    model: PolicyWithValueHead,
    reference: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    config: PPORunConfig,
    kl_ctl: KLController,
) -> dict[str, float]:
    """Steps 2–6 of the module docstring for one rollout; returns the iteration's statistics."""
    mask = rollout.mask.float()
    with torch.no_grad():
        logits, old_values = model(rollout.input_ids, rollout.attention_mask)
        old_logprobs, _ = _response_logprobs(
            logits, rollout.responses, rollout.query_length, config.temperature
        )
        ref_logits = reference(
            input_ids=rollout.input_ids,
            attention_mask=rollout.attention_mask,
            position_ids=_position_ids(rollout.attention_mask),
            use_cache=False,
        ).logits
        ref_logprobs, _ = _response_logprobs(
            ref_logits, rollout.responses, rollout.query_length, config.temperature
        )
        old_values = old_values[:, rollout.query_length - 1 : -1].float() * mask
        rewards, kl = kl_penalised_rewards(
            rollout.scores, old_logprobs, ref_logprobs, mask, kl_ctl.value
        )
        advantages, returns = compute_gae(rewards, old_values, mask, config.gamma, config.lam)
        advantages = masked_whiten(advantages, mask)

    batch = rollout.responses.size(0)
    minibatch = batch // config.num_mini_batches
    totals: dict[str, float] = {
        "pg_loss": 0.0,
        "vf_loss": 0.0,
        "pg_clipfrac": 0.0,
        "vf_clipfrac": 0.0,
        "approx_kl": 0.0,
        "entropy": 0.0,
    }
    updates = 0
    for _ in range(config.ppo_epochs):
        for idx in torch.randperm(batch, device=mask.device).split(minibatch):
            logits, values = model(rollout.input_ids[idx], rollout.attention_mask[idx])
            logprobs, entropy = _response_logprobs(
                logits, rollout.responses[idx], rollout.query_length, config.temperature
            )
            values = values[:, rollout.query_length - 1 : -1].float()
            pg_loss, pg_clipfrac, approx_kl = clipped_surrogate_loss(
                logprobs, old_logprobs[idx], advantages[idx], mask[idx], config.cliprange
            )
            vf_loss, vf_clipfrac = clipped_value_loss(
                values, old_values[idx], returns[idx], mask[idx], config.cliprange_value
            )
            loss = pg_loss + config.vf_coef * vf_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            for key, value in (
                ("pg_loss", pg_loss),
                ("vf_loss", vf_loss),
                ("pg_clipfrac", pg_clipfrac),
                ("vf_clipfrac", vf_clipfrac),
                ("approx_kl", approx_kl),
                ("entropy", masked_mean(entropy.detach(), mask[idx])),
            ):
                totals[key] += float(value.detach())
            updates += 1

    sequence_kl = float(kl.sum(dim=1).mean())
    stats = {key: value / updates for key, value in totals.items()}
    stats.update(
        {
            "score": float(rollout.scores.mean()),
            "kl": sequence_kl,
            "non_score_reward": float((-kl_ctl.value * kl).sum(dim=1).mean()),
            "beta": kl_ctl.value,
            "response_length": float(mask.sum(dim=1).mean()),
            "eos_fraction": float(rollout.has_eos.float().mean()),
        }
    )
    kl_ctl.update(sequence_kl, batch)
    return stats


def total_iterations(config: PPORunConfig) -> int:
    if config.total_episodes is not None:
        return math.ceil(config.total_episodes / config.rollout_batch_size)
    return config.max_steps


def run_ppo(
    config: PPORunConfig,
    policy: PreTrainedModel,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    scorer: Scorer,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train `policy` in place with PPO; returns one stats dict per iteration."""
    import copy

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = next(policy.parameters()).device
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    model = PolicyWithValueHead(policy).to(device)
    model.eval()  # no dropout: log-probs of the rollout and of the update must be comparable
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, eps=1e-5)
    kl_ctl = KLController(
        config.beta, config.target_kl if config.adaptive_kl else None, config.kl_horizon
    )

    order: list[int] = []
    history = []
    for step in range(1, total_iterations(config) + 1):
        batch_prompts: list[Prompt] = []
        while len(batch_prompts) < config.rollout_batch_size:  # cycle through shuffled prompts
            if not order:
                order = random.sample(range(len(prompts)), len(prompts))
            batch_prompts.append(prompts[order.pop()])
        rollout = sample_rollout(model, tokenizer, batch_prompts, scorer, config, device)
        stats = ppo_step(model, reference, optimizer, rollout, config, kl_ctl)
        history.append(stats)
        if on_step is not None:
            on_step(step, stats)
    return history


def train_ppo(
    config: PPORunConfig, base_model: str, reward_model: str, train_file: str, output_dir: str
) -> dict[str, float]:
    """The `ppo` run kind: load, train with the reward model's scorer, save the policy."""
    from transformers import AutoModelForCausalLM

    from .scorer import RewardScorer
    from .trl_adapter import load_tokenizer

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(
            "ppo runs in a single process; launch it without several accelerate processes"
        )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Prompts stay as in the file: encode_prompt flattens them for a policy without a chat
    # template, while the scorer formats them as its reward model was trained.
    prompts = data.load_prompt_dataset(train_file)["prompt"]
    tokenizer = load_tokenizer(base_model)
    if isinstance(prompts[0], list) and not data.has_chat_template(tokenizer):
        events.emit("log", message=data.FLATTENED_MESSAGE)
    policy = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
    policy.to(device)  # type: ignore[arg-type]  # transformers' stub types .to() oddly
    scorer = RewardScorer(reward_model, device=str(device))
    total = total_iterations(config)
    events.emit("start", total_steps=total)

    def report(step: int, stats: dict[str, float]) -> None:
        events.emit("progress", step=step, total_steps=total)
        if step % config.logging_steps == 0 or step == total:
            events.emit("metrics", step=step, values=stats)

    history = run_ppo(config, policy, tokenizer, prompts, scorer, on_step=report)
    policy.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    final = dict(history[-1])
    final["score_first"] = history[0]["score"]
    final["score_last"] = history[-1]["score"]
    return final
