"""run_execute's guard: only the call that moves a run from queued to running executes it."""

import pytest

from tests.training.dashboard import make_run
from training.models import TrainingRun
from training.services.execution import run_execute

pytestmark = pytest.mark.training


@pytest.mark.parametrize("status", ["running", "succeeded", "failed", "cancelled"])
def test_it_leaves_a_run_that_is_not_queued_alone(project, data_dir, status):
    run = make_run(project, status=status, worker_hostname="celery@first", worker_pid=1)

    assert run_execute(run_id=run.pk, hostname="celery@second", task_id="again") is None

    again = TrainingRun.objects.get(pk=run.pk)
    assert (again.status, again.worker_hostname, again.celery_task_id) == (
        status,
        "celery@first",
        "",
    )
    assert not again.directory.exists()  # no config written, no child started


def test_it_ignores_a_message_for_a_run_that_is_gone(db, data_dir):
    assert run_execute(run_id=987654, hostname="celery@a") is None
