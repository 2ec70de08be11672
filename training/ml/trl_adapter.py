"""The only module that imports TRL: build and run its SFT, reward, DPO, RLOO and GRPO trainers.

When TRL moves an API, this file changes and nothing else. Each `train_<kind>` function reads
top to bottom like TRL's own scripts: load data, load tokenizer, build the trainer, train, save
into `output_dir`, return the final metrics. `trl_arguments` hands the run config to TRL's config
class field by field, by name, so a TRL option becomes available by adding one field to the
kind's model in config.py; settings that make a run safe on any machine are forced here.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from transformers import (
    AutoTokenizer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from . import adapters, data, events
from .config import (
    DPORunConfig,
    GRPORunConfig,
    OptimisationConfig,
    RewardRunConfig,
    RLOORunConfig,
    SFTRunConfig,
)
from .rewards import KLBudget, RewardShaping, shaped_scores, trl_guard_metrics
from .scorer import RewardScorer, Scorer, pairwise_accuracy, prepare_tokenizer

ArgumentsT = TypeVar("ArgumentsT", bound=TrainingArguments)


def _forced_arguments(config: OptimisationConfig, output_dir: str, has_eval: bool) -> dict:
    """What a manager does not choose: these keep runs CPU-safe, quiet and saved once."""
    on_gpu = torch.cuda.is_available()
    return {
        "output_dir": output_dir,
        "per_device_eval_batch_size": config.per_device_train_batch_size,
        # TRL defaults to bf16, which does not suit a CPU; gradient checkpointing is the
        # config's own field (off by default).
        "bf16": on_gpu and torch.cuda.is_bf16_supported(),
        "use_cpu": not on_gpu,
        "report_to": "none",
        "save_strategy": "no",  # the run saves once, at the end, into a temporary directory
        "eval_strategy": "epoch" if has_eval else "no",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def trl_arguments(
    arguments_cls: type[ArgumentsT],
    config: OptimisationConfig,
    output_dir: str,
    *,
    has_eval: bool,
) -> ArgumentsT:
    """TRL's config for a run: every field of `config` by name (except the ones the engine
    reads itself), then the forced settings.

    A field TRL's class does not have is refused rather than dropped: it would otherwise be
    an option that silently does nothing.
    """
    accepted = {f.name for f in dataclasses.fields(arguments_cls)}
    values = config.model_dump(exclude=set(config.engine_fields))
    unknown = sorted(set(values) - accepted)
    if unknown:
        raise TypeError(
            f"{type(config).__name__}: {arguments_cls.__name__} has no field "
            f"{', '.join(unknown)}; list it in engine_fields if the engine reads it itself"
        )
    values.update(_forced_arguments(config, output_dir, has_eval))
    return arguments_cls(**values)


def dpo_arguments(
    config: DPORunConfig, output_dir: str, *, has_eval: bool
) -> Any:  # trl.DPOConfig, imported lazily like the trainers
    """TRL's DPOConfig for a run; `rpo_alpha` becomes TRL's combined losses: the chosen
    answer's mean token NLL (loss "sft") weighted `rpo_alpha`, next to the preference loss."""
    from trl import DPOConfig

    args = trl_arguments(DPOConfig, config, output_dir, has_eval=has_eval)
    if config.rpo_alpha:
        args.loss_type = [config.loss_type, "sft"]
        args.loss_weights = [1.0, config.rpo_alpha]
    return args


def _numeric(logs: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in logs.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }


@dataclass
class EventCallback(TrainerCallback):
    """Turns Trainer progress and logs into events; keeps the last value of each metric.

    Online trainers' logs gain the guard metrics (rewards.py) and, with a KL budget, the run
    stops at the first log whose KL exceeds it (the Trainer then ends and the run saves).
    """

    last_metrics: dict[str, float] = field(default_factory=dict)
    kl_budget: KLBudget | None = None
    # DPO's implicit rewards are β·log(π/π_ref); dividing by β gives the log-ratios themselves.
    dpo_beta: float | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            events.emit("start", total_steps=state.max_steps)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            events.emit("progress", step=state.global_step, total_steps=state.max_steps)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        values = _numeric(logs or {})
        values.update(trl_guard_metrics(values))
        if self.dpo_beta is not None:
            values.update(dpo_logratios(values, self.dpo_beta))
        self.last_metrics.update(values)
        if state.is_world_process_zero and values:
            events.emit("metrics", step=state.global_step, values=values)
        if self.kl_budget is not None and self.kl_budget.exceeded(state.global_step, values):
            control.should_training_stop = True


