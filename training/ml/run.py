"""Run one training job described by a JSON file: `python -m training.ml RUN_CONFIG.json`.

    {"kind": "reward",                 # sft | reward | dpo | ppo | rloo | grpo | generate | score
                                       # | evaluate
     "base_model": "<hub id or local dir>",  # score: the reward model that scores
     "reward_model": "<dir>",                # ppo, rloo, grpo and evaluate only
     "reference_model": "<dir>",             # evaluate only: the round-0 policy
     "train_file": "<preference jsonl>",     # generate: {"prompt_id", "prompt"} rows;
                                             # score: the pairs to score (ml/score.py);
                                             # evaluate: {"prompt"} rows (evaluate.py)
     "eval_file": "<preference jsonl>" | null,
     "output_dir": "<final artifact dir>",   # must not exist yet
     "config": {...fields of the kind's model in config.py...}}

The model is written to `output_dir + ".tmp"` and renamed to `output_dir` only after training
succeeded, so a crashed or killed run never leaves an artifact that looks finished. The artifact
also holds `prefapp_artifact.json` (see artifact.py). A `generate` job writes no model: its
output directory holds the sampled answers (`samples.jsonl`, generate.py) and the same file;
nor does an `evaluate` run: its directory holds the compared samples (evaluate.py).
Progress goes to stdout as events (events.py); exit status 0 = success, 2 = refused config,
1 = failed run. Works under `accelerate launch -m training.ml cfg.json`: every rank trains,
rank 0 alone prints events and moves the artifact into place.
"""

import argparse
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from . import events, launch
from .artifact import ARTIFACT_FILE, artifact_kind
from .config import (
    KINDS_NEEDING_REFERENCE,
    KINDS_NEEDING_REWARD,
    ConfigError,
    DPORunConfig,
    EvaluateRunConfig,
    GenerateRunConfig,
    GRPORunConfig,
    LenientModel,
    PPORunConfig,
    RewardRunConfig,
    RLOORunConfig,
    RunConfig,
    ScoreRunConfig,
    SFTRunConfig,
    config_to_dict,
    field_rule,
    problems_of,
    validate_config,
)


