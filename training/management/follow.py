"""Following a run from a management command (`--wait`): progress lines until it ends."""

import time
from collections.abc import Callable

from django.core.management.base import CommandError

from training.models import TrainingRun

POLL_SECONDS = 1.0
# --wait prints a progress line each time the run passes another tenth of its steps, or when
# the step moved and this long passed since the last line (a run of unknown length).
PROGRESS_TENTHS = 10
PROGRESS_SECONDS = 30.0


class ProgressLines:
    """Decides which of a followed run's states deserve a line: every change of status, and
    progress by tenths or every PROGRESS_SECONDS, so a long run prints a screenful, not a
    line per step."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.step: int | None = None
        self.tenth = -1
        self.printed_at = float("-inf")

    def line(self, status: str, step: int, total: int | None, now: float) -> str | None:
        tenth = step * PROGRESS_TENTHS // total if total else -1
        moved = step != self.step
        due = (
            status != self.status
            or (moved and tenth > self.tenth)
            or (moved and now - self.printed_at >= PROGRESS_SECONDS)
        )
        if not due:
            return None
        self.status, self.step, self.tenth, self.printed_at = status, step, tenth, now
        shown_total = total if total is not None else "?"
        percent = f" ({100 * step // total}%)" if total else ""
        return f"{status}, step {step}/{shown_total}{percent}"


def follow_run(run: TrainingRun, *, timeout: float, write: Callable[[str], None]) -> TrainingRun:
    """Poll the run until it ends, writing progress lines; CommandError unless it succeeded
    (or when `timeout` seconds pass first, 0 meaning never)."""
    deadline = time.monotonic() + timeout if timeout else None
    progress = ProgressLines()
    while True:
        run.refresh_from_db()
        line = progress.line(run.status, run.step, run.total_steps, time.monotonic())
        if line is not None:
            write(f"run {run.pk}: {line}")
        if run.is_finished:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise CommandError(
                f"run {run.pk} is still {run.status} after {timeout:g}s "
                "(it goes on; follow it on the dashboard)"
            )
        time.sleep(POLL_SECONDS)
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise CommandError(f"run {run.pk} {run.status}: {run.error or 'cancelled'}")
    return run
