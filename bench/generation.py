"""Generation throughput: a generation job's child (`python -m training.ml` with kind generate)
on the tiny offline policy of training/ml/tiny.py, at several batch sizes.

    .venv/bin/python bench/generation.py [--prompts 64] [--k 4] [--max-new-tokens 64]
        [--batch-sizes 1,16] [--threads 2]

Each batch size runs once in a fresh process, timed from its start to its exit (imports, model
loading, sampling, writing samples.jsonl); answers per second are over that whole time. The
prompts are one user turn each, formatted with the policy's chat template as training does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of the child")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    from training.ml.tiny import build_tiny_models

    with tempfile.TemporaryDirectory(prefix="bench-generation-") as folder:
        work = Path(folder)
        policy = build_tiny_models(work / "models")["policy"]
        prompts = work / "prompts.jsonl"
        prompts.write_text(
            "".join(
                json.dumps(
                    {"prompt_id": i, "prompt": [{"role": "user", "content": f"Question {i}?"}]}
                )
                + "\n"
                for i in range(args.prompts)
            )
        )
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": str(args.threads)}
        print("batch_size  seconds  answers/s  mean_tokens")
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            config = work / f"run-{batch_size}.json"
            config.write_text(
                json.dumps(
                    {
                        "kind": "generate",
                        "base_model": str(policy),
                        "train_file": str(prompts),
                        "output_dir": str(work / f"out-{batch_size}"),
                        "config": {
                            "k": args.k,
                            "max_new_tokens": args.max_new_tokens,
                            "batch_size": batch_size,
                            "backend": "transformers",
                        },
                    }
                )
            )
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "training.ml", str(config)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            seconds = time.perf_counter() - start
            metrics = json.loads(done.stdout.strip().splitlines()[-1])["metrics"]
            print(
                f"{batch_size:>10}  {seconds:7.1f}  {metrics['samples'] / seconds:9.2f}  "
                f"{metrics['mean_tokens']:11.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
