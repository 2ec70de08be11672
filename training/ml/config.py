"""Run configs: one dataclass per training kind, and the validation every entry point shares.

Values arrive as JSON (stored runs), as `--set key=value` strings (management command) or as HTML
form strings (dashboard), so `validate_config` coerces "1e-5", "3", "true"/"on" and "" (None where
a field allows it). The same dataclasses describe the web form (`config_fields`).

Pure Python on purpose: Django imports this module at start-up, so no torch/transformers here.
"""

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class ConfigError(ValueError):
    """A run config was refused; the message names the offending field."""


def _f(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field whose metadata carries its help line, range and choices."""
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "choices": choices,
    }
    return field(default=default, metadata=meta)


SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")


@dataclass
class OptimisationConfig:
    """Fields every Trainer-based kind shares (they map 1:1 onto transformers.TrainingArguments)."""

    learning_rate: float = _f(1e-5, "Peak AdamW learning rate.", min=0.0, min_exclusive=True)
    num_train_epochs: float = _f(
        1.0,
        "Passes over the training set (ignored when max_steps > 0).",
        min=0.0,
        min_exclusive=True,
    )
    max_steps: int = _f(-1, "Optimizer steps to run; -1 means use num_train_epochs.", min=-1)
    per_device_train_batch_size: int = _f(8, "Examples per device per optimizer micro-step.", min=1)
    gradient_accumulation_steps: int = _f(
        1, "Micro-steps accumulated into one optimizer step.", min=1
    )
    warmup_steps: int = _f(0, "Linear warm-up steps for the learning rate.", min=0)
    weight_decay: float = _f(0.0, "AdamW weight decay.", min=0.0)
    lr_scheduler_type: str = _f(
        "linear", "Learning-rate schedule after warm-up.", choices=SCHEDULERS
    )
    max_grad_norm: float = _f(
        1.0, "Clip the gradient norm to this value.", min=0.0, min_exclusive=True
    )
    logging_steps: int = _f(1, "Emit a metrics event every this many optimizer steps.", min=1)
    seed: int = _f(42, "Random seed (data order, head initialisation, sampling).", min=0)


@dataclass
class SFTRunConfig(OptimisationConfig):
    """Supervised fine-tuning on (prompt, chosen): maximum likelihood of the preferred answer."""

    learning_rate: float = _f(2e-5, "Peak AdamW learning rate.", min=0.0, min_exclusive=True)
    max_length: int = _f(1024, "Truncate prompt+response to this many tokens.", min=8)
    completion_only_loss: bool = _f(True, "Train on the response tokens only, not on the prompt.")


@dataclass
class RewardRunConfig(OptimisationConfig):
    """Bradley–Terry reward model: loss -log σ(r(x, y_w) - r(x, y_l) [- margin])."""

    learning_rate: float = _f(1e-5, "Peak AdamW learning rate.", min=0.0, min_exclusive=True)
    max_length: int = _f(
        1024, "Pairs longer than this (prompt+response tokens) are dropped.", min=8
    )
    center_rewards_coefficient: float | None = _f(
        None,
        "Weight of the (r_w + r_l)^2 term keeping rewards centred on 0 (e.g. 0.01); empty = off.",
        min=0.0,
    )
    use_margin: bool = _f(
        True, "Subtract each row's `margin` (preference strength) inside the sigmoid."
    )


@dataclass
class DPORunConfig(OptimisationConfig):
    """Direct preference optimisation against a frozen copy of the base model."""

    learning_rate: float = _f(1e-6, "Peak AdamW learning rate.", min=0.0, min_exclusive=True)
    max_length: int = _f(1024, "Truncate prompt+response to this many tokens.", min=8)
    beta: float = _f(
        0.1,
        "Strength of the implicit KL constraint to the reference model.",
        min=0.0,
        min_exclusive=True,
    )
    loss_type: str = _f(
        "sigmoid", "DPO loss variant.", choices=("sigmoid", "ipo", "hinge", "robust")
    )
    label_smoothing: float = _f(
        0.0, "Assumed label-noise rate for the robust loss, in [0, 0.5).", min=0.0, max=0.499
    )
    precompute_ref_log_probs: bool = _f(
        False,
        "Compute reference log-probs once before training (saves memory, frees the ref model).",
    )


@dataclass
class PPORunConfig:
    """The project's own PPO (training/ml/ppo.py): maximise E[r(x, y)] - β KL(π || π_ref)."""

    learning_rate: float = _f(
        1e-5, "Peak AdamW learning rate (policy and value head).", min=0.0, min_exclusive=True
    )
    max_steps: int = _f(
        100, "Rollout+update iterations (ignored when total_episodes is set).", min=1
    )
    total_episodes: int | None = _f(
        None, "Responses to sample in total; sets the number of iterations.", min=1
    )
    rollout_batch_size: int = _f(64, "Prompts sampled per iteration (one response each).", min=1)
    num_mini_batches: int = _f(1, "Minibatches each rollout is split into for the updates.", min=1)
    ppo_epochs: int = _f(4, "Optimisation passes over each rollout.", min=1)
    max_prompt_length: int = _f(512, "Prompts are left-truncated to this many tokens.", min=1)
    response_length: int = _f(53, "Maximum new tokens per sampled response.", min=1)
    temperature: float = _f(
        0.7,
        "Sampling temperature (log-probs are computed at the same temperature).",
        min=0.0,
        min_exclusive=True,
    )
    beta: float = _f(0.05, "KL penalty coefficient (initial value if adaptive_kl).", min=0.0)
    adaptive_kl: bool = _f(False, "Adapt beta towards target_kl (Ziegler et al. 2019).")
    target_kl: float = _f(
        6.0, "Target sequence KL (nats) for the adaptive controller.", min=0.0, min_exclusive=True
    )
    kl_horizon: int = _f(10000, "Horizon of the adaptive KL controller, in episodes.", min=1)
    gamma: float = _f(1.0, "Discount factor for GAE.", min=0.0, max=1.0)
    lam: float = _f(0.95, "GAE λ (bias/variance trade-off).", min=0.0, max=1.0)
    cliprange: float = _f(
        0.2, "PPO ratio clip ε for the policy surrogate.", min=0.0, min_exclusive=True
    )
    cliprange_value: float = _f(
        0.2, "Clip range for value updates around the rollout values.", min=0.0, min_exclusive=True
    )
    vf_coef: float = _f(0.1, "Weight of the value loss in the total loss.", min=0.0)
    missing_eos_penalty: float | None = _f(
        None,
        "Subtract this from the score of responses that never emit EOS (e.g. 1.0); empty = off.",
        min=0.0,
    )
    max_grad_norm: float = _f(
        1.0, "Clip the gradient norm to this value.", min=0.0, min_exclusive=True
    )
    logging_steps: int = _f(1, "Emit a metrics event every this many iterations.", min=1)
    seed: int = _f(42, "Random seed (prompt order, sampling, value-head initialisation).", min=0)


@dataclass
class OnlineRunConfig(OptimisationConfig):
    """Fields shared by TRL's online trainers (RLOO, GRPO): sample num_generations per prompt."""

    learning_rate: float = _f(1e-6, "Peak AdamW learning rate.", min=0.0, min_exclusive=True)
    num_generations: int = _f(4, "Responses sampled per prompt (the group/baseline size).", min=2)
    max_completion_length: int = _f(256, "Maximum new tokens per sampled response.", min=1)
    temperature: float = _f(1.0, "Sampling temperature.", min=0.0, min_exclusive=True)
    num_iterations: int = _f(1, "Optimisation passes over each generated batch (μ).", min=1)
    epsilon: float = _f(0.2, "Ratio clip ε.", min=0.0, min_exclusive=True)
    missing_eos_penalty: float | None = _f(
        None,
        "Subtract this from the score of responses that never emit EOS (e.g. 1.0); empty = off.",
        min=0.0,
    )


@dataclass
class RLOORunConfig(OnlineRunConfig):
    """REINFORCE leave-one-out (TRL RLOOTrainer) with the project's reward model as reward."""

    beta: float = _f(0.05, "KL coefficient to the reference model.", min=0.0)


@dataclass
class GRPORunConfig(OnlineRunConfig):
    """Group relative policy optimisation (TRL GRPOTrainer) with the project's reward model."""

    beta: float = _f(
        0.0, "KL coefficient to the reference model (0 = no reference model kept).", min=0.0
    )


CONFIG_CLASSES: dict[str, type] = {
    "sft": SFTRunConfig,
    "reward": RewardRunConfig,
    "dpo": DPORunConfig,
    "ppo": PPORunConfig,
    "rloo": RLOORunConfig,
    "grpo": GRPORunConfig,
}
KINDS = tuple(CONFIG_CLASSES)
# Kinds whose artifact is a reward model; every other kind produces a policy.
REWARD_KINDS = frozenset({"reward"})
# Kinds that need a trained reward model to score their samples.
NEEDS_REWARD_MODEL = frozenset({"ppo", "rloo", "grpo"})


class ConfigField(NamedTuple):
    """One form field: the first five are what a form needs; the range helps client-side checks."""

    name: str
    type: type  # int, float, bool or str
    default: Any
    help: str
    choices: tuple[str, ...] | None
    optional: bool = False  # accepts None (an empty form input)
    minimum: float | None = None
    maximum: float | None = None


def _config_class(kind: str) -> type:
    try:
        return CONFIG_CLASSES[kind]
    except KeyError:
        raise ConfigError(
            f"kind: unknown training kind {kind!r}; expected one of {', '.join(KINDS)}"
        ) from None


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(int|float|bool|str, optional?) from an annotation such as `float | None`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def config_fields(kind: str) -> list[ConfigField]:
    """Describe the fields of `kind`'s config, in declaration order, for building a form."""
    cls = _config_class(kind)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        base, optional = _base_type(hints[f.name])
        out.append(
            ConfigField(
                f.name,
                base,
                f.default,
                f.metadata["help"],
                f.metadata["choices"],
                optional,
                f.metadata["min"],
                f.metadata["max"],
            )
        )
    return out


_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}


