"""Generation jobs without a worker: what `generation_launch` accepts and refuses, the prompt sets,
and how a job's samples become candidates and pairs (`generation_ingest`, the pairing rules)."""

import json

import pytest
from django.db import transaction

from labeling.models import Candidate, Choice, Judgment, Pair
from tests.factories import CandidateFactory, PromptFactory
from tests.training.dashboard import fake_model_dir
from training.ml.artifact import SAMPLES_FILE
from training.models import TrainingRun
from training.selectors_generation import generation_outputs, prompts_for_set
from training.services.generation import generation_ingest, generation_launch
from training.services.runs import TrainingRefused

pytestmark = pytest.mark.django_db

SAMPLING = {"temperature": 0.9, "top_p": 0.95, "max_new_tokens": 16}


@pytest.fixture
def policy(tmp_path_factory) -> str:
    return str(fake_model_dir(tmp_path_factory.getbasetemp() / "gen-policy"))


def _launch(project, policy, **options) -> TrainingRun:
    arguments = {"prompt_set": "all", "k": 2, "sampling": SAMPLING, "pairing": "all"}
    return generation_launch(project=project, policy=policy, **{**arguments, **options})


def _ingest(run: TrainingRun, samples: dict[int, list[str]]) -> dict[str, int]:
    """As the worker does once the child succeeded: its samples file, then the ingest."""
    run.output_dir.mkdir(parents=True, exist_ok=True)
    rows = [
        {"prompt_id": pk, "index": i, "text": text, "finished": True, "tokens": 3}
        for pk, texts in samples.items()
        for i, text in enumerate(texts)
    ]
    (run.output_dir / SAMPLES_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with transaction.atomic():
        return generation_ingest(run=run)


def _pairs_of(candidates: list[Candidate]) -> set[frozenset[int]]:
    ids = {c.pk for c in candidates}
    return {
        frozenset((p.candidate_a_id, p.candidate_b_id))
        for p in Pair.objects.all()
        if p.candidate_a_id in ids or p.candidate_b_id in ids
    }


def test_it_queues_a_generate_run_with_its_settings_and_no_snapshot(
    project, manager, policy, data_dir, django_capture_on_commit_callbacks
):
    PromptFactory(project=project)
    with django_capture_on_commit_callbacks() as callbacks:
        run = _launch(project, policy, k=3, seed=7, user=manager)

    assert len(callbacks) == 1  # queued once committed
    assert (run.kind, run.status, run.snapshot, run.created_by) == (
        "generate",
        "queued",
        None,
        manager,
    )
    assert run.base_model == policy
    assert {"prompt_set": "all", "k": 3, "seed": 7, "pairing": "all"}.items() <= run.config.items()
    assert run.config["temperature"] == 0.9 and run.config["top_k"] == 0  # the default


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt_set": "prompts:999999"}, "prompt_set: project .* has no prompt 999999"),
        ({"prompt_set": "heldout"}, "prompt_set: no prompts in 'heldout'"),
        ({"prompt_set": "batch:1"}, "prompt_set: imports record no batch"),
        ({"k": 0}, "k: must be >= 1"),
        ({"pairing": "random"}, "pairing: must be one of"),
        ({"sampling": {"temperature": -1}}, "temperature: must be >= 0"),
        ({"sampling": {"tempreature": 1}}, "tempreature: unknown field"),
        ({"sampling": {"k": 4}}, "sampling: k are arguments of their own"),
        ({"policy": "/etc"}, "base: not a model this project can use"),
    ],
)
def test_it_refuses_bad_input_naming_it_and_writes_nothing(project, policy, options, message):
    PromptFactory(project=project)
    with pytest.raises(TrainingRefused, match=message):
        _launch(project, options.pop("policy", policy), **options)
    assert not TrainingRun.objects.exists()


def test_it_chooses_the_prompts_of_each_set(project):
    answered, open_, heldout = (PromptFactory(project=project) for _ in range(3))
    CandidateFactory.create_batch(2, prompt=answered)
    CandidateFactory(prompt=open_)
    heldout.heldout = True
    heldout.save()
    PromptFactory()  # another project's

    def chosen(prompt_set: str, k: int = 2) -> list[int]:
        return list(
            prompts_for_set(project=project, prompt_set=prompt_set, k=k).values_list(
                "pk", flat=True
            )
        )

    assert chosen("all") == [answered.pk, open_.pk]
    assert chosen("fewer_than_k") == [open_.pk]
    assert chosen("fewer_than_k", k=3) == [answered.pk, open_.pk]
    assert chosen("heldout") == [heldout.pk]
    assert chosen(f"prompts:{heldout.pk},{answered.pk}") == [answered.pk, heldout.pk]


