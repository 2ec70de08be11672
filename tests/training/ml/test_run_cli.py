"""Every run kind end to end through `python -m training.ml`, as the training worker launches it."""

import json

import pytest

from tests.training.ml.conftest import events_of, run_cli
from training.ml.config import ConfigError
from training.ml.generate import generate
from training.ml.run import parse_run_spec

SMALL = {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": "1e-4"}
ONLINE = {
    "max_steps": 2,
    "per_device_train_batch_size": 4,
    "num_generations": 2,
    "max_completion_length": 8,
    "learning_rate": "1e-4",
    "missing_eos_penalty": "1.0",
}
PPO = {
    "max_steps": 2,
    "rollout_batch_size": 4,
    "response_length": 8,
    "learning_rate": "1e-4",
    "missing_eos_penalty": "1.0",
    "adaptive_kl": "true",
}

CASES = {
    # kind: (base model, data fixture, config, metrics the dashboard needs)
    "sft": ("policy", "conversational_file", SMALL, ["train_loss", "eval_loss"]),
    "reward": ("reward", "standard_file", SMALL, ["accuracy", "eval_accuracy", "eval_mean_margin"]),
    "dpo": (
        "policy",
        "standard_file",
        SMALL,
        [
            "rewards/accuracies",
            "rewards/margins",
            "logratio/chosen",
            "logratio/rejected",
            "eval_rewards/accuracies",
        ],
    ),
    "ppo": (
        "policy",
        "conversational_file",
        PPO,
        [
            "score",
            "sequence_kl",
            "pg_clipfrac",
            "entropy",
            "vf_loss",
            "response_length",
            "eos_rate",
            "train_runtime",
        ],
    ),
    "rloo": (
        "policy",
        "standard_file",
        ONLINE,
        ["reward", "train_loss", "response_length", "eos_rate", "sequence_kl"],
    ),
    # GRPO's default beta is 0: no reference model, so no KL is measured.
    "grpo": (
        "policy",
        "conversational_file",
        ONLINE,
        ["reward", "train_loss", "response_length", "eos_rate"],
    ),
}


@pytest.mark.training
@pytest.mark.parametrize("kind", list(CASES))
def test_it_trains_each_kind_into_an_artifact(kind, tiny_models, tmp_path, request):
    base, data_fixture, config, expected_metrics = CASES[kind]
    data_file = str(request.getfixturevalue(data_fixture))
    output_dir = tmp_path / f"artifact-{kind}"
    result = run_cli(
        {
            "kind": kind,
            "base_model": str(tiny_models[base]),
            "reward_model": str(tiny_models["reward"]),
            "train_file": data_file,
            "eval_file": data_file if kind in ("sft", "reward", "dpo") else None,
            "output_dir": str(output_dir),
            "config": config,
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    emitted = events_of(result.stdout)
    assert emitted[0]["event"] == "log" and emitted[1] == {"event": "start", "total_steps": 2}
    assert {"event": "progress", "step": 2, "total_steps": 2} in emitted
    assert any(e["event"] == "metrics" for e in emitted)
    assert emitted[-1]["event"] == "done" and emitted[-1]["output_dir"] == str(output_dir)

    assert output_dir.is_dir() and not (tmp_path / f"artifact-{kind}.tmp").exists()
    info = json.loads((output_dir / "prefapp_artifact.json").read_text())
    assert info["kind"] == ("reward" if kind == "reward" else "policy")
    assert info["run_kind"] == kind and info["base_model"] == str(tiny_models[base])
    for name in expected_metrics:
        assert name in info["metrics"], (name, sorted(info["metrics"]))
    if kind != "sft" and kind != "reward":  # the guards are drawn step by step, not only at the end
        logged = {n for e in emitted if e["event"] == "metrics" for n in e["values"]}
        guards = {"dpo": ["logratio/chosen"], "grpo": ["eos_rate"]}.get(kind, ["sequence_kl"])
        assert set(guards) <= logged, sorted(logged)
    if info["kind"] == "policy":
        text = generate(
            output_dir, [{"role": "user", "content": "Hello?"}], max_new_tokens=8, seed=0
        )
        assert isinstance(text, str) and text


def test_it_refuses_a_bad_key_naming_it(tiny_models, standard_file, tmp_path):
    output_dir = tmp_path / "never"
    result = run_cli(
        {
            "kind": "dpo",
            "base_model": str(tiny_models["policy"]),
            "train_file": str(standard_file),
            "output_dir": str(output_dir),
            "config": {"betta": 0.1},
        },
        tmp_path,
    )
    assert result.returncode == 2
    error = events_of(result.stdout)[-1]
    assert error["event"] == "error" and "betta" in error["message"]
    assert not output_dir.exists()


def test_it_refuses_an_existing_output_dir(tiny_models, standard_file, tmp_path):
    result = run_cli(
        {
            "kind": "sft",
            "base_model": str(tiny_models["policy"]),
            "train_file": str(standard_file),
            "output_dir": str(tmp_path),
            "config": {},
        },
        tmp_path,
    )
    assert result.returncode == 2 and "output_dir" in events_of(result.stdout)[-1]["message"]


@pytest.mark.training
def test_it_fails_cleanly_without_the_base_model(standard_file, tmp_path):
    output_dir = tmp_path / "never"
    result = run_cli(
        {
            "kind": "reward",
            "base_model": str(tmp_path / "no-such-model"),
            "train_file": str(standard_file),
            "output_dir": str(output_dir),
            "config": SMALL,
        },
        tmp_path,
    )
    assert result.returncode == 1
    assert events_of(result.stdout)[-1]["event"] == "error"
    assert not output_dir.exists() and not (tmp_path / "never.tmp").exists()


def test_it_names_every_bad_key_of_the_run_description(standard_file, tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        parse_run_spec(
            {
                "kind": "ppo",
                "base_model": " ",
                "train_file": str(tmp_path / "missing.jsonl"),
                "eval_file": 3,
                "output_dir": str(tmp_path),
                "config": {"rollout_batch_size": "8"},
                "priority": "high",
            }
        )
    assert [name for name, _ in excinfo.value.problems] == [
        "base_model",
        "train_file",
        "eval_file",
        "output_dir",
        "priority",
    ]
    assert "output_dir: " + repr(str(tmp_path)) + " already exists" in str(excinfo.value)

    with pytest.raises(ConfigError, match="^reward_model: required for kind 'ppo'"):
        parse_run_spec(
            {
                "kind": "ppo",
                "base_model": "any",
                "train_file": str(standard_file),
                "eval_file": "",
                "output_dir": str(tmp_path / "new"),
            }
        )


@pytest.mark.training
@pytest.mark.parametrize(
    "kind, config",
    [
        ("ppo", {**PPO, "adaptive_kl": "false", "beta": 0, "learning_rate": 1e-2}),
        ("rloo", {**ONLINE, "beta": 0.01, "learning_rate": 1e-2, "logging_steps": 1}),
    ],
)
def test_it_stops_a_run_at_its_kl_budget_and_saves_it(
    kind, config, tiny_models, conversational_file, tmp_path
):
    output_dir = tmp_path / f"artifact-{kind}"
    result = run_cli(
        {
            "kind": kind,
            "base_model": str(tiny_models["policy"]),
            "reward_model": str(tiny_models["reward"]),
            "train_file": str(conversational_file),
            "output_dir": str(output_dir),
            "config": {**config, "max_steps": 30, "kl_budget": 0.05},
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    emitted = events_of(result.stdout)
    [stop] = [e for e in emitted if e["event"] == "log" and "KL budget reached" in e["message"]]
    steps = [e["step"] for e in emitted if e["event"] == "progress"]
    assert max(steps) < 30
    assert f"at step {max(steps)}:" in stop["message"]
    info = json.loads((output_dir / "prefapp_artifact.json").read_text())
    assert info["metrics"]["kl_budget_stop_step"] == max(steps)
    assert info["metrics"]["sequence_kl"] > 0.05
