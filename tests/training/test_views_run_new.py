"""The new-run form: built from the engine's config fields, validated by the engine."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.conftest import assert_managers_only, client_for
from tests.training.conftest import judge_pairs
from tests.training.dashboard import (
    fake_model_dir,
    make_artifact,
    make_run,
    make_snapshot,
)
from training.ml.config import CONFIG_CLASSES, KINDS, KINDS_NEEDING_REFERENCE, config_fields
from training.models import DatasetSnapshot, TrainingRun

pytestmark = pytest.mark.django_db


def _url(project, kind="reward"):
    return reverse("training_new", args=[project.slug, kind])


@pytest.fixture
def judged(project, data_dir):
    judge_pairs(project, pairs=6)
    return project


def _post(project, base, kind="reward", **fields):
    data = {
        "snapshot": "new",
        "aggregate": "all",
        "eval_fraction": "0.2",
        "base_artifact": "",
        "base_model": str(base),
    }
    data.update(
        {
            f"config-{spec.name}": ("on" if spec.default is True else "")
            if spec.type is bool
            else ("" if spec.default is None else str(spec.default))
            for spec in config_fields(kind)
        }
    )
    data.update(fields)
    return data


def test_it_shows_every_config_field_with_its_default_and_help(project, manager):
    response = client_for(manager).get(_url(project, "dpo"))

    assert response.status_code == 200
    body = response.content.decode()
    for spec in config_fields("dpo"):
        assert f'name="config-{spec.name}"' in body
        assert escape(spec.help) in body
    assert 'name="config-beta" value="0.1"' in body
    assert '<option value="sigmoid" selected>' in body
    assert "New snapshot from the current judgments" in body


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if k != "score" and k not in KINDS_NEEDING_REFERENCE]
)
def test_it_shows_each_fields_description_from_the_engines_model(project, manager, kind):
    body = client_for(manager).get(_url(project, kind)).content.decode()

    # A block's fields (peft) are named "block.field", as config_fields describes them.
    for spec in config_fields(kind):
        assert f'name="config-{spec.name}"' in body
        assert f"{escape(spec.help)} Default: " in body, spec.name
    assert set(CONFIG_CLASSES[kind].model_fields) <= {
        spec.name.partition(".")[0] for spec in config_fields(kind)
    }


def test_it_launches_a_lora_run_from_the_peft_fields(judged, manager, tmp_path):
    base = fake_model_dir(tmp_path / "base")
    fields = {"config-peft.enabled": "on", "config-peft.r": "4", "config-peft.alpha": "8"}
    response = client_for(manager).post(_url(judged, "dpo"), _post(judged, base, "dpo", **fields))

    assert response.status_code == 302
    peft = TrainingRun.objects.get().config["peft"]
    assert (peft["enabled"], peft["r"], peft["alpha"]) == (True, 4, 8)


def test_it_names_a_bad_peft_field_next_to_its_input(judged, manager, tmp_path):
    base = fake_model_dir(tmp_path / "base")
    fields = {"config-peft.enabled": "on", "config-peft.target_modules": "q proj"}
    response = client_for(manager).post(_url(judged, "dpo"), _post(judged, base, "dpo", **fields))

    assert response.status_code == 400 and not TrainingRun.objects.exists()
    assert response.context["config"].errors == {
        "peft.target_modules": ["not a module name: 'q proj'"]
    }


def test_it_launches_a_run_on_a_new_snapshot_and_opens_its_page(
    judged, manager, tmp_path, django_capture_on_commit_callbacks
):
    base = fake_model_dir(tmp_path / "base")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(manager).post(
            _url(judged),
            _post(judged, base, **{"config-max_steps": "7", "config-learning_rate": "3e-4"}),
        )

    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("training_run", args=[judged.slug, run.pk])
    assert len(callbacks) == 1  # queued once committed
    assert (run.kind, run.created_by, run.base_model) == ("reward", manager, str(base.resolve()))
    assert run.config["max_steps"] == 7 and run.config["learning_rate"] == 3e-4
    assert run.config["use_margin"] is True
    assert run.snapshot.rows == 6 and run.snapshot.eval_fraction == 0.2


def test_it_reuses_an_existing_snapshot_and_an_artifact_as_base(judged, manager, tmp_path):
    snapshot = make_snapshot(judged, train_rows=40, eval_rows=4)
    policy = make_artifact(
        make_run(judged, kind="sft", status="succeeded"),
        fake_model_dir(tmp_path / "policy"),
        is_current=True,
    )
    form_page = client_for(manager).get(_url(judged, "dpo")).content.decode()
    assert f"Snapshot {snapshot.pk}: 40 train + 4 eval rows" in form_page
    assert f'<option value="{policy.pk}" selected>' in form_page  # the current policy

    response = client_for(manager).post(
        _url(judged, "dpo"),
        _post(judged, "", kind="dpo", snapshot=str(snapshot.pk), base_artifact=str(policy.pk)),
    )

    assert response.status_code == 302
    run = TrainingRun.objects.get(kind="dpo")
    assert run.snapshot == snapshot and run.base_artifact == policy
    assert DatasetSnapshot.objects.count() == 2  # no new one


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("config-learning_rate", "fast", "expected a number, got &#x27;fast&#x27;"),
        ("config-max_steps", "-5", "must be &gt;= -1, got -5"),
        ("config-per_device_train_batch_size", "", "a value is required"),
    ],
)
def test_it_puts_the_engines_error_next_to_the_field(
    judged, manager, tmp_path, field, value, message
):
    base = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(_url(judged), _post(judged, base, **{field: value}))

    assert response.status_code == 400
    body = response.content.decode()
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in body
    assert not TrainingRun.objects.exists() and not DatasetSnapshot.objects.exists()


def test_it_puts_every_bad_field_s_error_next_to_it_at_once(judged, manager, tmp_path):
    base = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(
        _url(judged, "dpo"),
        _post(
            judged,
            base,
            kind="dpo",
            **{"config-beta": "0", "config-max_length": "4", "config-seed": "x"},
        ),
    )

    assert response.status_code == 400
    errors = response.context["config"].errors
    assert errors["beta"] == ["must be > 0.0, got 0"]
    assert errors["max_length"] == ["must be >= 8, got 4"]
    assert errors["seed"] == ["expected an integer, got 'x'"]
    assert not TrainingRun.objects.exists()


def test_it_reads_the_forms_checkbox_and_empty_inputs(judged, manager, tmp_path):
    base = fake_model_dir(tmp_path / "base")
    data = _post(judged, base, **{"config-center_rewards_coefficient": "", "config-max_steps": "3"})
    del data["config-use_margin"]  # an unticked checkbox is not posted at all

    response = client_for(manager).post(_url(judged), data)

    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.config["use_margin"] is False and run.config["center_rewards_coefficient"] is None


def test_it_shows_a_cross_field_error_on_the_field_the_engine_names(judged, manager, tmp_path):
    base = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(
        _url(judged, "dpo"), _post(judged, base, kind="dpo", **{"config-label_smoothing": "0.1"})
    )

    assert response.status_code == 400
    errors = response.context["config"].errors
    assert "only used by loss_type=robust" in errors["label_smoothing"][0]


def test_it_refuses_a_missing_base_model_next_to_the_field(judged, manager):
    response = client_for(manager).post(_url(judged), _post(judged, "/no/such/model"))

    assert response.status_code == 400
    [error] = response.context["setup"].errors["base_model"]
    assert error.startswith("not a model this project can use")
    assert not TrainingRun.objects.exists() and not DatasetSnapshot.objects.exists()


def test_it_says_when_there_is_nothing_to_train_on(project, manager, tmp_path, data_dir):
    base = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(_url(project), _post(project, base))

    assert response.status_code == 400
    assert "has no preference rows yet" in response.context["setup"].errors["snapshot"][0]


def test_it_needs_a_reward_model_for_ppo(judged, manager, tmp_path):
    base = fake_model_dir(tmp_path / "base")
    response = client_for(manager).post(_url(judged, "ppo"), _post(judged, base, kind="ppo"))

    assert response.status_code == 400
    assert "reward_artifact" in response.context["setup"].errors
    assert not TrainingRun.objects.exists()


def test_it_needs_csrf(judged, manager, tmp_path):
    client = client_for(manager, enforce_csrf_checks=True)
    response = client.post(_url(judged), _post(judged, fake_model_dir(tmp_path / "base")))
    assert response.status_code == 403
    assert not TrainingRun.objects.exists()


def test_it_has_no_page_for_an_unknown_kind(project, manager):
    assert client_for(manager).get(_url(project, "telepathy")).status_code == 404
    # A scoring run has its own button (the overview), not the training form.
    assert client_for(manager).get(_url(project, "score")).status_code == 404


def test_it_is_for_the_projects_managers_only(judged, tmp_path):
    base = fake_model_dir(tmp_path / "base")
    assert_managers_only(judged, ("get", _url(judged)), ("post", _url(judged), _post(judged, base)))
    assert not TrainingRun.objects.exists()
