"""Runs end to end: a real Celery worker, real snapshots of real judgments, tiny real models.

One worker serves the whole module (starting one costs seconds); the tests are
`transaction=True` so that the worker, another process, sees what they write.
"""

import io
import os
import signal
import time
from datetime import timedelta

import pytest
from django.core.management import call_command

from tests.training.conftest import judge_pairs, wait_for_run, wait_until
from training.ml.events import parse_event
from training.models import MetricPoint, ModelArtifact, TrainingRun
from training.selectors import artifact_current
from training.services.runs import run_cancel, run_create, run_enqueue, runs_send_waiting
from training.services.schedule import schedule_check, schedule_set

pytestmark = [
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

# Few steps, short sequences: each run costs mostly the child's imports.
REWARD = {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64}
POLICY = {
    "sft": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64},
    "dpo": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64},
    "ppo": {
        "max_steps": 2,
        "rollout_batch_size": 4,
        "ppo_epochs": 1,
        "response_length": 8,
        "max_prompt_length": 32,
    },
    "rloo": {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 8,
    },
    "grpo": {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 8,
    },
}
# Long enough to be caught running; it never ends on its own within the test.
ENDLESS = {"max_steps": 100000, "per_device_train_batch_size": 2, "max_length": 64}
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def worker(celery_worker, worker_settings):
    return celery_worker


