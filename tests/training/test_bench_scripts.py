"""The training benchmarks (bench/, not part of the suite) at least start and explain themselves."""

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
