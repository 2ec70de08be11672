"""The loop's service without a worker: steps started once, failures stop the round, resume."""

import pytest

from labeling.models import Judgment
from tests.training.conftest import judge_pairs
from tests.training.dashboard import fake_model_dir
from training.models import Round, RoundStep, TrainingRun
from training.services.loop import (
    LoopRefused,
    loop_advance,
    loop_resume,
    loop_round_next,
    loop_settings_set,
    loops_advance,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def loop_project(project, tmp_path, data_dir):
    model = fake_model_dir(tmp_path / "model")
    judge_pairs(project, pairs=4)
    loop_settings_set(
        project=project,
        label_budget=4,
        reward_base_model=str(model),
        start_policy=str(model),
    )
    return project


def test_it_waits_for_the_budget_while_the_loop_is_on(loop_project):
    loop_settings_set(project=loop_project, enabled=True, label_budget=5)
    assert loops_advance() == [Round.objects.get(project=loop_project).pk]
    assert Round.objects.get(project=loop_project).status == Round.Status.LABELLING
    loop_settings_set(project=loop_project, label_budget=4)
    loops_advance()
    assert Round.objects.get(project=loop_project).status == Round.Status.RUNNING


def test_it_starts_each_step_once_however_often_it_is_advanced(loop_project):
    round = loop_round_next(project=loop_project)
    for _ in range(3):
        loop_advance(project=loop_project)
        loops_advance()

    steps = list(RoundStep.objects.filter(round=round).values_list("name", "status"))
    assert steps == [("snapshot", "succeeded"), ("reward", "running")]
    assert TrainingRun.objects.filter(project=loop_project).count() == 1
    round.refresh_from_db()
    assert round.judgments == 4 and round.policy_before and round.reference_policy


def test_it_stops_at_a_failed_run_and_resumes_that_step(loop_project):
    round = loop_round_next(project=loop_project)
    run = TrainingRun.objects.get(project=loop_project)
    run.mark_failed("out of memory")
    loop_advance(project=loop_project)
    loop_advance(project=loop_project)

    round.refresh_from_db()
    assert (round.status, round.error) == (Round.Status.FAILED, "reward: out of memory")
    with pytest.raises(LoopRefused, match="round 1 is failed, not labelling"):
        loop_round_next(project=loop_project)

    loop_resume(project=loop_project)
    attempts = RoundStep.objects.filter(round=round, name="reward").order_by("attempt")
    assert [(s.attempt, s.status) for s in attempts] == [(1, "failed"), (2, "running")]
    assert RoundStep.objects.filter(round=round, name="snapshot").count() == 1
    with pytest.raises(LoopRefused, match="has not failed"):
        loop_resume(project=loop_project)


def test_it_refuses_the_next_round_without_a_policy_and_changes_nothing(loop_project):
    loop_settings_set(project=loop_project, start_policy="")
    with pytest.raises(LoopRefused, match="start_policy: the project has no current policy"):
        loop_round_next(project=loop_project)
    round = Round.objects.get(project=loop_project)
    assert round.status == Round.Status.LABELLING and not round.steps.exists()


def test_it_refuses_the_next_round_without_a_reward_base_model(project, data_dir, tmp_path):
    judge_pairs(project, pairs=2)
    loop_settings_set(project=project, start_policy=str(fake_model_dir(tmp_path / "m")))
    with pytest.raises(LoopRefused, match="reward_base_model: name the model"):
        loop_round_next(project=project)
    assert Round.objects.get(project=project).status == Round.Status.LABELLING


def test_it_fails_a_refused_step_leaving_nothing_of_it(loop_project):
    # Without judgments there is nothing to snapshot: the step fails with the snapshot's reason.
    Judgment.objects.filter(project=loop_project).delete()
    round = loop_round_next(project=loop_project)
    assert round.status == Round.Status.FAILED
    assert round.error.startswith("snapshot: ") and "no preference rows" in round.error
    assert round.snapshot is None and not TrainingRun.objects.exists()


def test_it_refuses_unknown_or_bad_settings(project):
    with pytest.raises(LoopRefused, match="colour: not a loop setting"):
        loop_settings_set(project=project, colour="red")
    with pytest.raises(LoopRefused, match="policy_method: must be one of"):
        loop_settings_set(project=project, policy_method="sft")
    with pytest.raises(LoopRefused, match="evaluation_config: temperature"):
        loop_settings_set(project=project, evaluation_config={"temperature": 0})
    assert not Round.objects.filter(project=project).exists()
