"""Artifacts: the list, "make current", the .tar.gz download and the "try it" box."""

import io
import tarfile

import pytest
from django.urls import reverse

from tests.conftest import assert_managers_only, client_for
from tests.training.dashboard import make_artifact, make_run
from training.models import ModelArtifact

pytestmark = pytest.mark.django_db


def _url(project, name="training_artifacts", artifact=None):
    return reverse(name, args=[project.slug] + ([artifact.pk] if artifact else []))


@pytest.fixture
def model_dir(tmp_path):
    directory = tmp_path / "run-1"
    (directory / "nested").mkdir(parents=True)
    (directory / "config.json").write_text('{"model_type": "llama"}')
    (directory / "model.safetensors").write_bytes(bytes(range(256)) * 4099)  # not block-aligned
    (directory / "nested" / "empty.txt").write_bytes(b"")
    return directory


@pytest.fixture
def artifacts(project, model_dir):
    old = make_artifact(
        make_run(project, status="succeeded"),
        model_dir,
        is_current=True,
        metrics={"loss": 0.5, "eval_accuracy": 0.625},
    )
    new = make_artifact(
        make_run(project, status="succeeded"),
        model_dir,
        metrics={"loss": 0.25, "eval_accuracy": 0.9375},
    )
    return old, new


def test_it_lists_artifacts_with_metrics_and_the_current_one(project, manager, artifacts):
    old, new = artifacts
    response = client_for(manager).get(_url(project))

    assert response.status_code == 200
    assert list(response.context["artifacts"]) == [new, old]
    body = response.content.decode()
    assert "0.9375" in body and "0.625" in body
    current_row = body.split(f'id="artifact-{old.pk}"')[1].split("</tr>")[0]
    assert 'class="badge current"' in current_row and "Make current" not in current_row
    new_row = body.split(f'id="artifact-{new.pk}"')[1].split("</tr>")[0]
    assert _url(project, "training_artifact_current", new) in new_row
    assert _url(project, "training_artifact_download", new) in new_row


def test_it_makes_an_artifact_current(project, manager, artifacts):
    old, new = artifacts
    response = client_for(manager).post(_url(project, "training_artifact_current", new))

    assert response.status_code == 302
    assert ModelArtifact.objects.get(is_current=True) == new
    old.refresh_from_db()
    assert not old.is_current


def test_it_needs_csrf_to_make_an_artifact_current(project, manager, artifacts):
    old, new = artifacts
    client = client_for(manager, enforce_csrf_checks=True)
    assert client.post(_url(project, "training_artifact_current", new)).status_code == 403
    assert ModelArtifact.objects.get(is_current=True) == old


def test_it_streams_the_model_directory_as_a_tar_gz(project, manager, artifacts, model_dir):
    _, new = artifacts
    response = client_for(manager).get(_url(project, "training_artifact_download", new))

    assert response.status_code == 200 and response.streaming
    name = f"{project.slug}-reward-{new.pk}"
    assert response["Content-Disposition"] == f'attachment; filename="{name}.tar.gz"'
    data = b"".join(response.streaming_content)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        names = archive.getnames()
        weights = archive.extractfile(f"{name}/model.safetensors").read()
        empty = archive.extractfile(f"{name}/nested/empty.txt").read()
    assert sorted(names) == [
        name,
        f"{name}/config.json",
        f"{name}/model.safetensors",
        f"{name}/nested",
        f"{name}/nested/empty.txt",
    ]
    assert weights == (model_dir / "model.safetensors").read_bytes() and empty == b""


def test_it_answers_404_for_a_download_whose_directory_is_gone(project, manager, tmp_path):
    artifact = make_artifact(make_run(project, status="succeeded"), tmp_path / "gone")
    response = client_for(manager).get(_url(project, "training_artifact_download", artifact))
    assert response.status_code == 404


@pytest.mark.training
def test_it_lets_a_policy_answer_and_a_reward_model_score(project, manager, tiny_models):
    policy = make_artifact(make_run(project, kind="sft", status="succeeded"), tiny_models["policy"])
    reward = make_artifact(make_run(project, status="succeeded"), tiny_models["reward"])
    client = client_for(manager)

    answer = client.post(
        _url(project, "training_artifact_try", policy),
        {"prompt": "How are you?"},
        HTTP_HX_REQUEST="true",
    )
    scored = client.post(
        _url(project, "training_artifact_try", reward),
        {"prompt": "How are you?", "response_a": "Fine, thanks.", "response_b": "No."},
        HTTP_HX_REQUEST="true",
    )

    assert answer.status_code == 200
    assert isinstance(answer.context["generated"], str)
    assert 'class="markdown"' in answer.content.decode()  # model text goes through the filter
    assert scored.status_code == 200
    scores = scored.context["scores"]
    assert 0 < scores["p_a_preferred"] < 1
    assert f"{scores['p_a_preferred']:.3f}" in scored.content.decode()


def _lora_artifact(project, base, target, *, reward):
    """A LoRA artifact as a run leaves it: adapters (and a trained score head) + tokenizer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from training.ml import adapters

    loader = adapters.load_reward_model if reward else adapters.load_policy
    task = adapters.SEQ_CLS if reward else adapters.CAUSAL_LM
    lora = LoraConfig(r=2, target_modules="all-linear", task_type=task, init_lora_weights=False)
    get_peft_model(loader(base), lora).save_pretrained(target)
    AutoTokenizer.from_pretrained(base).save_pretrained(target)
    return make_artifact(
        make_run(project, kind="reward" if reward else "dpo", status="succeeded"), target
    )


@pytest.mark.training
def test_it_tries_lora_artifacts_on_their_base_models(project, manager, tiny_models, tmp_path):
    policy = _lora_artifact(project, tiny_models["policy"], tmp_path / "p", reward=False)
    reward = _lora_artifact(project, tiny_models["reward"], tmp_path / "r", reward=True)
    client = client_for(manager)

    answer = client.post(
        _url(project, "training_artifact_try", policy), {"prompt": "Hi?"}, HTTP_HX_REQUEST="true"
    )
    scored = client.post(
        _url(project, "training_artifact_try", reward),
        {"prompt": "Hi?", "response_a": "Fine, thanks.", "response_b": "No."},
        HTTP_HX_REQUEST="true",
    )

    assert answer.status_code == 200 and isinstance(answer.context["generated"], str)
    assert scored.status_code == 200 and 0 < scored.context["scores"]["p_a_preferred"] < 1


def test_it_refuses_to_try_a_model_too_large_for_the_web_process(
    project, manager, artifacts, settings
):
    settings.PREFAPP_TRY_MAX_BYTES = 1000
    _, new = artifacts
    response = client_for(manager).post(
        _url(project, "training_artifact_try", new),
        {"prompt": "Hi", "response_a": "a", "response_b": "b"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "the dashboard tries models up to 0 MiB" in response.content.decode()


def test_it_is_for_the_projects_managers_only(project, artifacts):
    old, new = artifacts
    assert_managers_only(
        project,
        ("get", _url(project)),
        ("post", _url(project, "training_artifact_current", new), {}),
        ("get", _url(project, "training_artifact_download", new)),
        ("post", _url(project, "training_artifact_try", new), {"prompt": "Hi"}),
    )
    assert ModelArtifact.objects.get(is_current=True) == old
