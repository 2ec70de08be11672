"""The rounds page, the loop settings form and the next-round / resume buttons."""

import pytest
from django.urls import reverse

from tests.conftest import assert_managers_only, client_for
from tests.training.dashboard import fake_model_dir, make_artifact, make_run, make_snapshot
from training.models import LoopSettings, Round, RoundStep, TrainingSchedule
from training.services.loop import loop_settings_set

pytestmark = pytest.mark.django_db


def _urls(project):
    return {
        name: reverse(f"training_{name}", args=[project.slug])
        for name in ("rounds", "loop_settings", "round_next", "round_resume")
    }


def _form(model_dir, **overrides):
    data = {
        "enabled": "on",
        "label_budget": "40",
        "prompts_per_round": "20",
        "k": "2",
        "pairing": "previous",
        "sampling": '{"temperature": 0.8}',
        "policy_method": "dpo",
        "policy_config": '{"beta": 0.2, "max_steps": 3}',
        "reward_base_model": str(model_dir),
        "reward_config": "{}",
        "start_policy": str(model_dir),
        "evaluation_config": '{"max_new_tokens": 16}',
    }
    data.update(overrides)
    return data


def test_it_is_for_the_projects_managers_only(project):
    urls = _urls(project)
    assert_managers_only(
        project,
        ("get", urls["rounds"]),
        ("get", urls["loop_settings"]),
        ("post", urls["loop_settings"], {}),
        ("post", urls["round_next"], {}),
        ("post", urls["round_resume"], {}),
    )


def test_it_saves_the_settings_and_opens_round_one(project, manager, tmp_path):
    model = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(_urls(project)["loop_settings"], _form(model))

    assert response.status_code == 302, response.content.decode()[:2000]
    settings = LoopSettings.objects.get(project=project)
    assert (settings.enabled, settings.label_budget, settings.policy_method) == (True, 40, "dpo")
    assert settings.policy_config == {"beta": 0.2, "max_steps": 3}
    assert (settings.pairing, settings.sampling) == ("previous", {"temperature": 0.8})
    assert Round.objects.get(project=project).status == Round.Status.LABELLING
    body = client_for(manager).get(_urls(project)["rounds"]).content.decode()
    assert 'id="round-next"' in body and "Round 1 is <strong>Labelling" in body


def test_it_shows_the_projects_queue_order_where_it_is_set(project, manager):
    project.selection_strategy = "uncertainty"
    project.save()
    body = client_for(manager).get(_urls(project)["loop_settings"]).content.decode()
    selection = body.split('id="loop-selection"')[1].split("</p>")[0]
    assert "Uncertainty" in selection or "uncertainty" in selection
    assert f"{reverse('manage', args=[project.slug])}#selection" in selection


def test_it_names_a_bad_config_field_and_saves_nothing(project, manager, tmp_path):
    model = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(
        _urls(project)["loop_settings"], _form(model, policy_config='{"beta": -1}')
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "beta: must be > 0" in errors["policy_config"][0]
    assert not LoopSettings.objects.filter(project=project).exists()
    assert not Round.objects.filter(project=project).exists()


def test_it_checks_the_sampling_with_the_generate_kinds_config(project, manager, tmp_path):
    model = fake_model_dir(tmp_path / "base")
    for sampling, message in (
        ('{"top_p": 2}', "top_p: must be <= 1"),
        ('{"k": 3}', "k are set by the loop, not here"),
    ):
        response = client_for(manager).post(
            _urls(project)["loop_settings"], _form(model, sampling=sampling)
        )
        assert response.status_code == 400
        assert message in response.context["form"].errors["sampling"][0]
    assert not LoopSettings.objects.exists()


def test_it_refuses_a_model_outside_the_roots(project, manager):
    response = client_for(manager).post(
        _urls(project)["loop_settings"], _form("/etc", start_policy="")
    )
    assert response.status_code == 400
    assert (
        "not a model this project can use"
        in response.context["form"].errors["reward_base_model"][0]
    )
    assert not LoopSettings.objects.exists()


def test_it_refuses_to_run_beside_the_training_schedule(project, manager, tmp_path):
    model = fake_model_dir(tmp_path / "base")
    TrainingSchedule.objects.create(project=project, enabled=True, reward_base_model=str(model))
    response = client_for(manager).post(_urls(project)["loop_settings"], _form(model))
    assert response.status_code == 400
    assert "training schedule is on" in response.context["form"].errors["enabled"][0]


def test_it_needs_the_csrf_token(project, manager, tmp_path):
    model = fake_model_dir(tmp_path / "base")
    client = client_for(manager, enforce_csrf_checks=True)
    for name in ("loop_settings", "round_next", "round_resume"):
        response = client.post(_urls(project)[name], _form(model))
        assert response.status_code == 403, name
    assert not LoopSettings.objects.exists()


def test_it_shows_each_rounds_evaluation_and_links(project, manager, tmp_path, data_dir):
    model = fake_model_dir(tmp_path / "base")
    loop_settings_set(project=project, reward_base_model=str(model), start_policy=str(model))
    first = Round.objects.get(project=project)
    snapshot = make_snapshot(project)
    reward_run = make_run(
        project, status="succeeded", snapshot=snapshot, final_metrics={"eval_accuracy": 0.8125}
    )
    reward = make_artifact(reward_run, tmp_path / "reward")
    evaluation = make_run(
        project,
        kind="evaluate",
        status="succeeded",
        snapshot=snapshot,
        final_metrics={
            "win_rate": 0.75,
            "win_rate_low": 0.6,
            "win_rate_high": 0.85,
            "mean_reward": 1.5,
            "kl": 2.25,
            "mean_length": 12.0,
            "eos_rate": 0.9,
        },
    )
    first.status, first.snapshot, first.judgments = Round.Status.DONE, snapshot, 40
    first.save()
    for name, run in (("snapshot", None), ("reward", reward_run), ("evaluate", evaluation)):
        RoundStep.objects.create(round=first, name=name, run=run, status="succeeded")
    Round.objects.create(project=project, number=2, status=Round.Status.FAILED, error="policy: x")

    response = client_for(manager).get(_urls(project)["rounds"])

    body = response.content.decode()
    row = body.split('id="round-1"')[1].split("</tr>")[0]
    assert "0.8125" in row and "0.75 (0.6–0.85)" in row and "2.25" in row
    assert reverse("training_run", args=[project.slug, evaluation.pk]) in row
    assert f"reward {reward.pk}" in row
    assert 'id="round-resume"' in body and "policy: x" in body
    charts = response.context["charts"]
    assert charts[0]["name"] == "win-rate against round 0"
    assert charts[0]["series"][0]["points"] == [[1, 0.75]]


def test_it_resumes_only_a_failed_round(project, manager, tmp_path):
    model = fake_model_dir(tmp_path / "base")
    loop_settings_set(project=project, reward_base_model=str(model), start_policy=str(model))
    response = client_for(manager).post(_urls(project)["round_resume"], follow=True)
    assert "Nothing resumed: round 1 has not failed" in response.content.decode()


def test_it_is_a_tab_of_the_training_pages(project, manager):
    body = client_for(manager).get(reverse("training_overview", args=[project.slug]))
    assert f'href="{_urls(project)["rounds"]}"' in body.content.decode()
    # An evaluation is launched by the rounds, not from the train buttons.
    assert reverse("training_new", args=[project.slug, "evaluate"]) not in body.content.decode()
    assert (
        client_for(manager)
        .get(reverse("training_new", args=[project.slug, "evaluate"]))
        .status_code
        == 404
    )
