"""Creating, cancelling and reaping training runs. Executing one is in execution.py."""

import logging
import os
import re
import shutil
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import DurationField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.utils import timezone

from labeling.models import AuditAction, Project
from labeling.services.audit import audit_record
from training.ml.config import (
    KINDS_NEEDING_REFERENCE,
    KINDS_NEEDING_REWARD,
    KINDS_WITHOUT_SNAPSHOT,
    ConfigError,
    config_to_dict,
    validate_config,
)
from training.models import (
    DatasetSnapshot,
    ModelArtifact,
    TrainingKind,
    TrainingRun,
    data_dir,
)
from training.services.snapshots import SnapshotRefused, snapshot_create

logger = logging.getLogger(__name__)

# A hub id: "organisation/name" of letters, digits, "-", "_" and "." (the hub's own form). A
# bare name or a longer path is a directory; "./a/b" names a relative directory of two parts.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_ARTIFACT_ID = re.compile(r"(?:artifact:)?(\d+)")


class TrainingRefused(ValueError):
    """The run cannot be queued; the message names the field or thing to change."""


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=getattr(settings, "PREFAPP_RUN_HEARTBEAT_TIMEOUT", 120))


def model_roots() -> list[Path]:
    """PREFAPP_MODEL_ROOTS with links resolved: the only directories a path may point into."""
    return [
        Path(os.path.realpath(Path(root).expanduser())) for root in settings.PREFAPP_MODEL_ROOTS
    ]


def _not_a_usable_model(field: str) -> TrainingRefused:
    # One text for every refused path, existing or not, so that a refusal says nothing about
    # the server's files; it names what is allowed instead.
    roots = ", ".join(str(root) for root in model_roots()) or "none configured"
    return TrainingRefused(
        f"{field}: not a model this project can use; name one of its artifacts, a hub id "
        f"(organisation/name) or a model directory under PREFAPP_MODEL_ROOTS ({roots})"
    )


def _hub_id_check(hub_id: str, field: str) -> str:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(hub_id, "config.json"), str):
            raise TrainingRefused(
                f"{field}: hub model {hub_id!r} is not in the local cache and HF_HUB_OFFLINE is set"
            )
    return hub_id


def _own_artifact_at(project: Project, path: Path) -> ModelArtifact | None:
    for artifact in ModelArtifact.objects.filter(project=project, path__endswith=path.name):
        if Path(os.path.realpath(artifact.path)) == path:
            return artifact
    return None


def base_resolve(*, project: Project, text: str, field: str = "base") -> str | ModelArtifact:
    """The model a manager's text names, if the project may use it; TrainingRefused otherwise.

    Allowed: "artifact:ID" or a bare number, or the directory of one of the project's own
    artifacts (→ that ModelArtifact); a hub id "organisation/name" (→ the id, loaded from the
    hub with the worker's credentials); a model directory under PREFAPP_MODEL_ROOTS (→ its
    resolved path). Every other path, another project's artifact included, gets one message.
    """
    text = text.strip()
    if not text:
        raise TrainingRefused(
            f"{field}: a hub id, a local model directory or an artifact is required"
        )
    match = _ARTIFACT_ID.fullmatch(text)
    if match:
        artifact = ModelArtifact.objects.filter(project=project, pk=int(match[1])).first()
        if artifact is None:
            raise TrainingRefused(f"{field}: project {project.slug!r} has no artifact {match[1]}")
        return artifact
    if _HUB_ID.match(text):
        return _hub_id_check(text, field)
    path = Path(os.path.realpath(Path(text).expanduser()))  # links resolved: none leads out
    own = _own_artifact_at(project, path)
    if own is not None:
        return own
    artifacts = Path(os.path.realpath(data_dir() / "artifacts"))
    if path.is_relative_to(artifacts) or not any(
        path.is_relative_to(root) for root in model_roots()
    ):
        raise _not_a_usable_model(field)
    if not (path / "config.json").is_file():
        raise TrainingRefused(f"{field}: no model directory (with a config.json) at {text!r}")
    return str(path)


def _artifact_check(
    artifact: ModelArtifact,
    *,
    project: Project,
    field: str,
    kinds: tuple,
    other_projects: Collection[int] = (),
) -> None:
    if artifact.project_id != project.pk and artifact.project_id not in other_projects:
        raise TrainingRefused(f"{field}: artifact {artifact.pk} belongs to another project")
    if artifact.kind not in kinds:
        raise TrainingRefused(
            f"{field}: artifact {artifact.pk} is a {artifact.kind} model; "
            f"this needs a {' or '.join(kinds)} model"
        )
    if not Path(artifact.path).is_dir():
        raise TrainingRefused(f"{field}: the directory of artifact {artifact.pk} is gone")


