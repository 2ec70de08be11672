"""LoRA adapters (PEFT): the one module that imports peft.

A run with `peft.enabled` trains adapters beside the frozen weights of its base model. Its
artifact then holds the adapters (`adapter_config.json`, which names the base model, and
`adapter_model.safetensors`) with the tokenizer, unless `peft.merge_on_save` asked for a plain
model with the adapters merged in. Every reader of a model directory (the trainers, the scorer,
generation, evaluation, "try it") loads it through `load_policy` / `load_reward_model`, which
merge an adapter artifact into its base on load, so a consumer never needs to know which it got.

An adapter artifact needs its base model where it was at training time (the same hub id, or the
same directory path on the machine that loads it); `base_of` names it.
"""

import json
import shutil
from pathlib import Path
from typing import Any

from . import events
from .config_base import PeftConfig

ADAPTER_CONFIG = "adapter_config.json"
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")

# PEFT's task types: the policy is a causal LM, the reward model a 1-label classifier whose new
# head (`score`) PEFT trains in full (modules_to_save) beside the adapters.
CAUSAL_LM = "CAUSAL_LM"
SEQ_CLS = "SEQ_CLS"


def lora_config(peft: PeftConfig, task_type: str) -> Any:
    """peft.LoraConfig for a run, or None when the run trains every weight."""
    if not peft.enabled:
        return None
    from peft import LoraConfig

    targets = peft.target_modules
    return LoraConfig(
        r=peft.r,
        lora_alpha=peft.alpha,
        lora_dropout=peft.dropout,
        target_modules=targets if targets == "all-linear" else targets.split(","),
        task_type=task_type,
    )


def is_adapter(model_dir: str | Path) -> bool:
    return Path(model_dir, ADAPTER_CONFIG).is_file()


def base_of(model_dir: str | Path) -> str | None:
    """The base model an adapter directory was trained on (None: a plain model)."""
    if not is_adapter(model_dir):
        return None
    info = json.loads(Path(model_dir, ADAPTER_CONFIG).read_text(encoding="utf-8"))
    return str(info["base_model_name_or_path"])


def load_policy(model_dir: str | Path, **kwargs: Any) -> Any:
    """A causal LM from a model directory or hub id; an adapter artifact comes merged."""
    from transformers import AutoModelForCausalLM

    base = base_of(model_dir)
    if base is None:
        return AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    return _merged(AutoModelForCausalLM.from_pretrained(base, **kwargs), model_dir)


def load_reward_model(model_dir: str | Path, **kwargs: Any) -> Any:
    """A 1-label sequence classifier; an adapter artifact comes merged. The base may be a causal
    LM (a reward model trained from a policy), whose own config says nothing of one label."""
    from transformers import AutoModelForSequenceClassification

    base = base_of(model_dir)
    if base is None:
        return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, **kwargs)
    return _merged(load_reward_model(base, **kwargs), model_dir)


def _merged(base_model: Any, adapter_dir: str | Path) -> Any:
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(adapter_dir)).merge_and_unload()


def training_base(base_model: str, peft: PeftConfig, *, reward: bool, **kwargs: Any) -> Any:
    """What a trainer starts from: the hub id or directory itself, or, for an adapter artifact,
    the model with its adapters merged (a trainer cannot start from adapters alone)."""
    if not is_adapter(base_model):
        return base_model
    events.emit("log", message=f"{base_model} holds adapters: merged into their base to train")
    if peft.enabled and not peft.merge_on_save:
        events.emit("log", message="adapters trained on merged adapters are saved merged")
    loader = load_reward_model if reward else load_policy
    return loader(base_model, **kwargs)


def must_merge(base_model: str, peft: PeftConfig) -> bool:
    """Whether the saved adapters must be merged: asked for, or their base is itself merged
    from adapters (training_base), which no directory holds as a model."""
    return peft.enabled and (peft.merge_on_save or is_adapter(base_model))


def merge_saved(output_dir: str | Path, base_model: str, *, reward: bool) -> None:
    """Replace the adapters saved in `output_dir` by the plain model they make with the run's
    base (itself merged first if it is an adapter artifact). Reads both from disk, so it works
    alike whichever way the processes of a run shared the model while training."""
    loader = load_reward_model if reward else load_policy
    model = _merged(loader(base_model), output_dir)
    for name in (ADAPTER_CONFIG, *_ADAPTER_WEIGHTS):
        Path(output_dir, name).unlink(missing_ok=True)
    model.save_pretrained(output_dir)
    events.emit("log", message="adapters merged into the saved model")


def copy_without_adapters(model_dir: str | Path, target: str | Path) -> Path:
    """A plain copy of an adapter artifact (merged), for engines that read a directory and know
    nothing of PEFT (vLLM)."""
    from transformers import AutoTokenizer

    target = Path(target)
    shutil.rmtree(target, ignore_errors=True)
    load_policy(model_dir).save_pretrained(target)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(target)
    return target
