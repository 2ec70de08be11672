"""Scoring runs: a reward model scores the open pairs, the strategy orders the queue.

The end-to-end test runs a real Celery worker on tiny real models (PostgreSQL and Redis); the
others run anywhere.
"""

import json

import pytest
from django.urls import reverse

from labeling.models import Candidate, Pair
from labeling.services.assignment import assignment_next
from labeling.services.selection import p_a_preferred
from tests.conftest import assert_managers_only, client_for
from tests.factories import PromptFactory, UserFactory
from tests.training.conftest import judge_pairs, wait_for_run
from training.ml.score import SCORES_FILE
from training.models import TrainingRun
from training.services.runs import TrainingRefused, run_create
from training.services.scoring import scoring_launch

REWARD = {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64}
ANSWERS = ["Fine, thanks.", "No.", "I am glad to help: all is well.", "Maybe.", "Yes!", "Ok"]


def _open_pairs(project, count: int) -> list[Pair]:
    pairs = []
    for i in range(count):
        prompt = PromptFactory(project=project, messages=[{"role": "user", "content": f"Q{i}?"}])
        a = Candidate.objects.create(prompt=prompt, text=ANSWERS[i % len(ANSWERS)])
        b = Candidate.objects.create(prompt=prompt, text=ANSWERS[(i + 2) % len(ANSWERS)])
        pairs.append(
            Pair.objects.create(project=project, prompt=prompt, candidate_a=a, candidate_b=b)
        )
    return pairs


@pytest.mark.training
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_scores_the_open_pairs_after_a_reward_run_and_the_queue_serves_them_in_order(
    celery_worker, worker_settings, project, tiny_models
):
    judge_pairs(project, pairs=8)
    project.selection_strategy = "uncertainty"  # score_after_reward "auto": on
    project.save()
    pairs = _open_pairs(project, 12)

    reward_run = run_create(
        project=project,
        kind="reward",
        base=str(tiny_models["reward"]),
        config_values=REWARD,
        created_by=None,
    )
    reward_run = wait_for_run(reward_run, ("succeeded", "failed", "cancelled"))
    assert reward_run.status == "succeeded", reward_run.error
    score_run = wait_for_run(
        TrainingRun.objects.get(project=project, kind="score"), ("succeeded", "failed", "cancelled")
    )

    assert score_run.status == "succeeded", f"{score_run.error}\n{score_run.log_tail}"
    assert score_run.snapshot_id is None and score_run.base_artifact_id == reward_run.artifact.pk
    assert score_run.total_steps == score_run.step == 1
    assert score_run.final_metrics["pairs_scored"] == 12
    lines = (score_run.output_dir / SCORES_FILE).read_text().splitlines()
    scores = {row["id"]: row for row in map(json.loads, lines)}
    assert set(scores) == {p.pk for p in pairs}  # the open pairs, not the judged ones

    stored = {p.pk: p for p in Pair.objects.filter(pk__in=scores)}
    for pair_id, row in scores.items():
        assert stored[pair_id].predicted_margin == pytest.approx(row["score_a"] - row["score_b"])
        assert stored[pair_id].predicted_p_a == pytest.approx(p_a_preferred(row["margin"]))
        assert stored[pair_id].scored_at is not None
    expected = sorted(scores, key=lambda pk: (abs(scores[pk]["margin"]), pk))
    served = [
        assignment_next(project=project, annotator=UserFactory(username=f"r{n}")).pair_id
        for n in range(len(expected))
    ]
    assert served == expected


@pytest.mark.django_db
def test_it_refuses_to_score_without_a_reward_model_and_writes_nothing(project):
    with pytest.raises(TrainingRefused, match="reward: the project has no current reward model"):
        scoring_launch(project=project)
    with pytest.raises(TrainingRefused, match="base: not a model this project can use"):
        scoring_launch(project=project, reward="/etc")
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_it_queues_a_scoring_run_without_a_snapshot_and_shows_it(
    project, manager, tmp_path, data_dir, django_capture_on_commit_callbacks
):
    from tests.training.dashboard import fake_model_dir

    reward = fake_model_dir(tmp_path / "rm")
    with django_capture_on_commit_callbacks():
        run = scoring_launch(project=project, reward=str(reward), config_values={"batch_size": 4})
    assert (run.kind, run.snapshot_id, run.config["batch_size"]) == ("score", None, 4)
    assert run.output_dir == run.directory / "scores"
    client = client_for(manager)
    page = client.get(reverse("training_run", args=[project.slug, run.pk])).content.decode()
    assert "the project's open pairs when the run started" in page
    listing = client.get(reverse("training_runs", args=[project.slug])).content.decode()
    assert "Scoring of open pairs" in listing and "open pairs</small>" in listing


@pytest.mark.django_db
def test_it_offers_scoring_on_the_overview_and_says_why_it_cannot(project, manager):
    client = client_for(manager)
    page = client.get(reverse("training_overview", args=[project.slug])).content.decode()
    assert 'id="queue-order"' in page and 'id="score-now"' in page
    assert 'id="train-score"' not in page  # no training form for a scoring run
    response = client.post(reverse("training_score", args=[project.slug]), follow=True)
    assert "the project has no current reward model" in response.content.decode()
    assert not TrainingRun.objects.exists()
    assert_managers_only(project, ("post", reverse("training_score", args=[project.slug]), {}))


@pytest.mark.django_db
def test_it_ingests_a_running_runs_scores_and_nothing_once_it_is_cancelled(
    project, tmp_path, data_dir, django_capture_on_commit_callbacks
):
    from tests.factories import make_pairs
    from tests.training.dashboard import fake_model_dir
    from training.services.scoring import scores_ingest

    project.selection_strategy = "large-margin"
    project.save()
    pairs = make_pairs(project, 3)
    reward = fake_model_dir(tmp_path / "rm")
    runs = []
    for _ in range(2):
        with django_capture_on_commit_callbacks():
            run = scoring_launch(project=project, reward=str(reward))
        run.mark_running(hostname="here", pid=1)
        run.output_dir.mkdir(parents=True)
        lines = [
            json.dumps({"id": p.pk, "margin": m, "p_a": p_a_preferred(m)})
            for p, m in zip(pairs, (0.5, -3.0, 1.0), strict=True)
        ]
        (run.output_dir / SCORES_FILE).write_text("\n".join(lines) + "\n")
        runs.append(run)

    runs[0].mark_cancelled()
    assert scores_ingest(run=runs[0]) is False
    assert not Pair.objects.exclude(predicted_margin=None).exists()

    assert scores_ingest(run=runs[1]) is True
    order = list(Pair.objects.order_by("-priority", "id").values_list("pk", flat=True))
    assert order == [pairs[1].pk, pairs[2].pk, pairs[0].pk]
    runs[1].refresh_from_db()
    assert runs[1].heartbeat_at is not None