def reference_text(*, project: Project, model: str | ModelArtifact, field: str) -> str:
    """How a run stores a policy it compares against: "artifact:ID", or the resolved hub id or
    directory (checked by base_resolve, as a base model is)."""
    if not isinstance(model, ModelArtifact):
        model = base_resolve(project=project, text=model, field=field)
    if isinstance(model, ModelArtifact):
        _artifact_check(model, project=project, field=field, kinds=("policy",))
        return f"artifact:{model.pk}"
    return model


def reference_path(*, run: TrainingRun) -> str:
    """What the child loads as the run's reference policy (checked again: roots can change)."""
    model = base_resolve(project=run.project, text=run.reference_model, field="reference")
    return os.path.abspath(model.path) if isinstance(model, ModelArtifact) else model


_QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def run_queue(*, project: Project, kind: str, requested: str = "") -> str:
    """The worker pool (Celery queue) a run goes to: the one it names, else its project's, else
    its kind's (settings.PREFAPP_TRAINING_QUEUE_BY_PROJECT / _BY_KIND), else the default."""
    queue = (
        requested.strip()
        or settings.PREFAPP_TRAINING_QUEUE_BY_PROJECT.get(project.slug)
        or settings.PREFAPP_TRAINING_QUEUE_BY_KIND.get(kind)
        or settings.PREFAPP_TRAINING_QUEUE
    )
    if not _QUEUE_NAME.fullmatch(queue):
        raise TrainingRefused(
            f"queue: {queue!r} is not a queue name (letters, digits, '_', '.', '-'; at most 64)"
        )
    return queue


def run_create(
    *,
    project: Project,
    kind: str,
    base: str | ModelArtifact,
    config_values: dict[str, Any] | None,
    snapshot: DatasetSnapshot | None = None,
    reward_artifact: ModelArtifact | str | None = None,
    created_by: Any,
    snapshot_filters: dict[str, Any] | None = None,
    eval_fraction: float = 0.1,
    seed: int = 0,
    follow_up_kind: str = "",
    reference: str | ModelArtifact | None = None,
    base_projects: Collection[int] = (),
    queue: str = "",
) -> TrainingRun:
    """Validate everything, then create the run (and its snapshot if none is given and the kind
    reads one) and queue it. `base_projects`: other projects whose artifacts the base may be
    (an arena's contenders, checked by the caller to be the manager's own projects).

    Anything wrong raises TrainingRefused naming the field; then nothing is written or queued.
    """
    if project.is_archived:
        raise TrainingRefused("project: the project is archived; take it out of the archive first")
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
    if not isinstance(base, ModelArtifact):
        base = base_resolve(project=project, text=base)
    if isinstance(base, ModelArtifact):
        allowed: tuple[str, ...] = {
            "reward": ("policy", "reward"),
            "score": ("reward",),  # the reward model that scores
        }.get(kind, ("policy",))
        _artifact_check(
            base, project=project, field="base", kinds=allowed, other_projects=base_projects
        )
        base_artifact = base
    else:
        base_model = base
    reward_model = ""
    if kind in KINDS_NEEDING_REWARD:
        if reward_artifact is None:
            raise TrainingRefused(f"reward_artifact: a {kind} run needs a trained reward model")
        if isinstance(reward_artifact, str):  # checked by the same rule as a base model
            reward_artifact = base_resolve(
                project=project, text=reward_artifact, field="reward_artifact"
            )
        if isinstance(reward_artifact, ModelArtifact):
            _artifact_check(
                reward_artifact, project=project, field="reward_artifact", kinds=("reward",)
            )
        else:
            reward_model, reward_artifact = reward_artifact, None
    elif reward_artifact is not None:
        raise TrainingRefused(f"reward_artifact: a {kind} run does not use a reward model")
    if snapshot is not None and kind in KINDS_WITHOUT_SNAPSHOT:
        raise TrainingRefused(f"snapshot: a {kind} run reads no snapshot")
    reference_model = ""
    if kind in KINDS_NEEDING_REFERENCE:
        if reference is None:
            raise TrainingRefused(f"reference: a {kind} run needs the policy it compares against")
        reference_model = reference_text(project=project, model=reference, field="reference")
    elif reference is not None:
        raise TrainingRefused(f"reference: a {kind} run does not use a reference policy")
    if snapshot is not None and snapshot.project_id != project.pk:
        raise TrainingRefused(f"snapshot: snapshot {snapshot.pk} belongs to another project")
    queue = run_queue(project=project, kind=kind, requested=queue)
    if follow_up_kind and follow_up_kind not in ("dpo", "ppo"):
        raise TrainingRefused(f"follow_up_kind: must be dpo or ppo, got {follow_up_kind!r}")

    with transaction.atomic():
        if snapshot is None and kind not in KINDS_WITHOUT_SNAPSHOT:
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
            reward_model=reward_model,
            config=config,
            queue=queue,
            snapshot=snapshot,
            created_by=created_by,
            follow_up_kind=follow_up_kind,
            reference_model=reference_model,
        )
        if created_by is not None:  # a person's launch; the schedule and the loop are not
            audit_record(
                project=project,
                actor=created_by,
                action=AuditAction.RUN_LAUNCHED,
                details={"run": run.pk, "kind": kind},
            )
        transaction.on_commit(lambda: run_enqueue(run_id=run.pk))
    return run


