"""PPO for language models (Ziegler et al. 2019; Ouyang et al. 2022), small enough to read at once.

TRL removed its PPOTrainer in 1.13, so this is the project's own. One iteration:
  1. rollout  — sample one response per prompt from the policy (temperature T);
  2. evaluate — log-probs under the policy and the frozen reference (both at temperature T, the
                distribution we sampled from), values, and the reward model's score of the text
                (shaped by rewards.shaped_scores: length and missing-EOS penalties);
  3. rewards  — per token -β·KL estimate (k1 = log π − log π_ref, or k3), plus the score on the
                last response token (the response is cut after its first EOS); optionally
                scaled to unit variance over the rollout (whiten_rewards);
  4. GAE(γ, λ) advantages, optionally whitened over the batch; returns = A + values;
  5. ppo_epochs passes over num_mini_batches minibatches: clipped surrogate + vf_coef × clipped
     value loss, one AdamW step per minibatch; the learning rate follows lr_scheduler_type
     after warmup_steps, one scheduler step per iteration;
  6. optionally adapt β towards target_kl (adaptive KL controller). A rollout whose sequence
     KL exceeds kl_budget ends the run before step 5, so the saved policy is the one measured.

These are the details of "The N+ implementation details of RLHF with PPO" (Huang et al. 2024)
that apply to a single-process trainer; bench/ppo_details.py measures which of them matter.

Value function: a linear head on the policy's last hidden state (shared backbone). It costs one
forward pass instead of two and no second model in memory; the price is that value gradients also
move the policy's backbone, which vf_coef keeps small. The head starts at zero by default, so the
first advantages are pure reward-to-go. It is discarded at the end: the artifact is the policy.
Runs in one process (no data parallelism); `accelerate launch` with several processes is refused.
"""

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from . import data, events
from .config import PPORunConfig
from .rewards import KLBudget, shaped_scores
from .scorer import Prompt, Scorer

# ----------------------------------------------------------------------------- pure functions


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


# ----------------------------------------------------------------------------- model pieces


class PolicyWithValueHead(nn.Module):
    """A causal LM plus a scalar value head reading the same final hidden state."""

    policy: PreTrainedModel

    def __init__(self, policy: PreTrainedModel, init: str = "zero") -> None:
        super().__init__()
        self.policy = policy
        hidden_size = policy.config.get_text_config().hidden_size
        self.value_head = nn.Linear(hidden_size, 1)
        if init == "zero":
            nn.init.zeros_(self.value_head.weight)
        else:  # the reward head's initialisation in the N+ details
            nn.init.normal_(self.value_head.weight, std=1.0 / math.sqrt(hidden_size + 1))
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
    scores: torch.Tensor  # [B] the reward: the score shaped by rewards.shaped_scores
    has_eos: torch.Tensor  # [B] bool
    raw_scores: torch.Tensor  # [B] the reward model's score itself


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
    raw = scorer.score(list(prompts), texts)
    shaped = shaped_scores(raw, mask.sum(dim=1).tolist(), has_eos.tolist(), config)
    return Rollout(
        torch.cat([query, responses], dim=1),
        torch.cat([query_mask, mask], dim=1),
        width,
        responses,
        mask,
        torch.tensor(shaped, dtype=torch.float32, device=device),
        has_eos,
        torch.tensor(raw, dtype=torch.float32, device=device),
    )


def ppo_step(
    model: PolicyWithValueHead,
    reference: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    config: PPORunConfig,
    kl_ctl: KLController,
    kl_budget: KLBudget | None = None,
    step: int = 0,
) -> dict[str, float]:
    """Steps 2–6 of the module docstring for one rollout; returns the iteration's statistics.

    When the rollout's KL exceeds `kl_budget`, the policy is left as it is (no update): the
    run ends with the policy whose samples spent the budget, not one step further.
    """
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
            rollout.scores, old_logprobs, ref_logprobs, mask, kl_ctl.value, config.kl_estimator
        )
        non_score_reward = float((rewards.sum(dim=1) - rollout.scores).mean())
        if config.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = compute_gae(rewards, old_values, mask, config.gamma, config.lam)
        if config.whiten_advantages:
            advantages = masked_whiten(advantages, mask)
    sequence_kl = float(kl.sum(dim=1).mean())
    spent = kl_budget is not None and kl_budget.exceeded(step, {"sequence_kl": sequence_kl})

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
    for _ in range(0 if spent else config.ppo_epochs):
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

    stats = {key: value / updates for key, value in totals.items()} if updates else {}
    stats.update(
        {
            "score": float(rollout.raw_scores.mean()),
            "reward": float(rollout.scores.mean()),
            "sequence_kl": sequence_kl,
            "non_score_reward": non_score_reward,
            "beta": kl_ctl.value,
            "response_length": float(mask.sum(dim=1).mean()),
            "eos_rate": float(rollout.has_eos.float().mean()),
            "learning_rate": optimizer.param_groups[0]["lr"],
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
    kl_budget: KLBudget | None = None,
) -> list[dict[str, float]]:
    """Train `policy` in place with PPO; returns one stats dict per iteration.

    Stops early once the sequence KL exceeds `config.kl_budget` (`kl_budget`, if given, records
    where); the history then ends with the iteration that spent the budget.
    """
    import copy

    from transformers import get_scheduler

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = next(policy.parameters()).device
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    model = PolicyWithValueHead(policy, config.value_head_init).to(device)
    model.eval()  # no dropout: log-probs of the rollout and of the update must be comparable
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, eps=1e-5)
    iterations = total_iterations(config)
    scheduler = get_scheduler(
        config.lr_scheduler_type,
        optimizer,
        num_warmup_steps=config.warmup_steps,
        num_training_steps=iterations,
    )
    kl_ctl = KLController(
        config.beta, config.target_kl if config.adaptive_kl else None, config.kl_horizon
    )
    kl_budget = kl_budget if kl_budget is not None else KLBudget(config.kl_budget)

    order: list[int] = []
    history = []
    for step in range(1, iterations + 1):
        batch_prompts: list[Prompt] = []
        while len(batch_prompts) < config.rollout_batch_size:  # cycle through shuffled prompts
            if not order:
                order = random.sample(range(len(prompts)), len(prompts))
            batch_prompts.append(prompts[order.pop()])
        rollout = sample_rollout(model, tokenizer, batch_prompts, scorer, config, device)
        stats = ppo_step(model, reference, optimizer, rollout, config, kl_ctl, kl_budget, step)
        scheduler.step()
        history.append(stats)
        if on_step is not None:
            on_step(step, stats)
        if kl_budget.stopped_at_step is not None:
            break
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

    kl_budget = KLBudget(config.kl_budget)

    def report(step: int, stats: dict[str, float]) -> None:
        events.emit("progress", step=step, total_steps=total)
        # The iteration that spends the KL budget is the last one: its metrics are shown.
        last = step == total or kl_budget.stopped_at_step == step
        if step % config.logging_steps == 0 or last:
            events.emit("metrics", step=step, values=stats)

    started = time.monotonic()
    history = run_ppo(config, policy, tokenizer, prompts, scorer, report, kl_budget)
    runtime = time.monotonic() - started
    policy.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    final = dict(history[-1])
    final["score_first"] = history[0]["score"]
    final["score_last"] = history[-1]["score"]
    final["train_runtime"] = runtime
    final["train_samples_per_second"] = len(history) * config.rollout_batch_size / runtime
    final.update(kl_budget.final_metrics())
    return final
