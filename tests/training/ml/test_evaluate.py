"""The evaluation child (`python -m training.ml`, kind evaluate) on tiny models."""

import json
from pathlib import Path

import pytest

from tests.training.ml.conftest import run_cli, write_jsonl
from training.ml.evaluate import summarise, wilson_interval
from training.ml.events import parse_event


def test_it_matches_scipys_wilson_interval():
    from scipy.stats import binomtest

    for wins, n in ((0, 10), (7, 10), (10, 10), (33, 50)):
        expected = binomtest(wins, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(wins, n, 0.95)
        assert low == pytest.approx(expected.low) and high == pytest.approx(expected.high)


def test_it_counts_a_tie_as_half_a_win():
    rows = [
        {
            "reward": r,
            "reference_reward": ref,
            "kl": 0.0,
            "length": 3,
            "reference_length": 3,
            "eos": True,
            "reference_eos": False,
        }
        for r, ref in ((1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (2.0, 1.0))
    ]
    metrics = summarise(rows, 0.95)
    assert metrics["win_rate"] == 2.5 / 4
    assert metrics["win_rate_low"] < 2.5 / 4 < metrics["win_rate_high"]
    assert (metrics["eos_rate"], metrics["reference_eos_rate"]) == (1.0, 0.0)


@pytest.mark.training
def test_it_evaluates_a_policy_against_itself(tiny_models, tmp_path: Path):
    prompts = write_jsonl(
        tmp_path / "prompts.jsonl",
        [{"prompt": [{"role": "user", "content": f"Question {i}: how are you?"}]} for i in range(5)]
        + [{"prompt": "A plain question?"}],
    )
    output = tmp_path / "out"
    result = run_cli(
        {
            "kind": "evaluate",
            "base_model": str(tiny_models["policy"]),
            "reference_model": str(tiny_models["policy"]),
            "reward_model": str(tiny_models["reward"]),
            "train_file": str(prompts),
            "output_dir": str(output),
            "config": {"samples_per_prompt": 2, "max_new_tokens": 6, "batch_size": 4},
        },
        tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    done = [e for e in map(parse_event, result.stdout.splitlines()) if e and e["event"] == "done"]
    metrics = done[0]["metrics"]
    # The same weights and the same seed: identical samples, every comparison a tie, no KL.
    assert metrics["win_rate"] == 0.5 and metrics["kl"] == pytest.approx(0.0, abs=1e-5)
    assert metrics["win_rate_low"] < 0.5 < metrics["win_rate_high"]
    assert metrics["num_samples"] == 12
    assert 1 <= metrics["mean_length"] <= 6 and 0 <= metrics["eos_rate"] <= 1
    assert metrics["mean_reward"] == pytest.approx(metrics["reference_mean_reward"])
    rows = [json.loads(line) for line in (output / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    info = json.loads((output / "prefapp_artifact.json").read_text())
    assert info["kind"] == "evaluation"  # not a model: the worker registers no artifact
    assert not Path(f"{output}.tmp").exists()


@pytest.mark.training
def test_it_reports_kl_between_different_policies(tiny_models, tmp_path: Path):
    from training.ml.tiny import build_tiny_models

    other = build_tiny_models(tmp_path / "other", seed=1)
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "How are you?"}] * 3)
    result = run_cli(
        {
            "kind": "evaluate",
            "base_model": str(other["policy"]),
            "reference_model": str(tiny_models["policy"]),
            "reward_model": str(tiny_models["reward"]),
            "train_file": str(prompts),
            "output_dir": str(tmp_path / "out"),
            "config": {"samples_per_prompt": 4, "max_new_tokens": 6},
        },
        tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    done = [e for e in map(parse_event, result.stdout.splitlines()) if e and e["event"] == "done"]
    # KL of two different random policies: positive on average over 12 samples.
    assert done[0]["metrics"]["kl"] > 0


def test_it_refuses_an_evaluation_without_a_reference(tiny_models, tmp_path: Path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Hi?"}])
    result = run_cli(
        {
            "kind": "evaluate",
            "base_model": str(tiny_models["policy"]),
            "reward_model": str(tiny_models["reward"]),
            "train_file": str(prompts),
            "output_dir": str(tmp_path / "out"),
            "config": {},
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "reference_model: required for kind 'evaluate'" in result.stdout
