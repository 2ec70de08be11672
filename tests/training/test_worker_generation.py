"""Generation jobs end to end: a real Celery worker runs `python -m training.ml` with kind
generate on a tiny policy, and the job's answers become candidates and pairs only when it
succeeded; the same job again adds nothing; a cancelled or failing job adds nothing."""

import io
import os

import pytest
from django.core.management import call_command

from labeling.models import Candidate, Pair
from tests.factories import PromptFactory
from tests.training.conftest import wait_for_run, wait_until
from tests.training.dashboard import fake_model_dir
from training.models import MetricPoint, TrainingRun
from training.selectors_generation import generation_outputs
from training.services.generation import generation_launch
from training.services.runs import run_cancel

pytestmark = [
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

FINISHED = ("succeeded", "failed", "cancelled")
SAMPLING = {"max_new_tokens": 8, "batch_size": 2, "backend": "transformers"}


@pytest.fixture
def worker(celery_worker, worker_settings):
    return celery_worker


def _prompts(project, count: int) -> list:
    prompts = [PromptFactory(project=project) for _ in range(count)]
    prompts[0].messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "How are you?"},
        {"role": "assistant", "content": "Well."},
        {"role": "user", "content": "And today?"},
    ]
    prompts[0].save()
    return prompts


def _launch(project, policy: str, **options) -> TrainingRun:
    arguments = {"prompt_set": "all", "k": 3, "sampling": SAMPLING, "pairing": "all", "seed": 5}
    return generation_launch(project=project, policy=policy, **{**arguments, **options})


def test_it_adds_a_policys_answers_as_candidates_and_pairs_once(worker, project, tiny_models):
    prompts = _prompts(project, 3)
    policy = str(tiny_models["policy"])

    run = wait_for_run(_launch(project, policy), FINISHED)

    assert run.status == "succeeded", f"{run.error}\n{run.log_tail}"
    assert (run.step, run.total_steps) == (2, 2)  # two batches of two prompts at most
    assert MetricPoint.objects.filter(run=run, name="eos_rate").exists()
    metrics = run.final_metrics
    assert metrics["samples"] == 9
    assert metrics["candidates_added"] > 0
    assert (
        metrics["candidates_added"] + metrics["dropped_empty"] + metrics["dropped_duplicate"] == 9
    )
    added = generation_outputs(run)
    assert len(added) == metrics["candidates_added"] == Candidate.objects.count()
    assert {c.prompt_id for c in added} <= {p.pk for p in prompts}
    for candidate in added:
        assert candidate.text.strip() == candidate.text and candidate.text
        assert policy[-20:] in candidate.source and "temperature=0.7" in candidate.source
        assert candidate.metadata["generation_run"] == run.pk
    assert Pair.objects.count() == metrics["pairs_added"] > 0
    assert not os.path.exists(f"{run.output_dir}.tmp")

    again = wait_for_run(_launch(project, policy), FINISHED)  # the same job and seed

    assert again.status == "succeeded", again.error
    assert again.final_metrics["candidates_added"] == 0 == again.final_metrics["pairs_added"]
    assert again.final_metrics["dropped_duplicate"] == metrics["candidates_added"]
    assert (
        Candidate.objects.count() == len(added) and Pair.objects.count() == metrics["pairs_added"]
    )


def test_it_adds_nothing_when_the_job_is_cancelled(worker, project, tiny_models):
    _prompts(project, 300)
    run = _launch(
        project,
        str(tiny_models["policy"]),
        sampling={**SAMPLING, "batch_size": 1, "max_new_tokens": 64},
    )
    run = wait_for_run(run, FINISHED, condition=lambda r: r.status == "running" and r.step >= 1)

    assert run_cancel(run=run)

    wait_until(lambda: not os.path.exists(f"{run.output_dir}.tmp"), what="the cleanup")
    run = wait_for_run(run, FINISHED, condition=lambda r: r.child_pid and not _alive(r.child_pid))
    assert run.status == "cancelled"
    assert not Candidate.objects.exists() and not Pair.objects.exists()
    assert not os.path.exists(run.output_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie counts as gone
        return stat.read().split(") ")[-1][0] != "Z"


def test_it_adds_nothing_when_the_child_fails(worker, project, tmp_path):
    _prompts(project, 2)
    broken = fake_model_dir(tmp_path / "broken-policy")  # a config.json and no weights

    run = wait_for_run(_launch(project, str(broken)), FINISHED)

    assert run.status == "failed"
    assert run.error.strip()
    assert not Candidate.objects.exists() and not Pair.objects.exists()
    assert not os.path.exists(run.output_dir)


def test_it_generates_from_the_command_line(worker, project, tiny_models):
    prompt = _prompts(project, 2)[1]
    out = io.StringIO()

    call_command(
        "generate",
        "--project",
        project.slug,
        "--policy",
        str(tiny_models["policy"]),
        "--prompts",
        f"prompts:{prompt.pk}",
        "--k",
        "2",
        "--set",
        "max_new_tokens=6",
        "--set",
        "temperature=1.0",
        "--wait",
        "--timeout",
        "240",
        stdout=out,
    )

    run = TrainingRun.objects.get(kind="generate")
    assert f"Queued generation run {run.pk}" in out.getvalue()
    assert f"run {run.pk} succeeded: " in out.getvalue()
    assert f"candidates_added={run.final_metrics['candidates_added']}" in out.getvalue()
    assert {c.prompt_id for c in generation_outputs(run)} <= {prompt.pk}
    assert run.config["temperature"] == 1.0 and run.config["k"] == 2
