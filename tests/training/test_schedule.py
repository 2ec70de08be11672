"""The periodic check (no worker: the queued runs are looked at, not trained)."""

import pytest

from tests.training.conftest import judge_pairs
from tests.training.dashboard import fake_model_dir, make_artifact, make_run
from training.models import TrainingRun, TrainingSchedule
from training.services.schedule import (
    new_judgments_count,
    schedule_check,
    schedule_follow_up,
    schedule_set,
)
from training.tasks import run_training

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


@pytest.fixture
def reward_run_with_follow_up(project, data_dir, tmp_path):
    """A scheduled reward run that succeeded (made directly: nothing trains here)."""
    schedule_set(
        project=project,
        reward_base_model="org/reward",
        follow_up="dpo",
        policy_base_model=str(fake_model_dir(tmp_path / "policy")),
        follow_up_config={"max_steps": 3},
    )
    run = make_run(project, kind="reward", status="succeeded", follow_up_kind="dpo")
    make_artifact(run, fake_model_dir(run.output_dir), is_current=True)
    return run


def test_it_queues_the_follow_up_of_a_succeeded_run(reward_run_with_follow_up, tmp_path):
    run = reward_run_with_follow_up

    follow_up = schedule_follow_up(run_id=run.pk)

    assert (follow_up.kind, follow_up.status, follow_up.config["max_steps"]) == ("dpo", "queued", 3)
    assert follow_up.snapshot_id == run.snapshot_id
    assert follow_up.base_model == str(tmp_path / "policy")
    schedule = TrainingSchedule.objects.get(project=run.project)
    assert schedule.last_message == f"Run {run.pk} succeeded: queued dpo run {follow_up.pk}."


def test_it_queues_no_follow_up_for_a_run_without_one_or_that_did_not_succeed(
    reward_run_with_follow_up,
):
    run = reward_run_with_follow_up
    TrainingRun.objects.filter(pk=run.pk).update(status="failed")
    other = make_run(run.project, kind="reward", status="succeeded")

    assert schedule_follow_up(run_id=run.pk) is None
    assert schedule_follow_up(run_id=other.pk) is None
    assert not TrainingRun.objects.filter(kind="dpo").exists()


def test_a_duplicate_message_of_a_finished_run_queues_no_second_follow_up(
    reward_run_with_follow_up,
):
    """The task follows up only after the call that executed the run; a message delivered
    again later (sent twice, or redelivered) executes nothing and queues nothing."""
    run = reward_run_with_follow_up

    assert run_training.apply(args=[run.pk]).get() == "skipped"

    assert not TrainingRun.objects.filter(kind="dpo").exists()
    run.refresh_from_db()
    assert run.status == "succeeded"