def run_enqueue(*, run_id: int) -> bool:
    """Send the run's task to the broker and note when. A send that fails (the broker is down
    or unreachable) is logged and returns False, never raised: the run stays queued, and
    runs_send_waiting sends it again."""
    from kombu.exceptions import OperationalError

    from training.tasks import run_training  # tasks import services; import late

    # This runs in on_commit after a manager's request, whose run is already stored: whatever
    # goes wrong with the send, the request must not fail for it.
    queue = TrainingRun.objects.filter(pk=run_id).values_list("queue", flat=True).first()
    try:
        # The run's worker pool; settings.CELERY_TASK_ROUTES names the default one.
        run_training.apply_async(args=[run_id], queue=queue or None)
    except OperationalError as error:
        logger.warning(
            "run %s: the broker could not be reached (%s); sent again later", run_id, error
        )
        return False
    except Exception:
        logger.exception("run %s: sending its task failed; sent again later", run_id)
        return False
    TrainingRun.objects.filter(pk=run_id).update(sent_at=timezone.now())
    return True


def runs_send_waiting(*, now=None) -> int:
    """Send again the queued runs whose message is missing. A second message is harmless: the
    first to arrive starts the run, the others find it no longer queued (run_execute).

    A queued run's message is missing when it never reached the broker (the broker was down, or
    the process died between creating the run and sending it), or when it was sent more than
    PREFAPP_RUN_PICKUP_SECONDS ago (and longer than it waited before that send) and not picked
    up although a worker would have taken it: no run is running, or a run sent after it was
    picked up first (the queue is first in, first out). A run that may be waiting behind
    running ones is sent again only after PREFAPP_RUN_RESEND_SECONDS (a broker that lost its
    queue while every worker was busy)."""
    now = now or timezone.now()
    pickup = timedelta(seconds=settings.PREFAPP_RUN_PICKUP_SECONDS)
    resend = timedelta(seconds=settings.PREFAPP_RUN_RESEND_SECONDS)
    never_sent = Q(sent_at__isnull=True, created_at__lt=now - timedelta(seconds=30))
    # Each time, wait at least as long as the run had waited before its last send (90 s, 90 s,
    # 180 s, ... up to the backstop), so that with no worker at all messages do not pile up.
    not_picked_up = Q(sent_at__lt=now - pickup) & Q(sent_at__lt=now - F("waited_before_send"))
    if TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exists():
        overtaken = TrainingRun.objects.filter(
            started_at__isnull=False, sent_at__gt=OuterRef("sent_at")
        )
        not_picked_up &= Q(Exists(overtaken))
    waiting = TrainingRun.objects.annotate(
        waited_before_send=ExpressionWrapper(
            F("sent_at") - F("created_at"), output_field=DurationField()
        )
    ).filter(
        never_sent | not_picked_up | Q(sent_at__lt=now - resend),
        status=TrainingRun.Status.QUEUED,
    )
    return sum(run_enqueue(run_id=run_id) for run_id in waiting.values_list("pk", flat=True))


def run_cancel(*, run: TrainingRun, actor: Any = None) -> bool:
    """Cancel a queued or running run. The worker running it sees the status and kills the child.

    Returns False when the run had already finished. A person's (`actor`) cancel is audited.
    """
    with transaction.atomic():
        cancelled = run.mark_cancelled()
        if cancelled and actor is not None:
            audit_record(
                project=run.project,
                actor=actor,
                action=AuditAction.RUN_CANCELLED,
                details={"run": run.pk, "kind": run.kind},
            )
    return cancelled


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