class RunSpec(LenientModel):
    """The run description: what the worker writes into `runs/<id>/config.json`."""

    kind: str = Field(
        description="The run kind: sft, reward, dpo, ppo, rloo, grpo (or the jobs generate, score)."
    )
    base_model: str = Field(description="Hub id or local model directory to start from.")
    reward_model: str | None = Field(
        None, description="Reward model directory that scores samples (ppo, rloo, grpo)."
    )
    reference_model: str | None = Field(
        None, description="Policy directory an evaluation compares against (evaluate)."
    )
    train_file: str = Field(description="Preference (or prompt) rows, JSONL.")
    eval_file: str | None = Field(None, description="Held-out rows, JSONL.")
    output_dir: str = Field(description="Where the finished model goes; must not exist yet.")
    config: RunConfig = Field(description="The kind's config (a model of config.py).")

    @field_validator("train_file", "eval_file")
    @classmethod
    def _file_exists(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            raise ValueError(f"no such file {path!r}")
        return path

    @field_validator("output_dir")
    @classmethod
    def _output_dir_is_new(cls, path: str) -> str:
        if os.path.exists(path):
            raise ValueError(f"{path!r} already exists")
        return path

    @model_validator(mode="after")
    def _reward_model_when_needed(self) -> "RunSpec":
        if self.kind in KINDS_NEEDING_REWARD and self.reward_model is None:
            raise field_rule("reward_model", f"required for kind {self.kind!r}")
        if self.kind in KINDS_NEEDING_REFERENCE and self.reference_model is None:
            raise field_rule("reference_model", f"required for kind {self.kind!r}")
        return self


def parse_run_spec(raw: Any) -> RunSpec:
    """Validate a run description (the JSON object) without touching any model."""
    if not isinstance(raw, dict):
        raise ConfigError("run config: expected a JSON object")
    config = validate_config(raw.get("kind"), raw.get("config"))  # type: ignore[arg-type]
    try:
        return RunSpec.model_validate({**raw, "config": config})
    except ValidationError as error:
        keys = ", ".join(RunSpec.model_fields)
        raise ConfigError.of(
            problems_of(error, unknown=f"unknown run-config key; expected {keys}")
        ) from None


def train(spec: RunSpec, work_dir: str) -> dict[str, float]:
    """Train `spec` into `work_dir` (a generation job samples into it); returns the final
    metrics. Heavy imports live down here."""
    config = spec.config
    if isinstance(config, GenerateRunConfig):
        from .generate import generate_samples

        return generate_samples(config, spec.base_model, spec.train_file, work_dir)
    if isinstance(config, ScoreRunConfig):
        from . import score

        return score.score_pairs(config, spec.base_model, spec.train_file, work_dir)
    if isinstance(config, EvaluateRunConfig):
        from . import evaluate

        return evaluate.evaluate_policy(
            config,
            spec.base_model,
            spec.reference_model or "",
            spec.reward_model or "",
            spec.train_file,
            work_dir,
        )
    if isinstance(config, PPORunConfig):
        from . import ppo

        return ppo.train_ppo(
            config, spec.base_model, spec.reward_model or "", spec.train_file, work_dir
        )
    from . import trl_adapter

    if isinstance(config, SFTRunConfig):
        return trl_adapter.train_sft(
            config, spec.base_model, spec.train_file, spec.eval_file, work_dir
        )
    if isinstance(config, RewardRunConfig):
        return trl_adapter.train_reward(
            config, spec.base_model, spec.train_file, spec.eval_file, work_dir
        )
    if isinstance(config, DPORunConfig):
        return trl_adapter.train_dpo(
            config, spec.base_model, spec.train_file, spec.eval_file, work_dir
        )
    if isinstance(config, RLOORunConfig | GRPORunConfig):
        return trl_adapter.train_online(
            spec.kind, config, spec.base_model, spec.reward_model or "", spec.train_file, work_dir
        )
    raise TypeError(f"no trainer for {type(config).__name__}")  # a kind added to config.py only


def write_artifact_info(directory: str, spec: RunSpec, metrics: dict[str, float]) -> None:
    info = {
        "kind": artifact_kind(spec.kind),
        "run_kind": spec.kind,
        "base_model": spec.base_model,
        "metrics": metrics,
        "config": config_to_dict(spec.config),
    }
    Path(directory, ARTIFACT_FILE).write_text(json.dumps(events._json_safe(info), indent=2) + "\n")


def execute(spec: RunSpec) -> dict[str, float]:
    """Train into the temporary sibling directory, then rename it into place (rank 0)."""
    work_dir = spec.output_dir.rstrip("/") + ".tmp"
    main = events.is_main_process()
    if main and os.path.exists(work_dir):
        shutil.rmtree(work_dir)  # left over from a killed run: it was never an artifact
    try:
        events.emit("log", message=f"{spec.kind} run from {spec.base_model} into {spec.output_dir}")
        metrics = train(spec, work_dir)
        if main:
            write_artifact_info(work_dir, spec, metrics)
            os.replace(work_dir, spec.output_dir)
        return metrics
    except BaseException:
        if main:
            shutil.rmtree(work_dir, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.ml",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_config", help="path of the run-config JSON file")
    args = parser.parse_args(argv)
    launch.die_with_launcher()  # a rank of a multi-process run ends with its launcher
    try:
        raw = json.loads(Path(args.run_config).read_text(encoding="utf-8"))
        spec = parse_run_spec(raw)
    except (ConfigError, OSError, ValueError) as exc:
        events.emit("error", message=f"refused: {exc}")
        return 2
    try:
        metrics = execute(spec)
    except Exception as exc:  # the parent needs a message, the log needs the traceback
        traceback.print_exc()
        events.emit("error", message=f"{type(exc).__name__}: {exc}")
        return 1
    events.emit("done", output_dir=spec.output_dir, metrics=metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
