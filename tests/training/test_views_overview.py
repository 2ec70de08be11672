"""The project's training overview and its schedule form."""

import pytest
from django.urls import reverse

from tests.conftest import assert_managers_only, client_for
from tests.training.conftest import judge_pairs
from tests.training.dashboard import (
    fake_model_dir,
    make_artifact,
    make_run,
    make_snapshot,
)
from training.models import TrainingSchedule

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("training_overview", args=[project.slug])


def test_it_shows_current_models_new_judgments_and_train_buttons(
    project, manager, tmp_path, data_dir
):
    judge_pairs(project, pairs=5)
    reward_run = make_run(
        project, status="succeeded", snapshot=make_snapshot(project, last_judgment_id=None)
    )
    make_artifact(
        reward_run,
        tmp_path,
        is_current=True,
        metrics={"loss": 0.25, "eval_accuracy": 0.875, "learning_rate": 1e-6},
    )

    response = client_for(manager).get(_url(project))

    assert response.status_code == 200
    body = response.content.decode()
    reward = response.context["current"][0]
    assert reward[0] == "reward" and reward[1].run == reward_run
    # Held-out numbers first; no optimiser state.
    assert [name for name, _ in reward[2]] == ["eval_accuracy", "loss"]
    assert "0.875" in body and "learning_rate" not in body.split('id="current-reward"')[1][:600]
    assert response.context["current"][1][1] is None  # no policy yet
    # The snapshot saw no judgment id: every judgment counts as new.
    assert response.context["new_judgments"] == 5
    assert '<span class="value" id="new-judgments">5</span>' in body
    for kind in ("sft", "reward", "dpo", "ppo", "rloo", "grpo"):
        assert reverse("training_new", args=[project.slug, kind]) in body
    assert f'href="{reverse("training_run", args=[project.slug, reward_run.pk])}"' in body


def test_it_is_linked_from_the_manager_page(project, manager):
    body = client_for(manager).get(reverse("manage", args=[project.slug])).content.decode()
    assert f'href="{_url(project)}"' in body


def test_it_saves_the_schedule(project, manager, tmp_path):
    model = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(
        reverse("training_schedule", args=[project.slug]),
        {
            "enabled": "on",
            "min_new_judgments": "25",
            "reward_base_model": str(model),
            "follow_up": "dpo",
            "policy_base_model": "",
        },
    )

    assert response.status_code == 302
    schedule = TrainingSchedule.objects.get(project=project)
    assert (schedule.enabled, schedule.min_new_judgments, schedule.follow_up) == (True, 25, "dpo")
    assert schedule.reward_base_model == str(model.resolve())
    form = client_for(manager).get(_url(project)).context["schedule_form"]
    assert form.initial["min_new_judgments"] == 25 and form.initial["enabled"] is True


def test_it_refuses_a_bad_schedule_with_the_error_next_to_the_field(project, manager):
    response = client_for(manager).post(
        reverse("training_schedule", args=[project.slug]),
        {
            "enabled": "on",
            "min_new_judgments": "0",
            "reward_base_model": "/no/such/model",
            "follow_up": "none",
        },
    )

    assert response.status_code == 400
    errors = response.context["schedule_form"].errors
    assert errors["reward_base_model"][0].startswith("not a model this project can use")
    assert "min_new_judgments" in errors
    assert 'id="reward_base_model-error"' in response.content.decode()
    assert not TrainingSchedule.objects.exists()


def test_it_needs_csrf_to_change_the_schedule(project, manager):
    client = client_for(manager, enforce_csrf_checks=True)
    response = client.post(
        reverse("training_schedule", args=[project.slug]),
        {"min_new_judgments": "5", "follow_up": "none"},
    )
    assert response.status_code == 403
    assert not TrainingSchedule.objects.exists()


def test_it_is_for_the_projects_managers_only(project):
    assert_managers_only(
        project,
        ("get", _url(project)),
        (
            "post",
            reverse("training_schedule", args=[project.slug]),
            {"min_new_judgments": "5", "follow_up": "none"},
        ),
    )
    assert not TrainingSchedule.objects.exists()
