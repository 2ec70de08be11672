"""The periodic check (no worker: the queued runs are looked at, not trained)."""

import pytest

from tests.training.conftest import judge_pairs
from training.models import TrainingRun, TrainingSchedule
from training.services.schedule import new_judgments_count, schedule_check, schedule_set

pytestmark = pytest.mark.training


@pytest.fixture
def scheduled(project, data_dir, tiny_models):
    schedule_set(
        project=project,
        enabled=True,
        min_new_judgments=4,
        reward_base_model=str(tiny_models["policy"]),
        reward_config={"max_steps": 2},
    )
    return project


def test_it_waits_for_enough_new_judgments(scheduled):
    judge_pairs(scheduled, pairs=3)

    assert schedule_check() == []

    schedule = TrainingSchedule.objects.get(project=scheduled)
    assert schedule.last_message == "3 new judgments of 4 needed."


def test_it_queues_one_reward_run_and_counts_from_its_snapshot(scheduled):
    judge_pairs(scheduled, pairs=4)

    [run] = schedule_check()

    assert (run.kind, run.status, run.config["max_steps"]) == ("reward", "queued", 2)
    assert schedule_check() == []  # that run is still queued
    run.mark_failed("boom")
    assert new_judgments_count(project=scheduled) == 0
    assert schedule_check() == []  # a failed run is retried after N more judgments, not at once


def test_it_leaves_disabled_projects_alone(scheduled):
    TrainingSchedule.objects.filter(project=scheduled).update(enabled=False)
    judge_pairs(scheduled, pairs=5)

    assert schedule_check() == []
    assert not TrainingRun.objects.exists()


def test_it_records_why_a_run_was_refused(scheduled):
    TrainingSchedule.objects.filter(project=scheduled).update(reward_config={"beta": 1})
    judge_pairs(scheduled, pairs=4)

    assert schedule_check() == []

    message = TrainingSchedule.objects.get(project=scheduled).last_message
    assert "config: beta: unknown field" in message
