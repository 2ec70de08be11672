"""Creating, refusing, cancelling and reaping runs (no worker: nothing here trains)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import AuditEvent
from tests.training.conftest import judge_pairs
from training.models import DatasetSnapshot, ModelArtifact, TrainingRun
from training.services.artifacts import artifact_make_current, artifact_register
from training.services.runs import (
    TrainingRefused,
    base_resolve,
    run_cancel,
    run_create,
    runs_detect_dead,
    runs_fail_orphaned,
    runs_send_waiting,
)

pytestmark = pytest.mark.training


@pytest.fixture
def judged(project, data_dir):
    judge_pairs(project, pairs=6)
    return project


def _create(project, tiny_models, **overrides):
    arguments = dict(
        project=project,
        kind="reward",
        base=str(tiny_models["policy"]),
        config_values={"max_steps": "2"},
        created_by=None,
    )
    arguments.update(overrides)
    return run_create(**arguments)


def test_it_queues_a_validated_run_after_commit(
    judged, tiny_models, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        run = _create(judged, tiny_models, created_by=manager)

    assert len(callbacks) == 1  # the task is sent only once the run is committed
    assert run.status == TrainingRun.Status.QUEUED
    assert run.config["max_steps"] == 2 and run.config["learning_rate"] == 1e-5
    assert run.snapshot.train_rows + run.snapshot.eval_rows == 6
    assert run.base_model == str(tiny_models["policy"].resolve())
    [event] = AuditEvent.objects.filter(project=judged)  # a person launched it
    assert (event.action, event.details["run"], event.actor) == ("run_launched", run.pk, manager)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"config_values": {"max_step": 2}}, "config: max_step: unknown field"),
        ({"config_values": {"learning_rate": "fast"}}, "config: learning_rate: expected a number"),
        ({"base": "/no/such/model"}, "base: not a model this project can use"),
        ({"base": ""}, "base: a hub id"),
        ({"kind": "ppo"}, "reward_artifact: a ppo run needs a trained reward model"),
        ({"kind": "telepathy"}, "kind: unknown training kind"),
    ],
)
def test_it_refuses_a_bad_run_before_queueing_anything(
    judged, tiny_models, overrides, message, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(TrainingRefused) as refused,
    ):
        _create(judged, tiny_models, **overrides)

    assert message in str(refused.value)
    assert callbacks == []
    assert not TrainingRun.objects.exists()
    assert not DatasetSnapshot.objects.exists()


def test_it_refuses_a_project_without_rows(
    project, data_dir, tiny_models, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(TrainingRefused, match="snapshot: project .* has no preference rows"),
    ):
        _create(project, tiny_models)

    assert callbacks == [] and not TrainingRun.objects.exists()


def test_it_refuses_a_hub_id_missing_from_the_offline_cache(judged, tiny_models, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(TrainingRefused, match="not in the local cache"):
        _create(judged, tiny_models, base="prefapp-tests/no-such-model")


def _succeeded_run(project, tiny_models, kind="reward"):
    run = _create(project, tiny_models, kind=kind, config_values={})
    run.output_dir.mkdir(parents=True)
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING)
    run.refresh_from_db()
    assert run.mark_succeeded(metrics={"eval_accuracy": 0.5})
    return artifact_register(run=run, metrics=run.final_metrics)


def test_it_makes_the_first_artifact_of_a_kind_current_and_switches_on_request(judged, tiny_models):
    first = _succeeded_run(judged, tiny_models)
    second = _succeeded_run(judged, tiny_models)
    assert (first.is_current, second.is_current) == (True, False)

    artifact_make_current(artifact=second)

    current = ModelArtifact.objects.filter(project=judged, is_current=True)
    assert list(current) == [second]


def test_it_refuses_a_reward_artifact_as_a_policy_base(judged, tiny_models):
    reward = _succeeded_run(judged, tiny_models)

    with pytest.raises(TrainingRefused, match="base: artifact .* is a reward model"):
        _create(judged, tiny_models, kind="dpo", base=reward)
    assert base_resolve(project=judged, text=f"artifact:{reward.pk}") == reward
    with pytest.raises(TrainingRefused, match="has no artifact 999"):
        base_resolve(project=judged, text="999")


def test_it_cancels_a_queued_run_once(judged, tiny_models):
    run = _create(judged, tiny_models)

    assert run_cancel(run=run) is True
    assert run_cancel(run=run) is False
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED and run.finished_at is not None


def test_it_fails_running_runs_whose_worker_went_silent(judged, tiny_models):
    stale, fresh = _create(judged, tiny_models), _create(judged, tiny_models)
    for run in (stale, fresh):
        assert run.mark_running(hostname="celery@gone", pid=1)
    TrainingRun.objects.filter(pk=stale.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10)
    )

    assert runs_detect_dead() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == TrainingRun.Status.FAILED and "stopped reporting" in stale.error
    assert fresh.status == TrainingRun.Status.RUNNING


def test_it_fails_the_runs_of_a_restarted_worker(judged, tiny_models):
    mine, other = _create(judged, tiny_models), _create(judged, tiny_models)
    mine.mark_running(hostname="celery@a", pid=1)
    other.mark_running(hostname="celery@b", pid=1)
    half_written = mine.output_dir.with_name(mine.output_dir.name + ".tmp")
    half_written.mkdir(parents=True)

    assert runs_fail_orphaned(hostname="celery@a") == 1

    assert not half_written.exists()
    other.refresh_from_db()
    assert other.status == TrainingRun.Status.RUNNING


def test_it_sends_again_the_queued_runs_whose_task_never_left_or_waited_too_long(
    judged, tiny_models, settings
):
    """The messages really go to the broker (nothing consumes them here: the runs are rolled
    back with the test, so a worker later finds them missing and does nothing)."""
    now = timezone.now()
    runs = {name: _create(judged, tiny_models) for name in ("unsent", "just made", "old", "new")}
    runs["running"], runs["cancelled"] = _create(judged, tiny_models), _create(judged, tiny_models)
    runs["running"].mark_running(hostname="celery@a", pid=1)
    run_cancel(run=runs["cancelled"])
    # None was sent yet (their on_commit never fires inside the test's transaction).
    TrainingRun.objects.update(created_at=now - timedelta(minutes=1))
    TrainingRun.objects.filter(pk=runs["just made"].pk).update(created_at=now)
    resend = timedelta(seconds=settings.PREFAPP_RUN_RESEND_SECONDS)
    TrainingRun.objects.filter(pk=runs["old"].pk).update(
        sent_at=now - resend - timedelta(seconds=1)
    )
    TrainingRun.objects.filter(pk=runs["new"].pk).update(sent_at=now - resend / 2)
    stale = TrainingRun.objects.filter(pk__in=[runs["running"].pk, runs["cancelled"].pk])
    stale.update(sent_at=now - resend * 2)

    assert runs_send_waiting(now=now) == 2

    sent = {name: TrainingRun.objects.get(pk=run.pk).sent_at for name, run in runs.items()}
    assert sent["unsent"] >= now and sent["old"] >= now
    assert sent["just made"] is None  # its own send may still be on its way
    assert sent["new"] == now - resend / 2
    assert all(sent[name] == now - resend * 2 for name in ("running", "cancelled"))
    assert runs_send_waiting(now=now) == 0


def _sent(run, when):
    TrainingRun.objects.filter(pk=run.pk).update(sent_at=when)


def test_it_sends_again_soon_a_run_that_no_idle_worker_picked_up(judged, tiny_models, settings):
    now = timezone.now()
    pickup = timedelta(seconds=settings.PREFAPP_RUN_PICKUP_SECONDS)
    lost, recent = _create(judged, tiny_models), _create(judged, tiny_models)
    _sent(lost, now - pickup - timedelta(seconds=1))
    _sent(recent, now - pickup / 2)

    assert runs_send_waiting(now=now) == 1  # nothing runs: a worker would have taken it

    assert TrainingRun.objects.get(pk=lost.pk).sent_at >= now
    assert TrainingRun.objects.get(pk=recent.pk).sent_at == now - pickup / 2


def test_it_sends_again_soon_a_run_behind_running_ones_only_once_a_later_one_got_ahead(
    judged, tiny_models, settings
):
    now = timezone.now()
    pickup = timedelta(seconds=settings.PREFAPP_RUN_PICKUP_SECONDS)
    busy, waiting = _create(judged, tiny_models), _create(judged, tiny_models)
    busy.mark_running(hostname="celery@a", pid=1)
    _sent(busy, now - pickup * 3)
    _sent(waiting, now - pickup * 2)

    assert runs_send_waiting(now=now) == 0  # it may be next in line

    later = _create(judged, tiny_models)
    _sent(later, now - pickup)
    later.mark_running(hostname="celery@b", pid=1)  # sent after it, picked up first

    assert runs_send_waiting(now=now) == 1
    assert TrainingRun.objects.get(pk=waiting.pk).sent_at >= now


def test_it_waits_longer_each_time_it_sends_a_run_again(judged, tiny_models, settings):
    """With no worker at all, a run's messages must not pile up: each wait is at least as long
    as the run had waited before its last send."""
    now = timezone.now()
    run = _create(judged, tiny_models)
    TrainingRun.objects.filter(pk=run.pk).update(
        created_at=now - timedelta(seconds=300), sent_at=now - timedelta(seconds=150)
    )

    assert runs_send_waiting(now=now) == 0  # 150 s since the send, after 150 s before it
    assert runs_send_waiting(now=now + timedelta(seconds=1)) == 1
