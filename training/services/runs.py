"""Creating, cancelling and reaping training runs. Executing one is in execution.py."""

import logging
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.models import Project
from training.ml.config import KINDS_NEEDING_REWARD, ConfigError, config_to_dict, validate_config
from training.models import (
    DatasetSnapshot,
    ModelArtifact,
    TrainingKind,
    TrainingRun,
)
from training.services.snapshots import SnapshotRefused, snapshot_create

logger = logging.getLogger(__name__)

# A hub id: "name" or "owner/name" of letters, digits, "-", "_" and ".".
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class TrainingRefused(ValueError):
    """The run cannot be queued; the message names the field or thing to change."""


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=getattr(settings, "PREFAPP_RUN_HEARTBEAT_TIMEOUT", 120))


def base_model_check(base: str) -> str:
    """Return the usable base model string, or TrainingRefused saying why it cannot load."""
    base = base.strip()
    if not base:
        raise TrainingRefused("base: a hub id, a local model directory or an artifact is required")
    path = Path(base).expanduser()
    if path.exists() or base.startswith(("/", ".", "~")):
        if not path.is_dir():
            raise TrainingRefused(f"base: no model directory at {base!r}")
        if not (path / "config.json").is_file():
            raise TrainingRefused(f"base: {base!r} is not a model directory (no config.json)")
        return str(path.resolve())
    if not _HUB_ID.match(base):
        raise TrainingRefused(f"base: {base!r} is neither a local directory nor a hub id")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(base, "config.json"), str):
            raise TrainingRefused(
                f"base: hub model {base!r} is not in the local cache and HF_HUB_OFFLINE is set"
            )
    return base


def _artifact_check(artifact: ModelArtifact, *, project: Project, field: str, kinds: tuple) -> None:
    if artifact.project_id != project.pk:
        raise TrainingRefused(f"{field}: artifact {artifact.pk} belongs to another project")
    if artifact.kind not in kinds:
        raise TrainingRefused(
            f"{field}: artifact {artifact.pk} is a {artifact.kind} model; "
            f"this needs a {' or '.join(kinds)} model"
        )
    if not Path(artifact.path).is_dir():
        raise TrainingRefused(f"{field}: the directory of artifact {artifact.pk} is gone")


def base_resolve(*, project: Project, text: str) -> str | ModelArtifact:
    """`--base` text: "artifact:ID" or a bare number names an artifact, anything else a model."""
    match = re.fullmatch(r"(?:artifact:)?(\d+)", text.strip())
    if match:
        artifact = ModelArtifact.objects.filter(project=project, pk=int(match[1])).first()
        if artifact is None:
            raise TrainingRefused(f"base: project {project.slug!r} has no artifact {match[1]}")
        return artifact
    return text


def run_create(
    *,
    project: Project,
    kind: str,
    base: str | ModelArtifact,
    config_values: dict[str, Any] | None,
    snapshot: DatasetSnapshot | None = None,
    reward_artifact: ModelArtifact | None = None,
    created_by: Any,
    snapshot_filters: dict[str, Any] | None = None,
    eval_fraction: float = 0.1,
    seed: int = 0,
    follow_up_kind: str = "",
) -> TrainingRun:
    """Validate everything, then create the run (and its snapshot if none is given) and queue it.

    Anything wrong raises TrainingRefused naming the field; then nothing is written or queued.
    """
    if kind not in TrainingKind.values:
        raise TrainingRefused(
            f"kind: unknown training kind {kind!r}; "
            f"expected one of {', '.join(TrainingKind.values)}"
        )
    try:
        config = config_to_dict(validate_config(kind, config_values))
    except ConfigError as error:
        raise TrainingRefused(f"config: {error}") from None
    base_model, base_artifact = "", None
    if isinstance(base, ModelArtifact):
        allowed = ("policy", "reward") if kind == TrainingKind.REWARD else ("policy",)
        _artifact_check(base, project=project, field="base", kinds=allowed)
        base_artifact = base
    else:
        base_model = base_model_check(base)
    if kind in KINDS_NEEDING_REWARD:
        if reward_artifact is None:
            raise TrainingRefused(f"reward_artifact: a {kind} run needs a trained reward model")
        _artifact_check(
            reward_artifact, project=project, field="reward_artifact", kinds=("reward",)
        )
    elif reward_artifact is not None:
        raise TrainingRefused(f"reward_artifact: a {kind} run does not use a reward model")
    if snapshot is not None and snapshot.project_id != project.pk:
        raise TrainingRefused(f"snapshot: snapshot {snapshot.pk} belongs to another project")
    if follow_up_kind and follow_up_kind not in ("dpo", "ppo"):
        raise TrainingRefused(f"follow_up_kind: must be dpo or ppo, got {follow_up_kind!r}")

    with transaction.atomic():
        if snapshot is None:
            try:
                snapshot = snapshot_create(
                    project=project,
                    filters=snapshot_filters,
                    eval_fraction=eval_fraction,
                    seed=seed,
                    created_by=created_by,
                )
            except SnapshotRefused as error:
                raise TrainingRefused(f"snapshot: {error}") from None
        run = TrainingRun.objects.create(
            project=project,
            kind=kind,
            base_model=base_model,
            base_artifact=base_artifact,
            reward_artifact=reward_artifact,
            config=config,
            snapshot=snapshot,
            created_by=created_by,
            follow_up_kind=follow_up_kind,
        )
        transaction.on_commit(lambda: run_enqueue(run_id=run.pk))
    return run


