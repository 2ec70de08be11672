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

from typing import Any, NamedTuple

from pydantic import ValidationError

from .config_base import (
    LAUNCH_FIELDS,
    ConfigError,
    Distributed,
    DPOLoss,
    LenientModel,
    OptimisationConfig,
    PeftConfig,
    RunConfig,
    Scheduler,
    field_rule,
    field_shape,
)
from .config_jobs import PROMPT_SET_HELP, EvaluateRunConfig, GenerateRunConfig, ScoreRunConfig
from .config_kinds import (
    REWARD_SHAPING_FIELDS,
    DPORunConfig,
    GRPORunConfig,
    OnlineRunConfig,
    PPORunConfig,
    RewardRunConfig,
    RLOORunConfig,
    SFTRunConfig,
)

__all__ = [
    "CONFIG_CLASSES",
    "KINDS",
    "KINDS_NEEDING_REFERENCE",
    "KINDS_NEEDING_REWARD",
    "KINDS_WITHOUT_SNAPSHOT",
    "LAUNCH_FIELDS",
    "PROMPT_SET_HELP",
    "REWARD_SHAPING_FIELDS",
    "ConfigError",
    "ConfigField",
    "DPOLoss",
    "Distributed",
    "DPORunConfig",
    "EvaluateRunConfig",
    "GRPORunConfig",
    "GenerateRunConfig",
    "LenientModel",
    "OnlineRunConfig",
    "OptimisationConfig",
    "PPORunConfig",
    "PeftConfig",
    "RLOORunConfig",
    "RewardRunConfig",
    "RunConfig",
    "SFTRunConfig",
    "Scheduler",
    "ScoreRunConfig",
    "config_class",
    "config_fields",
    "config_to_dict",
    "field_rule",
    "field_shape",
    "nest_dotted",
    "parse_set_options",
    "problems_of",
    "validate_config",
]


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


def config_fields(kind: str) -> list[ConfigField]:
    """Describe the fields of `kind`'s config, in declaration order, for building a form. A
    block (a model inside the config, such as `peft`) becomes one field per inner field, named
    "block.field", as forms and `--set` name them, after the plain fields."""
    fields = _fields(config_class(kind))
    return [f for f in fields if "." not in f.name] + [f for f in fields if "." in f.name]


def _fields(model: type[LenientModel], prefix: str = "") -> list[ConfigField]:
    out = []
    for name, info in model.model_fields.items():
        base, optional, choices = field_shape(info.annotation)
        if isinstance(base, type) and issubclass(base, LenientModel):
            out.extend(_fields(base, f"{prefix}{name}."))
            continue
        out.append(
            ConfigField(
                prefix + name, base, info.default, info.description or "", choices, optional
            )
        )
    return out


def nest_dotted(values: dict[str, Any]) -> dict[str, Any]:
    """{"peft.r": "8", "beta": "0.1"} -> {"peft": {"r": "8"}, "beta": "0.1"}: how a form or
    `--set` names a block's fields, turned into the shape of the stored JSON."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        head, dot, rest = key.partition(".")
        if not dot:
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**value, **out[key]}
            else:
                out[key] = value
            continue
        block = out.setdefault(head, {})
        if isinstance(block, dict):
            block[rest] = value
        # else: a block given as a plain value too; pydantic names the field when it refuses it
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
        values = values or {}
        return cls.model_validate(nest_dotted(values) if isinstance(values, dict) else values)
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
