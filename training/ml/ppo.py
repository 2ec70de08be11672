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
The arithmetic lives in ppo_math.py, the rollout (steps 1–2) in ppo_rollout.py.

Value function: a linear head on the policy's last hidden state (shared backbone). It costs one
forward pass instead of two and no second model in memory; the price is that value gradients also
move the policy's backbone, which vf_coef keeps small. The head starts at zero by default, so the
first advantages are pure reward-to-go. It is discarded at the end: the artifact is the policy.
With `peft.enabled` the policy trains LoRA adapters (adapters.py) and its reference is the same
model with the adapters disabled, instead of a frozen copy of every weight.
Runs in one process (no data parallelism: PPO has no `processes` field, and a launch with
several is refused).
"""

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import PreTrainedModel

from . import data, events
from .config import PPORunConfig
from .ppo_math import (
    KLController,
    clipped_surrogate_loss,
    clipped_value_loss,
    compute_gae,
    kl_penalised_rewards,
    masked_mean,
    masked_whiten,
)
from .ppo_rollout import (
    PolicyWithValueHead,
    Rollout,
    position_ids,
    response_logprobs,
    sample_rollout,
)
from .rewards import KLBudget
from .scorer import Prompt, Scorer


def ppo_step(
    model: PolicyWithValueHead,
    reference: PreTrainedModel | None,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    config: PPORunConfig,
    kl_ctl: KLController,
    kl_budget: KLBudget | None = None,
    step: int = 0,
) -> dict[str, float]:
    """Steps 2–6 of the module docstring for one rollout; returns the iteration's statistics.
    `reference` None: the policy is a LoRA model, whose reference is itself without adapters.

    When the rollout's KL exceeds `kl_budget`, the policy is left as it is (no update): the
    run ends with the policy whose samples spent the budget, not one step further.
    """
    mask = rollout.mask.float()
    with torch.no_grad():
        logits, old_values = model(rollout.input_ids, rollout.attention_mask)
        old_logprobs, _ = response_logprobs(
            logits, rollout.responses, rollout.query_length, config.temperature
        )
        ref_logits = reference_logits(model, reference, rollout)
        ref_logprobs, _ = response_logprobs(
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
            logprobs, entropy = response_logprobs(
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


def reference_logits(
    model: PolicyWithValueHead, reference: PreTrainedModel | None, rollout: Rollout
) -> torch.Tensor:
    """The reference policy's logits on a rollout: the frozen copy, or for a LoRA policy the
    same model with its adapters disabled (no second copy of the weights, as TRL does)."""
    inputs = {
        "input_ids": rollout.input_ids,
        "attention_mask": rollout.attention_mask,
        "position_ids": position_ids(rollout.attention_mask),
        "use_cache": False,
    }
    if reference is not None:
        return reference(**inputs).logits
    with model.policy.disable_adapter():  # type: ignore[operator]  # peft.PeftModel's
        return model.policy(**inputs).logits


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
    lora = hasattr(policy, "disable_adapter")  # a peft.PeftModel (train_ppo with peft.enabled)
    reference = None if lora else copy.deepcopy(policy).eval().requires_grad_(False)
    model = PolicyWithValueHead(policy, config.value_head_init).to(device)
    model.eval()  # no dropout: log-probs of the rollout and of the update must be comparable
    trainable = [p for p in model.parameters() if p.requires_grad]  # LoRA: adapters + value head
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, eps=1e-5)
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
    from . import adapters
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
    policy = adapters.training_base(base_model, config.peft, reward=False, dtype=torch.float32)
    if isinstance(policy, str):
        policy = adapters.load_policy(policy, dtype=torch.float32)
    lora = adapters.lora_config(config.peft, adapters.CAUSAL_LM)
    if lora is not None:
        from peft import get_peft_model

        policy = get_peft_model(policy, lora)
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
    policy.save_pretrained(output_dir)  # a LoRA policy saves its adapters
    tokenizer.save_pretrained(output_dir)
    if adapters.must_merge(base_model, config.peft):
        adapters.merge_saved(output_dir, base_model, reward=False)
    final = dict(history[-1])
    final["score_first"] = history[0]["score"]
    final["score_last"] = history[-1]["score"]
    final["train_runtime"] = runtime
    final["train_samples_per_second"] = len(history) * config.rollout_batch_size / runtime
    final.update(kl_budget.final_metrics())
    return final