def run_enqueue(*, run_id: int) -> bool:
    """Send the run's task to the broker and note when. If the broker cannot be reached the
    run stays queued (logged, False) and runs_send_waiting sends it again."""
    from kombu.exceptions import OperationalError

    from training.tasks import run_training  # tasks import services; import late

    try:
        run_training.apply_async(args=[run_id])
    except OperationalError:
        logger.warning("run %s: the broker could not be reached; sent again later", run_id)
        return False
    TrainingRun.objects.filter(pk=run_id).update(sent_at=timezone.now())
    return True


def runs_send_waiting(*, now=None) -> int:
    """Send again the queued runs whose task never reached the broker (it was down, or the
    process died between creating the run and sending it) or was sent more than
    PREFAPP_RUN_RESEND_SECONDS ago and not taken (a broker that lost its queue, or a long
    line behind other runs). A second message is harmless: the first to arrive starts the
    run, the others find it no longer queued."""
    now = now or timezone.now()
    never_sent = Q(sent_at__isnull=True, created_at__lt=now - timedelta(seconds=30))
    resend = timedelta(seconds=getattr(settings, "PREFAPP_RUN_RESEND_SECONDS", 600))
    waiting = TrainingRun.objects.filter(
        never_sent | Q(sent_at__lt=now - resend), status=TrainingRun.Status.QUEUED
    )
    return sum(run_enqueue(run_id=run_id) for run_id in waiting.values_list("pk", flat=True))


def run_cancel(*, run: TrainingRun) -> bool:
    """Cancel a queued or running run. The worker running it sees the status and kills the child.

    Returns False when the run had already finished.
    """
    return run.mark_cancelled()


def _remove_partial_model(run: TrainingRun) -> None:
    """A failed run's half-written model (its child died with the worker) is never an artifact."""
    shutil.rmtree(f"{run.output_dir}.tmp", ignore_errors=True)
    if not ModelArtifact.objects.filter(run=run).exists():
        shutil.rmtree(run.output_dir, ignore_errors=True)


def runs_detect_dead(*, now=None) -> int:
    """Fail running runs whose worker stopped reporting (it crashed, was killed, lost power)."""
    now = now or timezone.now()
    stale_before = now - heartbeat_timeout()
    failed = 0
    for run in TrainingRun.objects.filter(
        status=TrainingRun.Status.RUNNING, heartbeat_at__lt=stale_before
    ):
        if run.mark_failed(
            f"The worker {run.worker_hostname or '?'} stopped reporting (last heartbeat "
            f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); it probably died, so the run was "
            "marked failed."
        ):
            _remove_partial_model(run)
            failed += 1
    return failed


def runs_fail_orphaned(*, hostname: str) -> int:
    """At worker start: runs this worker was running before it restarted can never finish."""
    failed = 0
    for run in TrainingRun.objects.filter(
        status=TrainingRun.Status.RUNNING, worker_hostname=hostname
    ):
        if run.mark_failed(
            f"The worker {hostname} restarted while this run was running; the run was lost."
        ):
            _remove_partial_model(run)
            failed += 1
    return failed