def dpo_logratios(metrics: dict[str, float], beta: float) -> dict[str, float]:
    """log π/π_ref of the chosen and rejected answers, from DPO's rewards/* (β times them)."""
    out = {}
    for prefix in ("", "eval_"):
        for side in ("chosen", "rejected"):
            key = f"{prefix}rewards/{side}"
            if key in metrics:
                out[f"{prefix}logratio/{side}"] = metrics[key] / beta
    return out


def load_tokenizer(model_path: str) -> Any:
    return prepare_tokenizer(AutoTokenizer.from_pretrained(model_path))


def build_trainer(
    trainer_cls: Any,
    args: TrainingArguments,
    config: OptimisationConfig,
    base_model: str,
    tokenizer: Any,
    callback: TrainerCallback,
    *,
    reward: bool = False,
    **datasets: Any,
) -> Any:
    """TRL's trainer for a run, the model wrapped in LoRA adapters when `config.peft` says so."""
    return trainer_cls(
        model=adapters.training_base(base_model, config.peft, reward=reward),
        args=args,
        processing_class=tokenizer,
        callbacks=[callback],
        peft_config=adapters.lora_config(
            config.peft, adapters.SEQ_CLS if reward else adapters.CAUSAL_LM
        ),
        **datasets,
    )


def _train(
    trainer_cls: Any,
    args: TrainingArguments,
    config: OptimisationConfig,
    base_model: str,
    tokenizer: Any,
    callback: EventCallback | None = None,
    *,
    reward: bool = False,
    **datasets: Any,
) -> tuple[Any, dict[str, float]]:
    """Build a trainer that reports through events, train it, save model + tokenizer.

    With `config.peft` on, TRL wraps the model in LoRA adapters (and DPO, RLOO and GRPO take the
    adapter-disabled model as their reference: no second copy of the weights); the adapters are
    saved, or merged into the model when asked (adapters.merge_saved).
    `datasets` are the trainer's other arguments (train_dataset, eval_dataset, reward_funcs).
    Returns the trainer and the metrics of the whole run.
    """
    callback = callback or EventCallback()
    trainer = build_trainer(
        trainer_cls, args, config, base_model, tokenizer, callback, reward=reward, **datasets
    )
    result = trainer.train()
    output_dir = args.output_dir
    trainer.save_model(output_dir)  # all ranks must call it (FSDP/DeepSpeed gather); rank 0 writes
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(output_dir)
        if adapters.must_merge(base_model, config.peft):
            adapters.merge_saved(str(output_dir), base_model, reward=reward)
    metrics = dict(callback.last_metrics)
    metrics.update(_numeric(result.metrics))
    return trainer, metrics


def train_sft(
    config: SFTRunConfig, base_model: str, train_file: str, eval_file: str | None, output_dir: str
) -> dict[str, float]:
    from trl import SFTConfig, SFTTrainer

    tokenizer = load_tokenizer(base_model)
    train_dataset = data.load_sft_dataset(train_file, tokenizer)
    eval_dataset = (
        data.load_sft_dataset(eval_file, tokenizer, announce=False) if eval_file else None
    )
    args = trl_arguments(SFTConfig, config, output_dir, has_eval=eval_dataset is not None)
    _, metrics = _train(
        SFTTrainer,
        args,
        config,
        base_model,
        tokenizer,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
    )
    return metrics


