"""A multi-process run under the real worker: cancel and a dead rank reach every process."""

import os
import signal
from pathlib import Path

import pytest

from tests.training.conftest import judge_pairs, wait_for_run, wait_until
from tests.training.test_worker import ENDLESS, FINISHED, _alive
from training.models import ModelArtifact
from training.services.runs import run_cancel, run_create

pytestmark = [
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def worker(celery_worker, worker_settings):
    return celery_worker


def _ranks(launcher: int) -> dict[int, int]:
    """{rank: pid} of the processes the launcher started (their RANK variable)."""
    ranks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().split(") ")[-1].split()[1])
            if parent != launcher:
                continue
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue  # ended meanwhile
        for item in environ:
            if item.startswith(b"RANK="):
                ranks[int(item[5:])] = int(stat.parent.name)
    return ranks


def _started(project, tiny_models):
    judge_pairs(project, pairs=6)
    run = run_create(
        project=project,
        kind="reward",
        base=str(tiny_models["reward"]),
        config_values={**ENDLESS, "processes": 2},
        created_by=None,
    )
    run = wait_for_run(run, FINISHED, condition=lambda r: r.status == "running" and r.step >= 1)
    ranks = _ranks(run.child_pid)
    assert sorted(ranks) == [0, 1], run.log_tail
    return run, ranks


def _assert_all_gone(run, ranks) -> None:
    wait_until(
        lambda: not any(_alive(pid) for pid in [run.child_pid, *ranks.values()]),
        what="the end of the launcher and every rank",
    )
    wait_until(lambda: not os.path.exists(f"{run.output_dir}.tmp"), what="the cleanup")
    assert not os.path.exists(run.output_dir)
    assert not ModelArtifact.objects.exists()


def test_it_cancels_every_rank_of_a_multi_process_run(worker, project, tiny_models):
    run, ranks = _started(project, tiny_models)

    assert run_cancel(run=run)

    _assert_all_gone(run, ranks)
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_it_fails_the_run_when_one_rank_dies(worker, project, tiny_models):
    run, ranks = _started(project, tiny_models)

    os.kill(ranks[1], signal.SIGKILL)

    run = wait_for_run(run, FINISHED)
    assert run.status == "failed", run.error
    _assert_all_gone(run, ranks)
