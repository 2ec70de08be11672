"""The generation form: a policy, a prompt set, sampling and pairing, checked by the engine's
config model and the generation service; a launched job opens the run page."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.conftest import assert_managers_only, client_for
from tests.factories import PromptFactory
from tests.training.dashboard import fake_model_dir, make_artifact, make_run
from training.ml.config import config_fields
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("training_generate", args=[project.slug])


def _post(policy: str = "", policy_artifact: str = "", **config: str) -> dict[str, str]:
    data = {"policy_artifact": policy_artifact, "policy_model": policy}
    for spec in config_fields("generate"):
        data[f"config-{spec.name}"] = str(spec.default)
    data.update({f"config-{name}": value for name, value in config.items()})
    return data


@pytest.fixture
def prompts(project):
    return [PromptFactory(project=project) for _ in range(3)]


def test_it_shows_the_engines_fields_and_starts_from_the_current_policy(project, manager, tmp_path):
    policy = make_artifact(
        make_run(project, kind="dpo", status="succeeded"),
        fake_model_dir(tmp_path / "policy"),
        is_current=True,
    )

    response = client_for(manager).get(_url(project))

    assert response.status_code == 200
    body = response.content.decode()
    for spec in config_fields("generate"):
        assert f'name="config-{spec.name}"' in body
        assert escape(spec.help) in body
    assert f'<option value="{policy.pk}" selected>' in body
    # The kinds' own new-run address leads here too.
    same = client_for(manager).get(reverse("training_new", args=[project.slug, "generate"]))
    assert b'id="generation-form"' in same.content


def test_it_launches_a_job_and_opens_its_page(
    project, manager, prompts, tmp_path, data_dir, django_capture_on_commit_callbacks
):
    policy = fake_model_dir(tmp_path / "policy")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(manager).post(
            _url(project),
            _post(
                str(policy),
                **{
                    "prompt_set": f"prompts:{prompts[0].pk},{prompts[2].pk}",
                    "k": "4",
                    "pairing": "previous",
                    "temperature": "1.2",
                    "top_k": "20",
                },
            ),
        )

    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("training_run", args=[project.slug, run.pk])
    assert len(callbacks) == 1
    assert (run.kind, run.created_by, run.base_model, run.snapshot) == (
        "generate",
        manager,
        str(policy.resolve()),
        None,
    )
    assert run.config["prompt_set"] == f"prompts:{prompts[0].pk},{prompts[2].pk}"
    assert (run.config["k"], run.config["pairing"]) == (4, "previous")
    assert (run.config["temperature"], run.config["top_k"]) == (1.2, 20)
    page = client_for(manager).get(response.url).content.decode()
    assert "Generation" in page and "Snapshot" not in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"prompt_set": "prompts:999999"}, "config-prompt_set", "has no prompt 999999"),
        ({"prompt_set": "heldout"}, "config-prompt_set", "no prompts in &#x27;heldout&#x27;"),
        ({"top_p": "2"}, "config-top_p", "must be &lt;= 1"),
        ({"policy": ""}, "policy_model", "Choose a policy"),
        ({"policy": "/etc"}, "policy_model", "not a model this project can use"),
    ],
)
def test_it_puts_each_refusal_next_to_its_field_and_queues_nothing(
    project, manager, prompts, tmp_path, data, field, message
):
    policy = data.pop("policy", str(fake_model_dir(tmp_path / "policy")))

    response = client_for(manager).post(_url(project), _post(policy, **data))

    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="{field}-error">' in body and message in body
    assert not TrainingRun.objects.exists()


def test_it_needs_csrf(project, manager, prompts, tmp_path):
    client = client_for(manager, enforce_csrf_checks=True)
    response = client.post(_url(project), _post(str(fake_model_dir(tmp_path / "policy"))))
    assert response.status_code == 403
    assert not TrainingRun.objects.exists()


def test_it_is_for_the_projects_managers_only(project, prompts, tmp_path):
    policy = str(fake_model_dir(tmp_path / "policy"))
    assert_managers_only(project, ("get", _url(project)), ("post", _url(project), _post(policy)))
    assert not TrainingRun.objects.exists()


def test_it_has_a_button_on_the_overview(project, manager):
    body = client_for(manager).get(reverse("training_overview", args=[project.slug])).content
    assert f'id="generate-candidates" href="{_url(project)}"'.encode() in body
    assert b'id="train-generate"' not in body


def test_it_lists_and_compares_jobs_which_have_no_snapshot(project, manager):
    jobs = [
        TrainingRun.objects.create(
            project=project,
            kind="generate",
            status="succeeded",
            base_model="/models/tiny",
            config={"k": 2},
            final_metrics={"candidates_added": 4, "pairs_added": 2},
        )
        for _ in range(2)
    ]
    client = client_for(manager)

    listed = client.get(reverse("training_runs", args=[project.slug]))
    compared = client.get(
        reverse("training_compare", args=[project.slug]), {"run": [j.pk for j in jobs]}
    )
    page = client.get(reverse("training_run", args=[project.slug, jobs[0].pk]))

    assert listed.status_code == compared.status_code == page.status_code == 200
    assert b"Generation" in listed.content and b"candidates_added" in listed.content
    assert b'id="run-added">4 candidates and 2 pairs' in page.content
