"""The dashboard's "try it" box: a policy answers a prompt, a reward model scores two answers.

It runs in the web process, bounded, rather than as a Celery task: the project's Celery stores no
task results (no result backend), so a task would need a result table and one more polling page
for a manager's occasional click. In the web process it stays safe because only small models are
loaded (weights up to `PREFAPP_TRY_MAX_BYTES`, 1 GiB unless set: tiny and small local models),
one try runs at a time per process, and prompts and answers are short. A larger model is refused
with a message saying so. torch and transformers are imported on the first try, never at start-up.
"""

import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from training.ml.adapters import base_of
from training.models import ModelArtifact
from training.storage import StorageMissing, artifact_directory

MAX_NEW_TOKENS = 64
MAX_TEXT_CHARS = 4000
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")

_one_at_a_time = threading.Lock()


class TryRefused(ValueError):
    """The try cannot run; the message says why."""


def try_max_bytes() -> int:
    return int(getattr(settings, "PREFAPP_TRY_MAX_BYTES", 1 << 30))


def weights_bytes(directory: Path) -> int:
    return sum(
        p.stat().st_size
        for p in directory.rglob("*")
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES
    )


def _model_dir(artifact: ModelArtifact, kind: str) -> Path:
    if artifact.kind != kind:
        raise TryRefused(f"artifact {artifact.pk} is a {artifact.kind} model, not a {kind} model")
    try:
        directory = artifact_directory(artifact.path)  # from the shared store if not here
    except StorageMissing:
        raise TryRefused(f"the directory of artifact {artifact.pk} is gone") from None
    size = weights_bytes(directory)
    base = base_of(directory)  # LoRA adapters load on top of their base model
    if base is not None and Path(base).is_dir():
        size += weights_bytes(Path(base))
    if size > try_max_bytes():
        raise TryRefused(
            f"artifact {artifact.pk} has {size / 2**20:.0f} MiB of weights; the dashboard tries "
            f"models up to {try_max_bytes() / 2**20:.0f} MiB (PREFAPP_TRY_MAX_BYTES) in the web "
            "process. Download it and try it on a training machine."
        )
    return directory


def _text(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise TryRefused(f"{name}: required")
    if len(value) > MAX_TEXT_CHARS:
        raise TryRefused(f"{name}: at most {MAX_TEXT_CHARS} characters")
    return value


def _locked(call, *args: Any, **kwargs: Any) -> Any:
    if not _one_at_a_time.acquire(blocking=False):
        raise TryRefused("another try is running in this server process; try again in a moment")
    try:
        return call(*args, **kwargs)
    finally:
        _one_at_a_time.release()


def artifact_try_generate(*, artifact: ModelArtifact, prompt: str, seed: int = 0) -> str:
    """One sampled answer of a policy artifact to a user message."""
    from training.ml.generate import generate

    directory = _model_dir(artifact, ModelArtifact.Kind.POLICY)
    messages = [{"role": "user", "content": _text("prompt", prompt)}]
    return _locked(generate, directory, messages, max_new_tokens=MAX_NEW_TOKENS, seed=seed)


def artifact_try_score(
    *, artifact: ModelArtifact, prompt: str, response_a: str, response_b: str
) -> dict[str, float]:
    """Reward-model scores of two answers to a user message, formatted as in training."""
    from training.ml.generate import score_pair

    directory = _model_dir(artifact, ModelArtifact.Kind.REWARD)
    messages = [{"role": "user", "content": _text("prompt", prompt)}]
    return _locked(
        score_pair,
        directory,
        messages,
        _text("response_a", response_a),
        _text("response_b", response_b),
    )
