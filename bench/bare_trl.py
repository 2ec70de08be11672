"""The bare-TRL baseline of the training benchmarks: one reward-model or DPO training, written
the way TRL's own example scripts are (load the JSONL, build the trainer, train, save), with no
prefapp code at all.

    python bench/bare_trl.py reward SETTINGS.json
    python bench/bare_trl.py dpo SETTINGS.json

SETTINGS.json: {"base_model", "train_file", "eval_file" (or null), "output_dir", "config"}, where
"config" holds the same fields as prefapp's run config of that kind (training/ml/config.py), so
both sides train with the same hyper-parameters. The TrainingArguments that prefapp forces on
every run (CPU, no bf16, no checkpoints, no reporting) are spelled out here too. Prints one JSON
line with the final metrics (and TRL's own held-out accuracy when an eval file is given).
"""

import json
import sys
import time
from pathlib import Path

STARTED = time.monotonic()


def training_arguments(config: dict, output_dir: str) -> dict:
    return {
        "output_dir": output_dir,
        "learning_rate": config["learning_rate"],
        "num_train_epochs": config["num_train_epochs"],
        "max_steps": config["max_steps"],
        "per_device_train_batch_size": config["per_device_train_batch_size"],
        "per_device_eval_batch_size": config["per_device_train_batch_size"],
        "gradient_accumulation_steps": config["gradient_accumulation_steps"],
        "warmup_steps": config["warmup_steps"],
        "weight_decay": config["weight_decay"],
        "lr_scheduler_type": config["lr_scheduler_type"],
        "max_grad_norm": config["max_grad_norm"],
        "logging_steps": config["logging_steps"],
        "seed": config["seed"],
        "bf16": False,
        "use_cpu": True,
        "gradient_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "eval_strategy": "no",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def load_jsonl(path: str, keep_margin: bool):
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=path, split="train")
    if not keep_margin and "margin" in dataset.column_names:
        dataset = dataset.remove_columns("margin")
    return dataset


def bare_reward(settings: dict) -> dict:
    """TRL's reward-modelling script, reduced to its core."""
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    config = settings["config"]
    tokenizer = AutoTokenizer.from_pretrained(settings["base_model"])
    args = RewardConfig(
        **training_arguments(config, settings["output_dir"]),
        max_length=config["max_length"],
        center_rewards_coefficient=config["center_rewards_coefficient"],
        # An encoder such as MiniLM has no EOS; RewardTrainer needs one to close each text.
        eos_token=tokenizer.eos_token or tokenizer.sep_token,
    )
    train = load_jsonl(settings["train_file"], keep_margin=config["use_margin"])
    trainer = RewardTrainer(
        model=settings["base_model"], args=args, train_dataset=train, processing_class=tokenizer
    )
    metrics = trainer.train().metrics
    trainer.save_model(settings["output_dir"])
    tokenizer.save_pretrained(settings["output_dir"])
    if settings.get("eval_file"):
        evaluation = load_jsonl(settings["eval_file"], keep_margin=False)
        metrics.update(trainer.evaluate(evaluation))
        metrics["eval_pairs"] = len(evaluation)
    metrics["train_pairs_after_length_filter"] = len(trainer.train_dataset)
    return metrics


def bare_dpo(settings: dict) -> dict:
    """TRL's DPO script, reduced to its core."""
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    config = settings["config"]
    tokenizer = AutoTokenizer.from_pretrained(settings["base_model"])
    args = DPOConfig(
        **training_arguments(config, settings["output_dir"]),
        max_length=config["max_length"],
        beta=config["beta"],
        loss_type=[config["loss_type"]],
        label_smoothing=config["label_smoothing"],
        precompute_ref_log_probs=config["precompute_ref_log_probs"],
    )
    train = load_jsonl(settings["train_file"], keep_margin=False)
    trainer = DPOTrainer(
        model=settings["base_model"], args=args, train_dataset=train, processing_class=tokenizer
    )
    metrics = trainer.train().metrics
    trainer.save_model(settings["output_dir"])
    tokenizer.save_pretrained(settings["output_dir"])
    return metrics


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("reward", "dpo"):
        print(__doc__)
        return 2
    settings = json.loads(Path(argv[1]).read_text())
    metrics = (bare_reward if argv[0] == "reward" else bare_dpo)(settings)
    metrics["script_seconds"] = time.monotonic() - STARTED
    print(json.dumps({"bare_trl_metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
