"""Executing one training run: the child process, its event stream and the run's final state.

The Celery task calls `run_execute`. The training itself happens in a child process
(`python -m training.ml config.json`, see training/ml/run.py, or `accelerate launch` with the
config's `processes`: training/ml/launch.py) in its own process group, so that
cancelling can kill it and everything it started, and a crash in torch cannot take the worker
down. The child writes its model to `<output_dir>.tmp` and renames it only on success.
"""

import collections
import contextlib
import ctypes
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from training import storage
from training.ml.artifact import ARTIFACT_FILE, makes_model
from training.ml.config import KINDS_NEEDING_REFERENCE, validate_config
from training.ml.events import parse_event
from training.ml.launch import child_command
from training.models import MetricPoint, TrainingKind, TrainingRun
from training.services.artifacts import artifact_register
from training.services.evaluation import evaluation_prompts_write
from training.services.generation import generation_ingest, generation_prompts_write
from training.services.runs import reference_path
from training.services.scoring import scores_ingest, scoring_input_write

logger = logging.getLogger(__name__)

# How often progress, metrics and the heartbeat are written, and cancellation is checked:
# often enough for a live dashboard, rarely enough not to load the database.
FLUSH_SECONDS = 2.0
MAX_BUFFERED_POINTS = 500
LOG_TAIL_LINES = 60
ERROR_TAIL_LINES = 25
KILL_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


def run_config_write(*, run: TrainingRun) -> Path:
    """Write the child's run config (training/ml/run.py's contract) into the run's directory."""
    run.directory.mkdir(parents=True, exist_ok=True)
    output_dir = run.output_dir
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    if output_dir.exists():
        # Left by a database that was reset while the data directory was kept; not ours.
        output_dir.rename(output_dir.with_name(f"{output_dir.name}.orphaned-{int(time.time())}"))
    snapshot = run.snapshot
    if snapshot is not None:
        storage.local_copy(snapshot.directory)  # written on another machine, maybe
    # Absolute paths: the child runs in the run's directory (see _supervise). An artifact is
    # read from this machine's copy (storage.artifact_directory).
    base = (
        os.path.abspath(storage.artifact_directory(run.base_artifact.path))
        if run.base_artifact is not None
        else run.base_model
    )
    # A reward_model is stored resolved (a directory's real path, or a hub id), as base_model is.
    reward = (
        os.path.abspath(storage.artifact_directory(run.reward_artifact.path))
        if run.reward_artifact is not None
        else run.reward_model or None
    )
    if run.kind == TrainingKind.SCORE:  # a scoring run reads the open pairs, as they are now
        train_file, eval_file = scoring_input_write(run=run), None
    elif snapshot is None:  # a generation job reads prompts, chosen now
        train_file, eval_file = generation_prompts_write(run=run), None
    elif run.kind == TrainingKind.EVALUATE:
        # An evaluation reads the project's held-out prompts, not the snapshot's rows.
        train_file, eval_file = evaluation_prompts_write(run=run), None
    else:
        train_file, eval_file = snapshot.train_path, snapshot.eval_path
    config = {
        "kind": run.kind,
        "base_model": base,
        "reward_model": reward,
        "train_file": os.path.abspath(train_file),
        "eval_file": os.path.abspath(eval_file) if eval_file else None,
        "output_dir": os.path.abspath(output_dir),
        "config": run.config,
    }
    if run.kind in KINDS_NEEDING_REFERENCE:
        config["reference_model"] = reference_path(run=run)
    path = run.directory / "config.json"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_TELEMETRY="1")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(settings.BASE_DIR), env.get("PYTHONPATH", "")])
    )
    return env


def _die_with_parent() -> None:
    """In the child before exec: if the worker dies, the kernel kills the child (Linux only)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(pid: int) -> None:
    """Stop the child and everything it started: TERM, then KILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