def _coerce(name: str, value: Any, base: type, optional: bool) -> Any:
    """Turn a JSON or form value into `base`, or raise ConfigError naming the field."""
    if isinstance(value, str):
        value = value.strip()
        if value == "" or value.lower() in {"none", "null"}:
            if optional:
                return None
            if base is not str or value == "":
                raise ConfigError(f"{name}: a value is required")
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name}: a value is required")
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if base is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        try:
            number = float(value) if isinstance(value, str | float) else math.nan
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number == int(number):
            return int(number)  # "3", "3.0", 3.0 and "1e3" are all fine
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if base is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{name}: expected a finite number, got {value!r}")
        return number
    if base is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {base!r} for {name}")  # a bug in this module


def _validate_ranges(cls: type, values: dict[str, Any]) -> None:
    for f in dataclasses.fields(cls):
        value = values[f.name]
        meta = f.metadata
        if meta["choices"] is not None and value not in meta["choices"]:
            raise ConfigError(
                f"{f.name}: must be one of {', '.join(meta['choices'])}, got {value!r}"
            )
        if value is None or isinstance(value, bool | str):
            continue
        low, high = meta["min"], meta["max"]
        if low is not None and (value < low or (meta["min_exclusive"] and value == low)):
            op = ">" if meta["min_exclusive"] else ">="
            raise ConfigError(f"{f.name}: must be {op} {low}, got {value!r}")
        if high is not None and value > high:
            raise ConfigError(f"{f.name}: must be <= {high}, got {value!r}")