def _generated_text(model_dir: str) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "How are you?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(
        **ids,
        do_sample=False,
        min_new_tokens=4,
        max_new_tokens=8,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(output[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def _assert_succeeded_with_artifact(run: TrainingRun, kind: str) -> ModelArtifact:
    assert run.status == "succeeded", f"{run.kind} run failed:\n{run.error}\n{run.log_tail}"
    assert run.total_steps == 2 and run.step == 2
    artifact = run.artifact
    assert artifact.kind == kind
    assert os.path.isfile(os.path.join(artifact.path, "prefapp_artifact.json"))
    assert not os.path.exists(artifact.path + ".tmp")
    assert artifact.metrics and artifact.metrics == run.final_metrics
    assert MetricPoint.objects.filter(run=run).exists()
    return artifact


def test_it_trains_every_kind_on_schedule_and_on_request(worker, project, tiny_models):
    judge_pairs(project, pairs=12)
    policy = str(tiny_models["policy"])
    schedule_set(
        project=project,
        enabled=True,
        min_new_judgments=10,
        reward_base_model=policy,
        reward_config=REWARD,
        follow_up="dpo",
        policy_base_model=policy,
        follow_up_config=POLICY["dpo"],
    )

    [reward_run] = schedule_check()
    assert schedule_check() == []  # one reward run at a time

    reward_run = wait_for_run(reward_run, FINISHED)
    reward = _assert_succeeded_with_artifact(reward_run, "reward")
    assert reward.is_current
    assert "eval_accuracy" in reward.metrics
    assert MetricPoint.objects.filter(run=reward_run, name="eval_accuracy").exists()
    # The schedule's follow-up: DPO of the policy on the same snapshot, queued on success.
    dpo_run = TrainingRun.objects.get(project=project, kind="dpo")
    assert dpo_run.snapshot_id == reward_run.snapshot_id
    online_runs = [
        run_create(
            project=project,
            kind=kind,
            base=policy,
            config_values=POLICY[kind],
            snapshot=reward_run.snapshot,
            reward_artifact=reward,
            created_by=None,
        )
        for kind in ("ppo", "rloo", "grpo")
    ]

    for run in [dpo_run, *online_runs]:
        run = wait_for_run(run, FINISHED)
        artifact = _assert_succeeded_with_artifact(run, "policy")
        assert _generated_text(artifact.path).strip()
    assert artifact_current(project=project, kind="policy").run_id == dpo_run.pk
    ppo = TrainingRun.objects.get(kind="ppo")
    assert {"score", "sequence_kl", "eos_rate", "train_runtime"} <= set(ppo.final_metrics)
    assert schedule_check() == []  # no new judgments since the reward run


def test_it_cancels_a_running_run(worker, project, tiny_models):
    judge_pairs(project, pairs=6)
    run = run_create(
        project=project,
        kind="reward",
        base=str(tiny_models["policy"]),
        config_values=ENDLESS,
        created_by=None,
    )
    run = wait_for_run(run, FINISHED, condition=lambda r: r.status == "running" and r.step >= 1)

    assert run_cancel(run=run)

    # The worker notices within seconds, kills the child's process group and cleans up.
    wait_until(lambda: not _alive(run.child_pid), what="the child's end")
    wait_until(lambda: not os.path.exists(f"{run.output_dir}.tmp"), what="the cleanup")
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert not os.path.exists(run.output_dir)
    assert not ModelArtifact.objects.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by the worker) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"


def test_it_fails_a_killed_run_and_serves_the_next_one(worker, project, tiny_models):
    judge_pairs(project, pairs=6)
    policy = str(tiny_models["policy"])
    doomed = run_create(
        project=project, kind="reward", base=policy, config_values=ENDLESS, created_by=None
    )
    doomed = wait_for_run(
        doomed, FINISHED, condition=lambda r: r.status == "running" and r.step >= 1
    )

    os.kill(doomed.child_pid, signal.SIGKILL)

    doomed = wait_for_run(doomed, FINISHED)
    assert doomed.status == "failed"
    assert "killed by SIGKILL" in doomed.error
    wait_until(lambda: not os.path.exists(f"{doomed.output_dir}.tmp"), what="the cleanup")
    assert not os.path.exists(doomed.output_dir)
    assert not ModelArtifact.objects.filter(run=doomed).exists()
    # The same worker takes the next run; queued from the command line and followed to its end.
    out = io.StringIO()
    call_command(
        "train",
        "--project",
        project.slug,
        "--kind",
        "sft",
        "--base",
        policy,
        *[f"--set={key}={value}" for key, value in POLICY["sft"].items()],
        "--wait",
        "--timeout",
        "240",
        stdout=out,
    )
    sft_run = TrainingRun.objects.get(kind="sft")
    artifact = _assert_succeeded_with_artifact(sft_run, "policy")
    assert f"run {sft_run.pk} succeeded: artifact {artifact.pk}" in out.getvalue()
    assert "step 2/2" in out.getvalue() or "succeeded, step 2/2" in out.getvalue()
    assert _generated_text(artifact.path).strip()


def test_it_fails_a_run_whose_training_raises_with_the_end_of_the_traceback(
    worker, project, tiny_models
):
    judge_pairs(project, pairs=4)
    # Valid config, impossible data: every pair is longer than 8 tokens, so none is left.
    run = run_create(
        project=project,
        kind="reward",
        base=str(tiny_models["policy"]),
        config_values={"max_steps": 2, "max_length": 8},
        created_by=None,
    )

    run = wait_for_run(run, FINISHED)

    assert run.status == "failed"
    reason, _, traceback_end = run.error.partition("\n\n")
    assert reason.startswith("ValueError: ")  # the child's one-line reason, then
    assert 'File "' in traceback_end and traceback_end.endswith(reason)  # the traceback's end
    wait_until(lambda: not os.path.exists(f"{run.output_dir}.tmp"), what="the cleanup")
    assert not os.path.exists(run.output_dir)
    assert not ModelArtifact.objects.exists()


def test_it_sends_again_a_run_whose_task_the_broker_lost(worker, project, tiny_models, settings):
    from prefapp.celery import app

    judge_pairs(project, pairs=4)
    base = str(tiny_models["policy"])
    blocker = run_create(
        project=project, kind="reward", base=base, config_values=ENDLESS, created_by=None
    )
    wait_for_run(blocker, ("running",))
    waiting = run_create(
        project=project, kind="reward", base=base, config_values=REWARD, created_by=None
    )
    wait_until(lambda: TrainingRun.objects.get(pk=waiting.pk).sent_at, what="the send")
    # The worker is busy and takes one task at a time, so the message waits in the broker,
    # which loses it (as a Redis restarted without persistence would).
    with app.connection_for_write() as broker:
        assert broker.default_channel.queue_purge("training") == 1
    sent_at = TrainingRun.objects.get(pk=waiting.pk).sent_at
    pickup = timedelta(seconds=settings.PREFAPP_RUN_PICKUP_SECONDS)
    # While a run is running, the waiting one may just be next in line: not sent again yet.
    assert runs_send_waiting(now=sent_at + pickup * 2) == 0
    run_cancel(run=blocker)
    wait_for_run(blocker, FINISHED)
    time.sleep(3)  # an idle worker, and nothing to take
    assert TrainingRun.objects.get(pk=waiting.pk).status == "queued"
    assert runs_send_waiting() == 0  # sent a moment ago: not yet

    # Nothing runs, so a worker would have picked it up: its message is lost.
    assert runs_send_waiting(now=sent_at + pickup + timedelta(seconds=1)) == 1

    _assert_succeeded_with_artifact(wait_for_run(waiting, FINISHED), "reward")


def test_it_runs_a_run_once_however_often_its_task_is_sent(worker, project, tiny_models):
    judge_pairs(project, pairs=4)
    base = str(tiny_models["policy"])
    run = run_create(
        project=project, kind="reward", base=base, config_values=REWARD, created_by=None
    )
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).sent_at, what="the send")

    assert run_enqueue(run_id=run.pk) and run_enqueue(run_id=run.pk)  # three messages

    run = wait_for_run(run, FINISHED)
    # A run queued after the duplicates: once it runs, the worker has taken them all.
    last = run_create(
        project=project, kind="reward", base=base, config_values=ENDLESS, created_by=None
    )
    wait_for_run(last, ("running",))
    run_cancel(run=last)
    wait_for_run(last, FINISHED)
    _assert_succeeded_with_artifact(TrainingRun.objects.get(pk=run.pk), "reward")
    output = (run.directory / "output.log").read_text(encoding="utf-8").splitlines()
    starts = [line for line in output if (parse_event(line) or {}).get("event") == "start"]
    assert len(starts) == 1  # one child, one training
    assert ModelArtifact.objects.filter(run=run).count() == 1
