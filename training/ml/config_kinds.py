"""The configs of the training kinds: sft, reward, dpo (TRL), ppo (the project's own), rloo and
grpo (TRL's online trainers). Each field is passed to TRL's config class by name unless the model
lists it in `engine_fields`."""

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .config_base import (
    DPOLoss,
    OptimisationConfig,
    PeftConfig,
    RunConfig,
    Scheduler,
    field_rule,
    learning_rate_field,
    peft_field,
)


class SFTRunConfig(OptimisationConfig):
    """Supervised fine-tuning on (prompt, chosen): maximum likelihood of the preferred answer."""

    learning_rate: float = learning_rate_field(2e-5)
    max_length: int = Field(1024, ge=8, description="Truncate prompt+response to this many tokens.")
    completion_only_loss: bool = Field(
        True, description="Train on the response tokens only, not on the prompt."
    )


class RewardRunConfig(OptimisationConfig):
    """Bradley–Terry reward model: loss -log σ(r(x, y_w) - r(x, y_l) [- margin])."""

    # data.py reads use_margin
    engine_fields: ClassVar[frozenset[str]] = OptimisationConfig.engine_fields | {"use_margin"}

    learning_rate: float = learning_rate_field(1e-5)
    max_length: int = Field(
        1024, ge=8, description="Pairs longer than this (prompt+response tokens) are dropped."
    )
    center_rewards_coefficient: float | None = Field(
        None,
        ge=0,
        description="Weight of the (r_w + r_l)^2 term keeping rewards centred on 0 (e.g. 0.01); "
        "empty = off.",
    )
    use_margin: bool = Field(
        True, description="Subtract each row's `margin` (preference strength) inside the sigmoid."
    )


class DPORunConfig(OptimisationConfig):
    """Direct preference optimisation against a frozen copy of the base model."""

    # TRL 1.16's DPOConfig has no `rpo_alpha`: trl_adapter.dpo_arguments turns it into TRL's
    # combined losses (loss_type [loss_type, "sft"] with loss_weights [1, rpo_alpha]).
    engine_fields: ClassVar[frozenset[str]] = OptimisationConfig.engine_fields | {"rpo_alpha"}

    learning_rate: float = learning_rate_field(1e-6)
    max_length: int = Field(1024, ge=8, description="Truncate prompt+response to this many tokens.")
    beta: float = Field(
        0.1, gt=0, description="Strength of the implicit KL constraint to the reference model."
    )
    loss_type: DPOLoss = Field("sigmoid", description="DPO loss variant.")
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="Assumed label-noise rate for the robust loss, in [0, 0.5).",
    )
    precompute_ref_log_probs: bool = Field(
        False,
        description="Compute reference log-probs once before training "
        "(saves memory, frees the ref model).",
    )
    rpo_alpha: float | None = Field(
        None,
        ge=0,
        le=10,
        description="Weight of a negative log-likelihood term on the chosen answer added to the "
        "DPO loss (RPO; e.g. 1.0), which keeps DPO from pushing both answers' probabilities "
        "down; empty = off.",
    )

    @model_validator(mode="after")
    def _smoothing_needs_robust(self) -> "DPORunConfig":
        if self.loss_type != "robust" and self.label_smoothing:
            raise field_rule("label_smoothing", "only used by loss_type=robust; leave it at 0")
        return self


_MISSING_EOS_HELP = (
    "Subtract this from the score of responses that never emit EOS (e.g. 1.0); empty = off."
)
_LENGTH_PENALTY_HELP = (
    "Subtract this much from the score per response token (e.g. 0.01), against a reward "
    "model's taste for length; empty = off."
)
_LENGTH_NORMALISED_HELP = (
    "Divide the score by the response length in tokens (before the penalties), so that a "
    "longer answer earns no more for being longer."
)
_KL_BUDGET_HELP = (
    "Stop the run early (and save it) once the measured KL to the reference, in nats per "
    "response, exceeds this; empty = no budget."
)


