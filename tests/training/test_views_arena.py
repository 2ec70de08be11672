"""The arena page: settings, contenders from a file, battles, the fit and the leaderboard
with its exports; managers only."""

import io
import json

import pytest
from django.urls import reverse

from labeling.models import Pair
from tests.conftest import assert_managers_only, client_for
from tests.factories import PromptFactory
from training.models import Arena, ArenaFit
from training.services.arena import arena_fit_run

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SETTINGS = {
    "prompt_set": "all",
    "battle_budget": "6",
    "sampling": "uniform",
    "both_bad": "exclude",
    "max_new_tokens": "16",
    "temperature": "0.7",
    "seed": "0",
    "reveal_sources": "on",
    "length_control": "on",
}


def _url(project, name="training_arena"):
    return reverse(name, args=[project.slug])


def test_it_is_for_managers_only(project):
    assert_managers_only(
        project,
        ("get", _url(project)),
        ("post", _url(project, "training_arena_settings"), SETTINGS),
        ("post", _url(project, "training_arena_fit"), {}),
        ("get", _url(project, "training_arena_csv")),
        ("get", _url(project, "training_arena_battles")),
    )


def test_it_refuses_a_post_without_csrf(project, manager):
    client = client_for(manager, enforce_csrf_checks=True)
    assert client.post(_url(project, "training_arena_settings"), SETTINGS).status_code == 403
    assert not Arena.objects.exists()


def test_it_builds_an_arena_from_files_and_shows_the_leaderboard(project, manager, annotator):
    client = client_for(manager)
    response = client.post(_url(project, "training_arena_settings"), SETTINGS)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.reveal_sources
    prompts = [PromptFactory(project=project) for _ in range(3)]
    for name in ("left-model", "right-model"):
        lines = "".join(
            json.dumps({"prompt": p.external_id, "answer": f"{name} says {p.pk}"}) + "\n"
            for p in prompts
        )
        upload = io.BytesIO(lines.encode())
        upload.name = f"{name}.jsonl"
        client.post(_url(project, "training_arena_contender"), {"name": name, "answers": upload})
    client.post(_url(project, "training_arena_generate"))
    assert Pair.objects.filter(project=project).count() == 3
    # An annotator votes (names revealed after each vote).
    voter = client_for(annotator)
    for _ in range(3):
        page = voter.get(reverse("label", args=[project.slug]))
        assignment = page.context["assignment"]
        side = "left" if assignment.left.source == "left-model" else "right"
        answer = voter.post(
            reverse("label_submit", args=[project.slug]),
            {"assignment_id": assignment.pk, "side": side},
            HTTP_HX_REQUEST="true",
        )
        assert b"Your last vote: left was" in answer.content
    client.post(_url(project, "training_arena_fit"))
    fit = ArenaFit.objects.get()
    arena_fit_run(fit_id=fit.pk)  # what the worker runs
    page = client.get(_url(project))
    body = page.content.decode()
    assert 'id="leaderboard"' in body and 'id="arena-plot"' in body
    assert "length-controlled rating" in body and "Length coefficient" in body
    rows = page.context["board"]["rows"]
    assert [r["model"] for r in rows] == ["left-model", "right-model"]
    assert [r["battles"] for r in rows] == [3, 3]
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in rows)
    csv_text = client.get(_url(project, "training_arena_csv")).content.decode()
    assert csv_text.splitlines()[1].startswith("1,left-model,")
    board = json.loads(client.get(_url(project, "training_arena_json")).content)
    assert board["rows"][0]["model"] == "left-model"
    battles = b"".join(client.get(_url(project, "training_arena_battles")).streaming_content)
    assert len(battles.splitlines()) == 3


def test_it_names_a_bad_answers_line(project, manager):
    client = client_for(manager)
    client.post(_url(project, "training_arena_settings"), SETTINGS)
    upload = io.BytesIO(b'{"prompt": "missing", "answer": "x"}\n')
    upload.name = "a.jsonl"
    response = client.post(
        _url(project, "training_arena_contender"), {"name": "m", "answers": upload}, follow=True
    )
    assert "line 1: prompt: no prompt &#x27;missing&#x27;" in response.content.decode()


def test_it_shows_a_policy_artifacts_arena_rating_on_the_artifact_page(project, manager, tmp_path):
    from tests.training.dashboard import make_artifact, make_run
    from training.models import ArenaContender
    from training.services.arena import arena_set

    artifact = make_artifact(make_run(project, kind="dpo", status="succeeded"), tmp_path)
    arena = arena_set(project=project, user=manager, reveal_sources=False)
    ArenaContender.objects.create(arena=arena, name="dpo-1", kind="artifact", artifact=artifact)
    row = {"rank": 1, "model": "dpo-1", "rating": 1012.4, "lower": 990.0, "upper": 1031.0}
    ArenaFit.objects.create(
        arena=arena, status="succeeded", leaderboard={"rows": [{**row, "battles": 7}]}
    )
    body = client_for(manager).get(reverse("training_artifacts", args=[project.slug]))
    assert "arena rating</span> 1012 (990–1031), rank 1 of 1, 7 battles" in body.content.decode()