class _Recorder:
    """Turns the child's output into database writes, batched every FLUSH_SECONDS."""

    def __init__(self, run: TrainingRun, log_path: Path) -> None:
        self.run = run
        self.log = log_path.open("a", encoding="utf-8")
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.text_tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)
        self.points: list[MetricPoint] = []
        self.step: int = run.step
        self.total_steps: int | None = run.total_steps
        self.done: dict[str, Any] | None = None
        self.error_message = ""
        self.last_flush = time.monotonic()

    def take(self, line: str) -> None:
        self.log.write(line)
        line = line.rstrip("\n")
        event = parse_event(line)
        if event is None:
            self.tail.append(line)
            if line.strip():
                self.text_tail.append(line)
            return
        name = event["event"]
        if name in ("start", "progress"):
            if isinstance(event.get("total_steps"), int):
                self.total_steps = max(0, event["total_steps"])
            if isinstance(event.get("step"), int):
                self.step = max(0, event["step"])
        elif name == "metrics":
            step = event["step"] if isinstance(event.get("step"), int) else self.step
            for metric, value in (event.get("values") or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.points.append(
                        MetricPoint(
                            run_id=self.run.pk,
                            step=max(0, step),
                            name=str(metric)[:100],
                            value=float(value),
                        )
                    )
        elif name == "log":
            self.tail.append(str(event.get("message", "")))
        elif name == "done":
            self.done = event
        elif name == "error":
            self.error_message = str(event.get("message", ""))
            self.tail.append(f"error: {self.error_message}")

    def due(self) -> bool:
        return (
            time.monotonic() - self.last_flush >= FLUSH_SECONDS
            or len(self.points) >= MAX_BUFFERED_POINTS
        )

    def flush(self) -> bool:
        """Write what came in and beat the heart; False when the run is no longer running
        (cancelled, or failed by the dead-run detector), so the child must be stopped."""
        self.last_flush = time.monotonic()
        self.log.flush()
        with transaction.atomic():
            if self.points:
                MetricPoint.objects.bulk_create(self.points)
                self.points = []
            still_running = TrainingRun.objects.filter(
                pk=self.run.pk, status=TrainingRun.Status.RUNNING
            ).update(
                step=self.step,
                total_steps=self.total_steps,
                log_tail="\n".join(self.tail),
                heartbeat_at=timezone.now(),
            )
        return bool(still_running)

    def close(self) -> None:
        self.log.close()


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _supervise(run: TrainingRun, config_path: Path) -> tuple[int, bool, _Recorder]:
    """Run the child to its end; returns (exit code, whether we stopped it, what it said)."""
    recorder = _Recorder(run, run.directory / "output.log")
    # One process, or `accelerate launch` with the config's processes (training/ml/launch.py).
    command = child_command(validate_config(run.kind, run.config), str(config_path))
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        # Not the code's directory: there a hub id "org/name" could name a local directory,
        # which transformers would load instead of the hub's model (runs.base_resolve).
        cwd=run.directory,
        env=_child_env(),
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    TrainingRun.objects.filter(pk=run.pk).update(child_pid=child.pid)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True).start()
    stopped = False
    try:
        while True:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                recorder.take(line)
            if recorder.due() and not recorder.flush() and not stopped:
                stopped = True
                _kill_group(child.pid)
        returncode = child.wait()
        if not recorder.flush():
            stopped = True
    except BaseException:
        # The worker itself is going down (warm shutdown, a bug here): take the child along.
        _kill_group(child.pid)
        raise
    finally:
        recorder.close()
    return returncode, stopped, recorder


def _failure_text(returncode: int, recorder: _Recorder) -> str:
    if returncode < 0:
        head = f"The training process was killed by {signal.Signals(-returncode).name}."
    elif recorder.error_message:
        head = recorder.error_message
    else:
        head = f"The training process exited with status {returncode}."
    tail = "\n".join(recorder.text_tail)
    return f"{head}\n\n{tail}" if tail else head


def _artifact_metrics(output_dir: Path, recorder: _Recorder) -> dict[str, Any]:
    if recorder.done and isinstance(recorder.done.get("metrics"), dict):
        return recorder.done["metrics"]
    info = json.loads((output_dir / ARTIFACT_FILE).read_text(encoding="utf-8"))
    return info.get("metrics") or {}


def _discard(path: Path) -> None:
    """A model directory that must not become an artifact (the run was stopped meanwhile)."""
    shutil.rmtree(path, ignore_errors=True)


def run_execute(*, run_id: int, hostname: str, task_id: str = "") -> str | None:
    """Execute a queued run to its end and record the outcome; returns the final status.

    A run that is not queued (cancelled before it started, or its task delivered twice) is left
    alone and None returned: only the call that moved the run from queued to running executes
    it (a conditional update, `mark_running`), however many messages name it.
    """
    run = (
        TrainingRun.objects.select_related("snapshot", "base_artifact", "reward_artifact")
        .filter(pk=run_id)
        .first()
    )
    if run is None or not run.mark_running(hostname=hostname, pid=os.getpid(), task_id=task_id):
        return None
    output_dir = run.output_dir
    try:
        config_path = run_config_write(run=run)
        returncode, stopped, recorder = _supervise(run, config_path)
        if stopped:
            _discard(output_dir)
        elif returncode == 0 and (output_dir / ARTIFACT_FILE).is_file():
            if makes_model(run.kind):
                storage.publish(output_dir)  # complete on the store before it is registered
            _succeed(run, _artifact_metrics(output_dir, recorder))
        elif returncode == 0:
            run.mark_failed(
                "The training process exited without writing its model.\n\n"
                + "\n".join(recorder.text_tail)
            )
        else:
            run.mark_failed(_failure_text(returncode, recorder))
    except Exception as error:
        logger.exception("run %s: supervising the training process failed", run_id)
        run.mark_failed(f"The worker failed while running this: {type(error).__name__}: {error}")
    finally:
        _discard(output_dir.with_name(output_dir.name + ".tmp"))
        _publish_run_directory(run)
    run.refresh_from_db(fields=["status"])
    return run.status


def _publish_run_directory(run: TrainingRun) -> None:
    """The run's config, log and outputs on the store, for a look from another machine; a
    failure here changes nothing about the run."""
    try:
        if run.directory.is_dir():
            storage.publish(run.directory)
    except Exception:
        logger.exception("run %s: publishing its directory failed", run.pk)


def _succeed(run: TrainingRun, metrics: dict[str, Any]) -> None:
    if run.kind == TrainingKind.SCORE:
        # Written in short batches before the run is marked (no long lock on the queue);
        # a run cancelled meanwhile stops between batches.
        if scores_ingest(run=run):
            run.mark_succeeded(metrics=metrics)
        return
    # One transaction: the run's success and what it adds (its artifact, or a generation job's
    # candidates and pairs) become visible together or not at all.
    with transaction.atomic():
        if not run.mark_succeeded(metrics=metrics):
            # Cancelled between the child's last line and now: cancellation wins.
            transaction.on_commit(lambda: _discard(run.output_dir))
            return
        if makes_model(run.kind):
            artifact_register(run=run, metrics=metrics)
        elif run.kind == TrainingKind.GENERATE:
            generation_ingest(run=run)