def test_it_adds_the_answers_as_candidates_and_pairs_them_all_dropping_empty_and_duplicates(
    project, policy, data_dir
):
    known, fresh = PromptFactory(project=project), PromptFactory(project=project)
    CandidateFactory(prompt=known, text="Paris.")
    run = _launch(project, policy, k=5, seed=3)

    counts = _ingest(
        run,
        {
            known.pk: ["Lyon.", " ", "Paris.", "Nice.", "Lyon."],
            fresh.pk: ["one", "two", "three", "four", "five"],
        },
    )

    assert counts == {
        "samples": 10,
        "candidates_added": 7,
        "pairs_added": 1 + 6,  # all pairs of two; a capped sample of the ten pairs of five
        "dropped_empty": 1,
        "dropped_duplicate": 2,
        "dropped_prompt_gone": 0,
    }
    run.refresh_from_db()
    assert counts.items() <= run.final_metrics.items()
    added = generation_outputs(run)
    assert [c.text for c in added] == ["Lyon.", "Nice.", "one", "two", "three", "four", "five"]
    for candidate in added:
        assert "gen-policy" in candidate.source  # the policy it came from
        assert "temperature=0.9 top_p=0.95 top_k=0 max_new_tokens=16 seed=3" in candidate.source
        assert candidate.metadata["generation_run"] == run.pk
        assert candidate.metadata["sampling"]["temperature"] == 0.9
    fresh_ids = {c.pk for c in added if c.prompt_id == fresh.pk}
    fresh_pairs = {pair for pair in _pairs_of(added) if pair <= fresh_ids}
    assert len(fresh_pairs) == 6 and set().union(*fresh_pairs) == fresh_ids
    assert all(p.prompt_id == p.candidate_a.prompt_id for p in Pair.objects.all())


def test_it_adds_nothing_twice(project, policy, data_dir):
    prompt = PromptFactory(project=project)
    first, again = _launch(project, policy), _launch(project, policy)
    _ingest(first, {prompt.pk: ["yes", "no"]})
    before = (Candidate.objects.count(), Pair.objects.count())

    counts = _ingest(again, {prompt.pk: ["yes", "no"]})  # the same job and seed: the same answers

    assert (counts["candidates_added"], counts["pairs_added"], counts["dropped_duplicate"]) == (
        0,
        0,
        2,
    )
    assert (Candidate.objects.count(), Pair.objects.count()) == before


def test_it_pairs_each_answer_with_the_previous_policys_answer_else_the_reference(
    project, policy, data_dir
):
    imported, generated = PromptFactory(project=project), PromptFactory(project=project)
    reference = CandidateFactory(prompt=imported, text="reference")
    CandidateFactory(prompt=imported, text="second import")
    CandidateFactory(prompt=generated, text="imported")
    earlier = _launch(project, policy, prompt_set=f"prompts:{generated.pk}", k=1)
    _ingest(earlier, {generated.pk: ["old policy"]})
    [previous] = generation_outputs(earlier)

    run = _launch(project, policy, pairing="previous")
    counts = _ingest(run, {imported.pk: ["a", "b"], generated.pk: ["c", "d"]})

    assert counts["pairs_added"] == 4
    for candidate in generation_outputs(run):
        anchor = reference if candidate.prompt_id == imported.pk else previous
        assert frozenset((anchor.pk, candidate.pk)) in _pairs_of([candidate])


def test_it_pairs_each_answer_with_the_best_answer_by_stored_score_else_by_judgments(
    project, policy, data_dir
):
    scored, judged = PromptFactory(project=project), PromptFactory(project=project)
    CandidateFactory(prompt=scored, metadata={"reward_score": 0.1})
    top = CandidateFactory(prompt=scored, metadata={"reward_score": 2.5})
    CandidateFactory(prompt=scored)
    loser, winner = CandidateFactory(prompt=judged), CandidateFactory(prompt=judged)
    pair = Pair.objects.create(
        project=project, prompt=judged, candidate_a=loser, candidate_b=winner
    )
    Judgment.objects.create(project=project, pair=pair, choice=Choice.B, source="imported")

    run = _launch(project, policy, pairing="best")
    _ingest(run, {scored.pk: ["x"], judged.pk: ["y"]})

    best = {scored.pk: top, judged.pk: winner}
    for candidate in generation_outputs(run):
        assert _pairs_of([candidate]) == {frozenset((best[candidate.prompt_id].pk, candidate.pk))}


def _finished_child(run: TrainingRun, samples: dict[int, list[str]] | str) -> None:
    """The run as the worker holds it once its child exited 0 with these samples."""
    assert run.mark_running(hostname="celery@here", pid=1)
    run.output_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(samples, str):
        text = samples
    else:
        text = "".join(
            json.dumps({"prompt_id": pk, "index": i, "text": t, "finished": True}) + "\n"
            for pk, texts in samples.items()
            for i, t in enumerate(texts)
        )
    (run.output_dir / SAMPLES_FILE).write_text(text)


def test_it_adds_nothing_for_a_job_cancelled_after_its_child_ended(project, policy, data_dir):
    from training.services.execution import _succeed

    prompt = PromptFactory(project=project)
    run = _launch(project, policy)
    _finished_child(run, {prompt.pk: ["yes", "no"]})
    TrainingRun.objects.get(pk=run.pk).mark_cancelled()  # the manager, meanwhile

    _succeed(run, {"samples": 2})

    assert TrainingRun.objects.get(pk=run.pk).status == "cancelled"
    assert not Candidate.objects.exists() and not Pair.objects.exists()


def test_it_adds_nothing_and_stays_unsucceeded_when_the_ingest_fails(project, policy, data_dir):
    from training.services.execution import _succeed

    prompt = PromptFactory(project=project)
    run = _launch(project, policy)
    good = json.dumps({"prompt_id": prompt.pk, "index": 0, "text": "yes", "finished": True})
    _finished_child(run, good + "\nnot json\n")

    with pytest.raises(ValueError):
        _succeed(run, {"samples": 2})

    assert TrainingRun.objects.get(pk=run.pk).status == "running"  # run_execute then fails it
    assert not Candidate.objects.exists() and not Pair.objects.exists()
