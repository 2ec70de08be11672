"""Multi-process runs: `accelerate launch` with a run's processes, the same result as one."""

import json
import os
import subprocess
import sys

import pytest

from tests.training.ml.conftest import REPO_ROOT, events_of
from training.ml.config import ConfigError, validate_config
from training.ml.launch import child_command


def test_it_starts_one_process_by_default():
    config = validate_config("dpo", {})

    assert child_command(config, "cfg.json") == [sys.executable, "-m", "training.ml", "cfg.json"]
    assert child_command(validate_config("ppo", {}), "c.json")[1:] == [
        "-m",
        "training.ml",
        "c.json",
    ]


def test_it_starts_several_processes_under_accelerate_launch():
    command = child_command(validate_config("reward", {"processes": "2"}), "cfg.json")

    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "2"
    assert "--multi_gpu" in command  # DDP: gloo without CUDA
    assert command[-3:] == ["-m", "training.ml", "cfg.json"]
    fsdp = child_command(validate_config("sft", {"processes": 2, "distributed": "fsdp"}), "c")
    assert "--use_fsdp" in fsdp and "--multi_gpu" not in fsdp


def test_it_refuses_deepspeed_where_it_is_not_installed():
    config = validate_config("dpo", {"processes": 2, "distributed": "deepspeed"})

    with pytest.raises(ConfigError, match="distributed: deepspeed is not installed"):
        child_command(config, "cfg.json")


def test_it_refuses_a_process_count_out_of_range():
    with pytest.raises(ConfigError, match="processes: must be >= 1, got 0"):
        validate_config("reward", {"processes": "0"})


def _train(kind, processes, base, data_file, tmp_path):
    """A run of 2 optimizer steps of 8 examples: 8 per process alone, 4 per process in two."""
    config = {
        "max_steps": 2,
        "per_device_train_batch_size": 8 // processes,
        "max_length": 64,
        "learning_rate": "1e-3",
        "processes": processes,
    }
    output_dir = tmp_path / f"{kind}-{processes}"
    spec = tmp_path / f"{kind}-{processes}.json"
    spec.write_text(
        json.dumps(
            {
                "kind": kind,
                "base_model": str(base),
                "train_file": str(data_file),
                "output_dir": str(output_dir),
                "config": config,
            }
        )
    )
    result = subprocess.run(
        child_command(validate_config(kind, config), str(spec)),
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return output_dir, events_of(result.stdout)


@pytest.mark.training
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "base"), [("reward", "reward"), ("dpo", "policy")])
def test_it_trains_the_same_model_in_two_processes_as_in_one(
    kind, base, tiny_models, standard_file, tmp_path
):
    alone, alone_events = _train(kind, 1, tiny_models[base], standard_file, tmp_path)
    shared, shared_events = _train(kind, 2, tiny_models[base], standard_file, tmp_path)

    # Rank 0 alone reports and writes: one "done", one artifact, no temporary directory left.
    assert [e["event"] for e in shared_events].count("done") == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        f"{kind}-1",
        f"{kind}-2",
    ]
    one = json.loads((alone / "prefapp_artifact.json").read_text())["metrics"]
    two = json.loads((shared / "prefapp_artifact.json").read_text())["metrics"]
    assert one["epoch"] == two["epoch"] == 1.0  # 16 rows in 2 steps of 8 both ways
    for name in ("train_loss", "loss", "grad_norm"):
        assert two[name] == pytest.approx(one[name], rel=1e-3), name