def _check_cross_field(kind: str, config: Any) -> None:
    """Rules that involve several fields; each message still names the field to change."""
    if kind == "dpo" and config.loss_type != "robust" and config.label_smoothing:
        raise ConfigError("label_smoothing: only used by loss_type=robust; leave it at 0")
    if kind in ("rloo", "grpo"):
        generation_batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
        if generation_batch % config.num_generations:
            raise ConfigError(
                f"num_generations: per_device_train_batch_size × gradient_accumulation_steps "
                f"({generation_batch}) must be a multiple of num_generations "
                f"({config.num_generations})"
            )
    if kind == "ppo" and config.rollout_batch_size % config.num_mini_batches:
        raise ConfigError(
            f"num_mini_batches: must divide rollout_batch_size ({config.rollout_batch_size})"
        )


def validate_config(kind: str, values: dict[str, Any] | None) -> Any:
    """Build `kind`'s config dataclass from `values`, or raise ConfigError naming the bad field."""
    cls = _config_class(kind)
    values = dict(values or {})
    specs = {spec.name: spec for spec in config_fields(kind)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown field for kind {kind!r}")
    coerced = {spec.name: spec.default for spec in specs.values()}
    for name, value in values.items():
        spec = specs[name]
        coerced[name] = _coerce(name, value, spec.type, spec.optional)
    _validate_ranges(cls, coerced)
    config = cls(**coerced)
    _check_cross_field(kind, config)
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """The JSON-safe dict of a config (what a run stores and `validate_config` reads back)."""
    return dataclasses.asdict(config)


def parse_set_options(pairs: list[str]) -> dict[str, str]:
    """`["beta=0.1", "loss_type=ipo"]` (from `--set key=value`) -> dict of raw strings."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{pair}: expected key=value")
        values[key.strip()] = value
    return values
