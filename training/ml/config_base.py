"""What every run config shares: the error type, the lenient reading of form strings, the base
models (`RunConfig`, `OptimisationConfig`). The kinds' own models are in config_kinds.py
(training) and config_jobs.py (generation, scoring, evaluation); config.py is the entry point.

Pure Python on purpose: Django imports this module at start-up, so no torch/transformers here.
"""

import re
import types
import typing
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
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


class PeftConfig(LenientModel):
    """LoRA adapters (PEFT): train small low-rank matrices beside frozen weights. A block of its
    own in a run's config (`peft.r` in a form or `--set`, {"peft": {"r": 8}} in JSON)."""

    enabled: bool = Field(
        False, description="Train LoRA adapters instead of every weight of the model."
    )
    r: int = Field(16, ge=1, le=1024, description="Rank of each adapter's matrices.")
    alpha: int = Field(
        32, ge=1, description="LoRA alpha: the adapters' output is scaled by alpha / r."
    )
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapters' input.")
    target_modules: str = Field(
        "all-linear",
        description='Modules that get adapters: "all-linear" (every linear layer but the '
        'output head) or names separated by commas, e.g. "q_proj,v_proj".',
    )
    merge_on_save: bool = Field(
        False,
        description="Save a plain model with the adapters merged into its weights, instead of "
        "the adapters alone (which need their base model to load).",
    )

    @field_validator("target_modules")
    @classmethod
    def _module_names(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if not names:
            raise ValueError('name at least one module, or "all-linear"')
        if "all-linear" in names and len(names) > 1:
            raise ValueError('"all-linear" stands alone')
        bad = [
            name
            for name in names
            if name != "all-linear" and not re.fullmatch(r"[A-Za-z0-9_.]+", name)
        ]
        if bad:
            raise ValueError(f"not a module name: {bad[0]!r}")
        return ",".join(names)


def peft_field() -> Any:
    return Field(PeftConfig.model_validate({}), description="LoRA adapters (off by default).")


# How a multi-process run shares the model between its processes (accelerate's choices).
Distributed = Literal["ddp", "fsdp", "deepspeed"]
# Read by the supervisor (how it starts the child) and the engine, never passed to TRL.
LAUNCH_FIELDS = frozenset({"processes", "distributed"})


def learning_rate_field(default: float, help: str = "Peak AdamW learning rate.") -> Any:
    return Field(default, gt=0, description=help)


class OptimisationConfig(RunConfig):
    """Fields every Trainer-based kind shares (transformers.TrainingArguments, by name)."""

    engine_fields: ClassVar[frozenset[str]] = LAUNCH_FIELDS | {"peft"}

    learning_rate: float = learning_rate_field(1e-5)
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
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in the backward pass instead of keeping them: less "
        "memory for a large model, about a third more compute.",
    )
    processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Training processes (one per GPU, or CPU processes on the gloo backend), "
        "started by accelerate launch; the batch size is per process.",
    )
    distributed: Distributed = Field(
        "ddp",
        description="With several processes: ddp (a full copy per process), fsdp or deepspeed "
        "(ZeRO-3; the model sharded across processes, when deepspeed is installed).",
    )
    peft: PeftConfig = peft_field()


def field_shape(annotation: Any) -> tuple[type, bool, tuple[str, ...] | None]:
    """(int|float|bool|str, optional?, choices) of an annotation such as `float | None`."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation, optional = args[0], True
    if typing.get_origin(annotation) is Literal:
        return str, optional, tuple(typing.get_args(annotation))
    return annotation, optional, None