def train_reward(
    config: RewardRunConfig,
    base_model: str,
    train_file: str,
    eval_file: str | None,
    output_dir: str,
) -> dict[str, float]:
    from trl import RewardConfig, RewardTrainer

    tokenizer = load_tokenizer(base_model)
    train_dataset = data.load_preference_dataset(
        train_file, use_margin=config.use_margin, tokenizer=tokenizer
    )
    args = trl_arguments(RewardConfig, config, output_dir, has_eval=False)
    trainer, metrics = _train(
        RewardTrainer,
        args,
        config,
        base_model,
        tokenizer,
        reward=True,
        train_dataset=train_dataset,
    )
    if eval_file and trainer.accelerator.is_main_process:
        # Held-out accuracy through the same scorer every consumer of this model will use.
        held_out = pairwise_accuracy(
            RewardScorer(output_dir, max_length=config.max_length),
            data.read_preference_rows(eval_file),
        )
        metrics.update({f"eval_{k}": float(v) for k, v in held_out.items()})
        events.emit(
            "metrics",
            step=trainer.state.global_step,
            values={f"eval_{k}": float(v) for k, v in held_out.items()},
        )
    return metrics


def train_dpo(
    config: DPORunConfig, base_model: str, train_file: str, eval_file: str | None, output_dir: str
) -> dict[str, float]:
    from trl import DPOTrainer

    tokenizer = load_tokenizer(base_model)
    train_dataset = data.load_preference_dataset(train_file, use_margin=False, tokenizer=tokenizer)
    eval_dataset = (
        data.load_preference_dataset(
            eval_file, use_margin=False, tokenizer=tokenizer, announce=False
        )
        if eval_file
        else None
    )
    args = dpo_arguments(config, output_dir, has_eval=eval_dataset is not None)
    # DPO samples nothing, so length, EOS rate and KL of its own answers are not measured while
    # it trains; the log-ratios on the labelled answers are what it measures, at every log.
    _, metrics = _train(
        DPOTrainer,
        args,
        config,
        base_model,
        tokenizer,
        EventCallback(dpo_beta=config.beta),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
    )
    return metrics


def reward_function(scorer: Scorer, eos_token_id: int, shaping: RewardShaping):
    """A TRL reward function: the scorer's score, shaped as every method shapes it
    (rewards.shaped_scores: length and missing-EOS penalties)."""

    def reward_model_score(
        prompts: list[Any], completions: list[Any], completion_ids: list[list[int]], **kwargs: Any
    ) -> list[float]:
        # A policy without a chat template saw flattened prompts (data.load_prompt_dataset);
        # the reward model gets the original conversation and formats it its own way.
        scores = scorer.score(kwargs.get("prompt_messages") or prompts, completions)
        # TRL cuts each completion after its first EOS, so the EOS is its last id if any.
        return shaped_scores(
            scores,
            [len(ids) for ids in completion_ids],
            [eos_token_id in ids for ids in completion_ids],
            shaping,
        )

    return reward_model_score


def train_online(
    kind: str,
    config: RLOORunConfig | GRPORunConfig,
    base_model: str,
    reward_model: str,
    train_file: str,
    output_dir: str,
) -> dict[str, float]:
    """RLOO or GRPO, both rewarded by the project's scorer (see scorer.py for why not TRL's)."""
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    config_cls: type[RLOOConfig] | type[GRPOConfig]
    config_cls, trainer_cls = {
        "rloo": (RLOOConfig, RLOOTrainer),
        "grpo": (GRPOConfig, GRPOTrainer),
    }[kind]
    tokenizer = load_tokenizer(base_model)
    prompts = data.load_prompt_dataset(train_file, tokenizer)
    # TRL pads prompts on the left for generation; its trainer sets this, we only make sure.
    tokenizer.padding_side = "left"
    scorer = RewardScorer(reward_model)
    args = trl_arguments(config_cls, config, output_dir, has_eval=False)
    kl_budget = KLBudget(config.kl_budget)
    trainer, metrics = _train(
        trainer_cls,
        args,
        config,
        base_model,
        tokenizer,
        EventCallback(kl_budget=kl_budget),
        reward_funcs=[reward_function(scorer, tokenizer.eos_token_id, config)],
        train_dataset=prompts,
    )
    metrics.update(kl_budget.final_metrics())
    if trainer.accelerator.is_main_process:
        tokenizer.padding_side = "right"  # what a later fine-tune or scorer expects by default
        tokenizer.save_pretrained(output_dir)
    return metrics