# Guards on the reward of sampled responses (applied by rewards.shaped_scores) and the KL
# budget, the same fields for every kind that samples (ppo, rloo, grpo).
REWARD_SHAPING_FIELDS = frozenset(
    {"missing_eos_penalty", "length_penalty", "length_normalised_reward", "kl_budget"}
)


class PPORunConfig(RunConfig):
    """The project's own PPO (training/ml/ppo.py): maximise E[r(x, y)] - β KL(π || π_ref)."""

    learning_rate: float = learning_rate_field(
        1e-5, "Peak AdamW learning rate (policy and value head)."
    )
    lr_scheduler_type: Scheduler = Field(
        "constant", description="Learning-rate schedule over the iterations, after warm-up."
    )
    warmup_steps: int = Field(
        0, ge=0, description="Iterations of linear learning-rate warm-up from 0."
    )
    max_steps: int = Field(
        100, ge=1, description="Rollout+update iterations (ignored when total_episodes is set)."
    )
    total_episodes: int | None = Field(
        None, ge=1, description="Responses to sample in total; sets the number of iterations."
    )
    rollout_batch_size: int = Field(
        64, ge=1, description="Prompts sampled per iteration (one response each)."
    )
    num_mini_batches: int = Field(
        1, ge=1, description="Minibatches each rollout is split into for the updates."
    )
    ppo_epochs: int = Field(4, ge=1, description="Optimisation passes over each rollout.")
    max_prompt_length: int = Field(
        512, ge=1, description="Prompts are left-truncated to this many tokens."
    )
    response_length: int = Field(53, ge=1, description="Maximum new tokens per sampled response.")
    temperature: float = Field(
        0.7,
        gt=0,
        description="Sampling temperature (log-probs are computed at the same temperature).",
    )
    beta: float = Field(
        0.05, ge=0, description="KL penalty coefficient (initial value if adaptive_kl)."
    )
    kl_estimator: Literal["k1", "k3"] = Field(
        "k1",
        description="Per-token KL in the reward: k1 = log π − log π_ref (unbiased, can be "
        "negative), k3 = exp(−k1) − 1 + k1 (non-negative, lower variance).",
    )
    adaptive_kl: bool = Field(
        False, description="Adapt beta towards target_kl (Ziegler et al. 2019)."
    )
    target_kl: float = Field(
        6.0, gt=0, description="Target sequence KL (nats) for the adaptive controller."
    )
    kl_horizon: int = Field(
        10000, ge=1, description="Horizon of the adaptive KL controller, in episodes."
    )
    gamma: float = Field(1.0, ge=0, le=1, description="Discount factor for GAE.")
    lam: float = Field(0.95, ge=0, le=1, description="GAE λ (bias/variance trade-off).")
    whiten_rewards: bool = Field(
        False,
        description="Scale the per-token rewards of each rollout to unit variance (mean kept) "
        "before GAE.",
    )
    whiten_advantages: bool = Field(
        False,
        description="Whiten the advantages over each rollout (zero mean, unit variance). Off "
        "by default: subtracting the mean shifts every token's advantage alike, a bias by "
        "response length that bench/ppo_details.py found to cost win-rate at equal KL.",
    )
    cliprange: float = Field(0.2, gt=0, description="PPO ratio clip ε for the policy surrogate.")
    cliprange_value: float = Field(
        0.2, gt=0, description="Clip range for value updates around the rollout values."
    )
    vf_coef: float = Field(0.1, ge=0, description="Weight of the value loss in the total loss.")
    missing_eos_penalty: float | None = Field(None, ge=0, description=_MISSING_EOS_HELP)
    length_penalty: float | None = Field(None, ge=0, description=_LENGTH_PENALTY_HELP)
    length_normalised_reward: bool = Field(False, description=_LENGTH_NORMALISED_HELP)
    kl_budget: float | None = Field(None, gt=0, description=_KL_BUDGET_HELP)
    value_head_init: Literal["zero", "normal"] = Field(
        "zero",
        description="Value head at start: zero (first advantages are pure reward-to-go) or "
        "normal with std 1/sqrt(hidden+1).",
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Clip the gradient norm to this value.")
    logging_steps: int = Field(
        1, ge=1, description="Emit a metrics event every this many iterations."
    )
    seed: int = Field(
        42, ge=0, description="Random seed (prompt order, sampling, value-head initialisation)."
    )
    peft: PeftConfig = peft_field()

    @model_validator(mode="after")
    def _mini_batches_divide_rollout(self) -> "PPORunConfig":
        if self.rollout_batch_size % self.num_mini_batches:
            raise field_rule(
                "num_mini_batches", f"must divide rollout_batch_size ({self.rollout_batch_size})"
            )
        return self


class OnlineRunConfig(OptimisationConfig):
    """Fields shared by TRL's online trainers (RLOO, GRPO): sample num_generations per prompt."""

    # The adapter's reward function and callback apply these (TRL's configs have no such fields).
    engine_fields: ClassVar[frozenset[str]] = (
        OptimisationConfig.engine_fields | REWARD_SHAPING_FIELDS
    )

    learning_rate: float = learning_rate_field(1e-6)
    num_generations: int = Field(
        4, ge=2, description="Responses sampled per prompt (the group/baseline size)."
    )
    max_completion_length: int = Field(
        256, ge=1, description="Maximum new tokens per sampled response."
    )
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_k: int = Field(
        0, ge=0, description="Sample among the k most likely tokens only; 0 = all tokens."
    )
    top_p: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Sample from the smallest set of tokens whose probability reaches p; 1 = all.",
    )
    num_iterations: int = Field(
        1, ge=1, description="Optimisation passes over each generated batch (μ)."
    )
    epsilon: float = Field(0.2, gt=0, description="Ratio clip ε.")
    missing_eos_penalty: float | None = Field(None, ge=0, description=_MISSING_EOS_HELP)
    length_penalty: float | None = Field(None, ge=0, description=_LENGTH_PENALTY_HELP)
    length_normalised_reward: bool = Field(False, description=_LENGTH_NORMALISED_HELP)
    kl_budget: float | None = Field(None, gt=0, description=_KL_BUDGET_HELP)

    @model_validator(mode="after")
    def _batch_holds_whole_groups(self) -> "OnlineRunConfig":
        generation_batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if generation_batch % self.num_generations:
            raise field_rule(
                "num_generations",
                f"per_device_train_batch_size × gradient_accumulation_steps "
                f"({generation_batch}) must be a multiple of num_generations "
                f"({self.num_generations})",
            )
        return self

    @model_validator(mode="after")
    def _kl_budget_needs_a_reference(self) -> "OnlineRunConfig":
        # TRL keeps a reference model, and so measures the KL, only when beta > 0.
        if self.kl_budget is not None and getattr(self, "beta", 0.0) == 0:
            raise field_rule("kl_budget", "needs beta > 0: without it no KL is measured")
        return self


class RLOORunConfig(OnlineRunConfig):
    """REINFORCE leave-one-out (TRL RLOOTrainer) with the project's reward model as reward."""

    beta: float = Field(0.05, ge=0, description="KL coefficient to the reference model.")
    normalize_advantages: bool = Field(
        False, description="Whiten the advantages over each generation batch."
    )


class GRPORunConfig(OnlineRunConfig):
    """Group relative policy optimisation (TRL GRPOTrainer) with the project's reward model."""

    beta: float = Field(
        0.0,
        ge=0,
        description="KL coefficient to the reference model (0 = no reference model kept).",
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group",
        description="Divide advantages by the reward std of the group, of the batch, or not "
        "at all (Dr. GRPO).",
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(
        "dapo",
        description="How token losses are averaged: per sequence (grpo, biased towards "
        "length), by a constant (dr_grpo), or per token of the batch (dapo, bnpo).",
    )
