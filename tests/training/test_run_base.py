"""Which model a run may start from (runs.base_resolve), at every place a model name enters:
run_create, the dashboard's run and schedule forms, `manage.py train` and the schedule."""

import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import ProjectFactory
from tests.training.conftest import REPO_ROOT, judge_pairs
from tests.training.dashboard import fake_model_dir, make_artifact, make_run, run_form_data
from training.models import ModelArtifact, TrainingRun, TrainingSchedule
from training.selectors import run_base_default
from training.services.runs import TrainingRefused, base_resolve, run_create
from training.services.schedule import schedule_check, schedule_set

pytestmark = pytest.mark.training

REFUSED = "not a model this project can use"
# Exists on the server (as root), not a model; and exists nowhere.
OUTSIDE = ("/root/.ssh", "/nonexistent")


@pytest.fixture
def roots(settings, tmp_path):
    """One model root of this test's own, holding one model."""
    settings.PREFAPP_MODEL_ROOTS = [str(tmp_path / "models")]
    fake_model_dir(tmp_path / "models" / "tiny")
    return tmp_path / "models"


@pytest.fixture
def judged(project, data_dir):
    judge_pairs(project, pairs=3)
    return project


def _artifact(project, tmp_path, kind="sft"):
    run = make_run(project, kind=kind, status="succeeded")
    return make_artifact(run, fake_model_dir(run.output_dir))


def _refusal(project, text) -> str:
    with pytest.raises(TrainingRefused) as refused:
        base_resolve(project=project, text=text)
    return str(refused.value)


def test_it_gives_one_message_for_every_path_outside_the_roots(project, roots, data_dir):
    outside_model = fake_model_dir(roots.parent / "elsewhere")  # a real model, wrong place

    messages = {_refusal(project, text) for text in (*OUTSIDE, str(outside_model), "gpt2")}

    assert len(messages) == 1
    [message] = messages
    assert message.startswith(f"base: {REFUSED}")
    assert str(roots) in message  # it says where models may be
    assert not any(text in message for text in OUTSIDE)


def test_it_accepts_a_model_under_a_root_and_says_what_is_missing_there(project, roots):
    assert base_resolve(project=project, text=str(roots / "tiny")) == str(roots / "tiny")
    assert base_resolve(project=project, text=f" {roots}/x/../tiny ") == str(roots / "tiny")

    assert "no model directory" in _refusal(project, str(roots / "empty"))


def test_it_refuses_a_link_in_a_root_that_leads_out_of_it(project, roots):
    (roots / "escape").symlink_to(fake_model_dir(roots.parent / "elsewhere"))

    assert _refusal(project, str(roots / "escape")).startswith(f"base: {REFUSED}")


