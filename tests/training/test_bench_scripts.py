"""The training benchmarks (bench/, not part of the suite) at least start and explain themselves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["training_overhead.py", "reward_quality.py"])
def test_it_prints_its_usage(script):
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "--data" in done.stdout and "bare TRL" in done.stdout


def test_the_ppo_details_benchmark_prints_its_usage():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "ppo_details.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "--variants" in done.stdout and "win-rate" in done.stdout


@pytest.mark.training
def test_the_gpu_benchmark_runs_each_method_and_mode_on_a_tiny_model_on_the_cpu():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "gpu.py"), "--tiny", "--steps", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert {(r["method"], r["mode"]) for r in rows} == {
        ("dpo", "full"),
        ("dpo", "lora"),
        ("reward", "full"),
        ("reward", "lora"),
    }
    for row in rows:
        assert row["device"] == "cpu" and row["tokens_per_second"] > 0 and row["mfu"] is None


@pytest.mark.slow
@pytest.mark.training
def test_the_loop_benchmark_runs_a_round_through_the_app(tmp_path):
    """bench/loop.py at CPU-tiny sizes: a throw-away app, a worker, one round, the oracle's
    numbers in its results file (correctness of the script, not learning)."""
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "loop.py"),
            *("--out", str(tmp_path), "--part", "rounds", "--method", "dpo", "--rounds", "1"),
            *("--budget", "12", "--k", "2", "--eval-samples", "8", "--sft-steps", "150"),
            *("--set", "max_steps=2", "--reward-set", "max_steps=2"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results-rounds-dpo.json").read_text())
    (row,) = results["rounds-dpo-seed0-b12-r1-k2"]["rounds"]
    assert row["judgments"] == 12 and row["snapshot_rows"] == 12
    assert 0.0 <= row["win_rate"] <= 1.0 and 0.0 <= row["rm_accuracy"] <= 1.0
    assert {"reward", "policy", "generate", "score"} <= set(row["step_seconds"])
