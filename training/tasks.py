"""Celery tasks of the training side: thin wrappers around services (ids in, one call)."""

import socket

from celery import shared_task
from celery.signals import worker_ready

from training.models import TrainingRun
from training.services.arena import arena_fit_run, arena_run_finished
from training.services.execution import run_execute
from training.services.loop import loop_run_finished, loops_advance
from training.services.runs import runs_detect_dead, runs_fail_orphaned, runs_send_waiting
from training.services.schedule import schedule_check, schedule_follow_up
from training.services.scoring import scoring_follow_up


# acks_late: a message is acknowledged only once the run has ended, so a run whose worker
# vanished before starting it is delivered again (run_execute ignores runs that are not queued).
@shared_task(bind=True, acks_late=True, queue="training", name="training.tasks.run_training")
def run_training(self, run_id: int) -> str:
    status = run_execute(
        run_id=run_id,
        hostname=self.request.hostname or socket.gethostname(),
        task_id=self.request.id or "",
    )
    if status == TrainingRun.Status.SUCCEEDED:
        # The schedule decides what follows a run, once, after the call that executed it (a
        # duplicate message executes nothing and returns None). A new reward model first
        # scores the open pairs when the project asks for it (active learning).
        scoring_follow_up(run_id=run_id)
        schedule_follow_up(run_id=run_id)
    if status is not None:
        # A round whose step this run was moves on (or stops, if the run failed).
        loop_run_finished(run_id=run_id)
        # An arena contender's answers take its name; the last one makes the battles.
        arena_run_finished(run_id=run_id)
    return status or "skipped"


@shared_task(name="training.tasks.detect_dead_runs")
def detect_dead_runs() -> int:
    return runs_detect_dead()


@shared_task(name="training.tasks.send_waiting_runs")
def send_waiting_runs() -> int:
    return runs_send_waiting()


@shared_task(name="training.tasks.check_training_schedules")
def check_training_schedules() -> list[int]:
    return [run.pk for run in schedule_check()]


@shared_task(name="training.tasks.advance_loops")
def advance_loops() -> list[int]:
    return loops_advance()


@worker_ready.connect
def fail_runs_of_previous_worker(sender=None, **kwargs) -> None:
    """A worker that starts cannot be running anything: runs it held before a crash are lost."""
    hostname = getattr(sender, "hostname", None)
    if hostname:
        runs_fail_orphaned(hostname=hostname)


@shared_task(name="training.tasks.fit_arena")
def fit_arena(fit_id: int) -> str:
    return arena_fit_run(fit_id=fit_id)
