"""Run configs: one pydantic model per training kind, the one definition of every field.

The same models serve every entry point: the dashboard form (`config_fields` describes the
fields; training/forms.py builds its inputs from them), `manage.py train --set key=value`, the
JSON stored with a run and the child process (`python -m training.ml CONFIG.json`). Each field
carries its description, range and choices; the TRL adapter passes fields to TRL's own config
classes by name, so a new TRL option is one new field here.

Values arrive as JSON or as strings. Pydantic's lax mode parses "1e-5", "3" and "true"/"on";
`LenientModel._form_value` adds what forms need on top of it. Errors become `ConfigError`, whose
message names each offending field.

Pure Python on purpose: Django imports this module at start-up, so no torch/transformers here.
"""

import re
import types
import typing
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError


class ConfigError(ValueError):
    """A run config was refused. `problems` holds (field, message) pairs; the message of the
    exception is "field: message; ..." so that it names the offending fields wherever shown."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else _split(message)

    @classmethod
    def of(cls, problems: list[tuple[str, str]]) -> "ConfigError":
        return cls("; ".join(f"{name}: {text}" for name, text in problems), problems)


def _split(message: str) -> list[tuple[str, str]]:
    name, sep, text = message.partition(": ")
    return [(name, text)] if sep else [("", message)]


def field_rule(name: str, message: str) -> PydanticCustomError:
    """A rule involving several fields, reported on the field `name` a user should change."""
    return PydanticCustomError("field_rule", "{field}: {text}", {"field": name, "text": message})


Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup"]
DPOLoss = Literal["sigmoid", "ipo", "hinge", "robust"]


class LenientModel(BaseModel):
    """Strict about names and ranges, lenient about strings: reads values as forms, `--set`
    and JSON give them. The base of the run configs and of the run description (run.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _form_value(cls, value: Any, info: ValidationInfo) -> Any:
        """Form and `--set` strings: spaces around a value are ignored, an empty input (or
        "none"/"null") is None where a field allows it. A bool is not a number here, though
        pydantic's lax mode would read True as 1."""
        base, optional, _ = field_shape(cls.model_fields[str(info.field_name)].annotation)
        if isinstance(value, str):
            value = value.strip()
            if optional and value.lower() in ("", "none", "null"):
                return None
        if value is None or value == "":
            if optional:
                return None
            raise ValueError("a value is required")
        if isinstance(value, bool) and base in (int, float):
            noun = "an integer" if base is int else "a number"
            raise ValueError(f"expected {noun}, got {value!r}")
        return value


class RunConfig(LenientModel):
    """What every kind's config shares."""

    # Fields the engine reads itself; every other field goes to TRL's config class by name.
    engine_fields: ClassVar[frozenset[str]] = frozenset()


def _learning_rate(default: float, help: str = "Peak AdamW learning rate.") -> Any:
    return Field(default, gt=0, description=help)


class OptimisationConfig(RunConfig):
    """Fields every Trainer-based kind shares (transformers.TrainingArguments, by name)."""

    learning_rate: float = _learning_rate(1e-5)
    num_train_epochs: float = Field(
        1.0, gt=0, description="Passes over the training set (ignored when max_steps > 0)."
    )
    max_steps: int = Field(
        -1, ge=-1, description="Optimizer steps to run; -1 means use num_train_epochs."
    )
    per_device_train_batch_size: int = Field(
        8, ge=1, description="Examples per device per optimizer micro-step."
    )
    gradient_accumulation_steps: int = Field(
        1, ge=1, description="Micro-steps accumulated into one optimizer step."
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps for the learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    lr_scheduler_type: Scheduler = Field(
        "linear", description="Learning-rate schedule after warm-up."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Clip the gradient norm to this value.")
    logging_steps: int = Field(
        1, ge=1, description="Emit a metrics event every this many optimizer steps."
    )
    seed: int = Field(
        42, ge=0, description="Random seed (data order, head initialisation, sampling)."
    )
    data_seed: int | None = Field(
        None,
        ge=0,
        description="Seed of the data order alone, so it can vary while the model's "
        "initialisation stays fixed; empty = seed.",
    )


class SFTRunConfig(OptimisationConfig):
    """Supervised fine-tuning on (prompt, chosen): maximum likelihood of the preferred answer."""

    learning_rate: float = _learning_rate(2e-5)
    max_length: int = Field(1024, ge=8, description="Truncate prompt+response to this many tokens.")
    completion_only_loss: bool = Field(
        True, description="Train on the response tokens only, not on the prompt."
    )


class RewardRunConfig(OptimisationConfig):
    """Bradley–Terry reward model: loss -log σ(r(x, y_w) - r(x, y_l) [- margin])."""

    engine_fields: ClassVar[frozenset[str]] = frozenset({"use_margin"})  # data.py reads it

    learning_rate: float = _learning_rate(1e-5)
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

    learning_rate: float = _learning_rate(1e-6)
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

    learning_rate: float = _learning_rate(1e-5, "Peak AdamW learning rate (policy and value head).")
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
    engine_fields: ClassVar[frozenset[str]] = REWARD_SHAPING_FIELDS

    learning_rate: float = _learning_rate(1e-6)
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


# Which prompts a generation job answers: every prompt of the project, those with fewer than k
# candidates (both leave the held-out prompts out), the held-out evaluation prompts
# (Prompt.heldout), or prompts named by id.
PROMPT_SET_HELP = (
    'Which prompts to answer: "all" (but the held-out ones), "fewer_than_k" (fewer than k '
    'candidates so far, held-out ones left out), "heldout" (the held-out evaluation prompts) '
    'or "prompts:ID,ID,...".'
)
_PROMPT_SET = re.compile(r"all|fewer_than_k|heldout|prompts:\d+(,\d+)*")
Pairing = Literal["all", "previous", "best"]


class GenerateRunConfig(RunConfig):
    """A generation job: k sampled answers per prompt from a policy become new candidates and
    pairs. The engine reads the sampling fields; the Django side reads prompt_set and pairing."""

    engine_fields: ClassVar[frozenset[str]] = frozenset()  # no TRL class: nothing is passed on

    prompt_set: str = Field("fewer_than_k", description=PROMPT_SET_HELP)
    k: int = Field(2, ge=1, le=16, description="Answers sampled per prompt.")
    pairing: Pairing = Field(
        "all",
        description='How new answers are paired: "all" (every pair among a prompt\'s new answers '
        'up to 4, a capped sample beyond), "previous" (each against the previous policy\'s, '
        'else the first imported, answer to the prompt) or "best" (each against the prompt\'s '
        "best existing answer).",
    )
    temperature: float = Field(
        0.7, ge=0, description="Sampling temperature; 0 = greedy (k > 1 then repeats itself)."
    )
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: keep this much mass.")
    top_k: int = Field(0, ge=0, description="Sample among the k likeliest tokens; 0 = off.")
    max_new_tokens: int = Field(64, ge=1, description="Maximum new tokens per answer.")
    max_prompt_length: int = Field(
        512, ge=1, description="Prompts are left-truncated to this many tokens."
    )
    seed: int = Field(
        0, ge=0, description="Sampling seed: the same job and seed give the same answers."
    )
    batch_size: int = Field(8, ge=1, description="Prompts per generate() call (k answers each).")
    backend: Literal["auto", "transformers", "vllm"] = Field(
        "auto",
        description="auto = vLLM when it is installed and a GPU is present, else transformers.",
    )

    @field_validator("prompt_set")
    @classmethod
    def _known_prompt_set(cls, value: str) -> str:
        value = value.replace(" ", "")
        if value.startswith("batch:"):
            raise ValueError("imports record no batch; name the prompts instead: prompts:ID,ID,...")
        if not _PROMPT_SET.fullmatch(value):
            raise ValueError(
                f'expected "all", "fewer_than_k", "heldout" or "prompts:ID,ID,...", got {value!r}'
            )
        return value


class ScoreRunConfig(RunConfig):
    """Score a project's open pairs with a reward model (active learning); trains nothing."""

    batch_size: int = Field(16, ge=1, description="Texts scored per forward pass.")
    max_length: int | None = Field(
        None,
        ge=8,
        description="Tokens kept per text (the last ones); empty: the length the reward model "
        "was trained with.",
    )


class EvaluateRunConfig(RunConfig):
    """Evaluation of a policy on held-out prompts against the round-0 policy (evaluate.py):
    both sample, the reward model scores, and nothing is trained."""

    engine_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "samples_per_prompt",
            "max_new_tokens",
            "temperature",
            "top_p",
            "batch_size",
            "confidence",
            "seed",
        }
    )

    samples_per_prompt: int = Field(
        1, ge=1, description="Responses each policy samples per held-out prompt."
    )
    max_new_tokens: int = Field(64, ge=1, description="Maximum new tokens per sampled response.")
    temperature: float = Field(
        1.0,
        gt=0,
        description="Sampling temperature; at 1.0 the KL estimate is unbiased (it uses the "
        "models' own log-probs of the sampled tokens).",
    )
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold (1 = off).")
    batch_size: int = Field(16, ge=1, description="Prompts sampled and scored per batch.")
    confidence: float = Field(
        0.95, gt=0, lt=1, description="Confidence level of the win-rate interval (Wilson)."
    )
    seed: int = Field(0, ge=0, description="Random seed of the sampling.")


CONFIG_CLASSES: dict[str, type[RunConfig]] = {
    "sft": SFTRunConfig,
    "reward": RewardRunConfig,
    "dpo": DPORunConfig,
    "ppo": PPORunConfig,
    "rloo": RLOORunConfig,
    "grpo": GRPORunConfig,
    "generate": GenerateRunConfig,
    "score": ScoreRunConfig,
    "evaluate": EvaluateRunConfig,
}
# The training kinds; training.models.TrainingKind lists the same values for the database.
KINDS = tuple(CONFIG_CLASSES)
# Kinds that score their samples with a trained reward model (ppo, rloo, grpo, evaluate).
KINDS_NEEDING_REWARD = frozenset({"ppo", "rloo", "grpo", "evaluate"})
# Kinds that read no snapshot of judgments (their run has none): a generation job reads prompts,
# a scoring run the open pairs.
KINDS_WITHOUT_SNAPSHOT = frozenset({"generate", "score"})
# Kinds that compare against a reference policy given with the run (evaluate: round 0).
KINDS_NEEDING_REFERENCE = frozenset({"evaluate"})


class ConfigField(NamedTuple):
    """One form input, read off a model field."""

    name: str
    type: type  # int, float, bool or str
    default: Any
    help: str
    choices: tuple[str, ...] | None
    optional: bool = False  # accepts None (an empty form input)


def config_class(kind: str) -> type[RunConfig]:
    try:
        return CONFIG_CLASSES[kind]
    except KeyError:
        raise ConfigError(
            f"kind: unknown training kind {kind!r}; expected one of {', '.join(KINDS)}"
        ) from None


def field_shape(annotation: Any) -> tuple[type, bool, tuple[str, ...] | None]:
    """(int|float|bool|str, optional?, choices) of an annotation such as `float | None`."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation, optional = args[0], True
    if typing.get_origin(annotation) is Literal:
        return str, optional, tuple(typing.get_args(annotation))
    return annotation, optional, None


def config_fields(kind: str) -> list[ConfigField]:
    """Describe the fields of `kind`'s config, in declaration order, for building a form."""
    out = []
    for name, info in config_class(kind).model_fields.items():
        base, optional, choices = field_shape(info.annotation)
        out.append(ConfigField(name, base, info.default, info.description or "", choices, optional))
    return out


# How pydantic's error types read to a manager; anything else keeps pydantic's own message.
_WORDING = {
    "missing": "a value is required",
    "int_parsing": "expected an integer, got {input!r}",
    "int_from_float": "expected an integer, got {input!r}",
    "int_type": "expected an integer, got {input!r}",
    "float_parsing": "expected a number, got {input!r}",
    "float_type": "expected a number, got {input!r}",
    "finite_number": "expected a finite number, got {input!r}",
    "bool_parsing": "expected true or false, got {input!r}",
    "bool_type": "expected true or false, got {input!r}",
    "greater_than": "must be > {gt}, got {input}",
    "greater_than_equal": "must be >= {ge}, got {input}",
    "less_than": "must be < {lt}, got {input}",
    "less_than_equal": "must be <= {le}, got {input}",
    "literal_error": "must be one of {expected}, got {input!r}",
    "string_type": "expected a string, got {input!r}",
    "extra_forbidden": "{unknown}",
    "model_type": "expected an object, got {input!r}",
}


def problems_of(error: ValidationError, *, unknown: str) -> list[tuple[str, str]]:
    """(field, message) for each error pydantic found; `unknown` words an unknown field."""
    problems = []
    for item in error.errors():
        ctx = item.get("ctx") or {}
        if item["type"] == "field_rule":
            problems.append((ctx["field"], ctx["text"]))
            continue
        name = ".".join(str(part) for part in item["loc"]) or "config"
        if item["type"] == "value_error":
            text = str(ctx["error"])
        elif item["type"] in _WORDING:
            text = _WORDING[item["type"]].format(input=item["input"], unknown=unknown, **ctx)
        else:
            text = item["msg"]
        problems.append((name, text))
    return problems


def validate_config(kind: str, values: dict[str, Any] | None) -> RunConfig:
    """Build `kind`'s config from `values`, or raise ConfigError naming every bad field."""
    cls = config_class(kind)
    try:
        return cls.model_validate(values or {})
    except ValidationError as error:
        raise ConfigError.of(
            problems_of(error, unknown=f"unknown field for kind {kind!r}")
        ) from None


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The JSON-safe dict of a config (what a run stores and `validate_config` reads back)."""
    return config.model_dump(mode="json")


def parse_set_options(pairs: list[str]) -> dict[str, str]:
    """`["beta=0.1", "loss_type=ipo"]` (from `--set key=value`) -> dict of raw strings."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{pair}: expected key=value")
        values[key.strip()] = value
    return values
