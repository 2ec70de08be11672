"""Tiny offline models for the demo and for trying the app without a model hub."""

from pathlib import Path

from training.models import data_dir


def tiny_models_dir() -> Path:
    return data_dir() / "tiny-models"


def tiny_models_ensure(*, out_dir: Path | None = None, force: bool = False) -> dict[str, Path]:
    """Build the tiny policy and reward models (training/ml/tiny.py) unless they exist."""
    out = Path(out_dir) if out_dir is not None else tiny_models_dir()
    paths = {"policy": out / "policy", "reward": out / "reward"}
    if not force and all((path / "config.json").is_file() for path in paths.values()):
        return paths
    from training.ml.tiny import build_tiny_models  # imports torch: only when building

    return build_tiny_models(out)


def toy_models_ensure(*, force: bool = False) -> dict[str, Path]:
    """The loop demo's models (training/ml/toy.py): a tiny policy SFT'd on the toy task, which
    writes every kind of answer, and an untrained reward model; built once, under the tiny
    models' directory (an allowed model root by default)."""
    out = tiny_models_dir() / "toy"
    paths = {"policy": out / "policy", "reward": out / "reward"}
    if not force and all((path / "config.json").is_file() for path in paths.values()):
        return paths
    from training.ml.toy import build_toy_models  # imports torch: only when building

    return build_toy_models(out)
