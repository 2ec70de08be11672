"""Fixtures for training/ml tests: tiny offline models and small preference files.

No Django here; the models are built once per session by training/ml/tiny.py (a few seconds).
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

for _name, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("HF_DATASETS_OFFLINE", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(_name, _value)

REPO_ROOT = Path(__file__).resolve().parents[3]


def pytest_configure(config: pytest.Config) -> None:
    # pyproject.toml registers these too; repeating them lets this folder run on its own.
    config.addinivalue_line("markers", "training: trains a tiny model")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from training.ml.tiny import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny"))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def standard_rows(n: int = 16) -> list[dict[str, Any]]:
    return [
        {
            "prompt": f"Question {i}: how are you?",
            "chosen": " I am well, thank you.",
            "rejected": " Go away.",
            "margin": 1.0 if i % 2 else 0.0,
        }
        for i in range(n)
    ]


def conversational_rows(n: int = 16) -> list[dict[str, Any]]:
    return [
        {
            "prompt": [{"role": "user", "content": f"Question {i}: how are you?"}],
            "chosen": "I am well, thank you.",
            "rejected": "Go away.",
        }
        for i in range(n)
    ]


@pytest.fixture
def standard_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "standard.jsonl", standard_rows())


@pytest.fixture
def conversational_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "conversational.jsonl", conversational_rows())


def run_cli(
    run_config: dict[str, Any], tmp_path: Path, timeout: int = 180
) -> subprocess.CompletedProcess:
    """`python -m training.ml cfg.json` in a child process, exactly as the worker runs it."""
    cfg = tmp_path / f"run-{run_config.get('kind')}.json"
    cfg.write_text(json.dumps(run_config))
    # One thread per child: the models are tiny and the test machine is shared.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "training.ml", str(cfg)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trl_cpu_arguments(output_dir: Path, **settings: Any) -> dict[str, Any]:
    """TRL config arguments for a quick CPU-only trainer built inside a test."""
    return {
        "output_dir": str(output_dir),
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        **settings,
    }


def trl_reward_trainer(model_dir: Path, data_file: Path, output_dir: Path, *, batch_size: int):
    """TRL's own RewardTrainer on `data_file`, built but not trained."""
    from trl import RewardConfig, RewardTrainer

    from training.ml.data import load_preference_dataset
    from training.ml.trl_adapter import load_tokenizer

    return RewardTrainer(
        model=str(model_dir),
        args=RewardConfig(**trl_cpu_arguments(output_dir, per_device_train_batch_size=batch_size)),
        train_dataset=load_preference_dataset(data_file),
        processing_class=load_tokenizer(str(model_dir)),
    )


def events_of(stdout: str) -> list[dict[str, Any]]:
    from training.ml.events import parse_event

    return [e for e in map(parse_event, stdout.splitlines()) if e is not None]