def test_it_accepts_a_hub_id_without_looking_at_the_disk(project, roots, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    assert (
        base_resolve(project=project, text="prefapp-tests/tiny-llama") == "prefapp-tests/tiny-llama"
    )


def test_it_takes_the_projects_own_artifact_by_path_and_refuses_anothers(
    project, roots, data_dir, tmp_path, settings
):
    own = _artifact(project, tmp_path)
    others = _artifact(ProjectFactory(), tmp_path)
    settings.PREFAPP_MODEL_ROOTS = [str(data_dir), str(roots)]  # even a root over the artifacts

    assert base_resolve(project=project, text=own.path) == own
    assert base_resolve(project=project, text=f"artifact:{own.pk}") == own
    assert _refusal(project, others.path) == _refusal(project, OUTSIDE[1])
    assert _refusal(project, str(others.pk)) == (
        f"base: project {project.slug!r} has no artifact {others.pk}"
    )


def test_run_create_queues_a_run_from_a_root_or_the_hub_and_refuses_another_project(
    judged, roots, tmp_path, monkeypatch
):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    others = _artifact(ProjectFactory(), tmp_path)
    make = {"project": judged, "kind": "sft", "config_values": {}, "created_by": None}

    from_root = run_create(**make, base=str(roots / "tiny"))
    from_hub = run_create(**make, base="prefapp-tests/tiny-llama")
    for base in (others.path, *OUTSIDE):
        with pytest.raises(TrainingRefused, match=REFUSED):
            run_create(**make, base=base)
    with pytest.raises(TrainingRefused, match="belongs to another project"):
        run_create(**make, base=others)

    assert (from_root.base_model, from_hub.base_model) == (
        str(roots / "tiny"),
        "prefapp-tests/tiny-llama",
    )
    assert TrainingRun.objects.filter(project=judged).count() == 2


def test_the_run_form_answers_the_same_for_a_secret_and_a_missing_path(judged, manager, roots):
    client = client_for(manager)
    errors = [
        client.post(reverse("training_new", args=[judged.slug, "sft"]), run_form_data("sft", path))
        .context["setup"]
        .errors["base_model"]
        for path in OUTSIDE
    ]

    assert errors[0] == errors[1] and errors[0][0].startswith(REFUSED)
    assert not TrainingRun.objects.exists()


def test_the_schedule_form_applies_the_same_rule(project, manager, roots):
    def save(model: str):
        return client_for(manager).post(
            reverse("training_schedule", args=[project.slug]),
            {
                "enabled": "on",
                "min_new_judgments": "5",
                "reward_base_model": model,
                "follow_up": "none",
            },
        )

    refusals = [save(path).context["schedule_form"].errors["reward_base_model"] for path in OUTSIDE]
    assert refusals[0] == refusals[1] and refusals[0][0].startswith(REFUSED)
    assert not TrainingSchedule.objects.exists()

    assert save(str(roots / "tiny")).status_code == 302
    assert TrainingSchedule.objects.get().reward_base_model == str(roots / "tiny")


def test_the_train_command_applies_the_same_rule(judged, roots, tmp_path):
    def train(*args: str) -> str:
        with pytest.raises(CommandError) as error:
            call_command("train", "--project", judged.slug, *args)
        return str(error.value)

    others = _artifact(ProjectFactory(), tmp_path, kind="reward")

    answers = [train("--kind", "sft", "--base", path) for path in OUTSIDE]
    assert answers[0] == answers[1] and answers[0].startswith(f"base: {REFUSED}")
    assert train("--kind", "sft", "--base", others.path).startswith(f"base: {REFUSED}")
    assert (
        train("--kind", "ppo", "--base", str(roots / "tiny"), "--reward-artifact", str(others.pk))
        == f"--reward-artifact: project {judged.slug!r} has no artifact {others.pk}"
    )
    assert not TrainingRun.objects.filter(project=judged).exists()


def test_the_schedule_refuses_a_stored_model_outside_the_roots(project, roots, data_dir):
    schedule_set(
        project=project, enabled=True, min_new_judgments=1, reward_base_model=OUTSIDE[0]
    )  # stored before the rule, or the roots changed since
    judge_pairs(project, pairs=2)

    assert schedule_check() == []

    message = TrainingSchedule.objects.get(project=project).last_message
    assert message.startswith(f"Could not queue a reward-model run: base: {REFUSED}")


def test_the_default_root_is_where_the_demo_builds_its_models(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFAPP_MODEL_ROOTS"}
    env.update(PREFAPP_VAR_DIR=str(tmp_path / "var"), PREFAPP_DATA_DIR=str(tmp_path / "data"))
    show = (
        "from django.conf import settings; from training.services.demo import tiny_models_dir; "
        "print(settings.PREFAPP_MODEL_ROOTS == [str(tiny_models_dir())])"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", show],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "True", result.stderr


def test_one_rule_names_a_runs_default_base(project, roots, tmp_path):
    assert run_base_default(project=project, kind="reward") is None
    assert run_base_default(project=project, kind="dpo") is None
    schedule_set(project=project, reward_base_model="org/reward", policy_base_model="org/policy")
    assert run_base_default(project=project, kind="reward") == "org/reward"
    assert run_base_default(project=project, kind="dpo") == "org/policy"

    policy = _artifact(project, tmp_path)
    ModelArtifact.objects.filter(pk=policy.pk).update(is_current=True)

    assert run_base_default(project=project, kind="ppo") == policy
    assert run_base_default(project=project, kind="reward") == "org/reward"
