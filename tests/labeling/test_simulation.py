"""Simulated annotators label through the same leases and judgments as people."""

import json
import random
import threading
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from labeling.models import Candidate, Judgment, Pair, Project
from labeling.selectors_quality import project_quality
from labeling.services.simulation import SimulationRefused, annotators_simulate, simulation_run
from tests.factories import PromptFactory
from training.ml import toy


def toy_pairs(project: Project, count: int, seed: int = 0) -> list[Pair]:
    """Pairs of toy-task answers with different oracle scores (so the oracle never ties)."""
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < count:
        text = toy.make_prompt(rng)
        a, b = toy.make_answer(rng, text), toy.make_answer(rng, text)
        if toy.oracle_prefers(text, a, b) == "tie":
            continue
        prompt = PromptFactory(project=project, messages=[{"role": "user", "content": text}])
        first, second = (Candidate.objects.create(prompt=prompt, text=t) for t in (a, b))
        pairs.append(
            Pair.objects.create(
                project=project, prompt=prompt, candidate_a=first, candidate_b=second
            )
        )
    return pairs


def oracle_choice(judgment: Judgment) -> str:
    pair = judgment.pair
    return toy.oracle_prefers(
        pair.prompt.messages[0]["content"], pair.candidate_a.text, pair.candidate_b.text
    )


@pytest.mark.django_db
def test_it_labels_every_open_slot_as_the_oracle_says(project):
    project.overlap = 2
    project.save()
    toy_pairs(project, 12)
    result = annotators_simulate(project=project, oracle=toy.oracle_prefers, annotators=3, seed=1)
    judgments = list(Judgment.objects.filter(project=project).select_related("pair__prompt"))
    assert result.judgments == len(judgments) == 12 * 2
    assert {j.source for j in judgments} == {Judgment.Source.SIMULATED}
    assert all(j.choice == oracle_choice(j) for j in judgments)
    assert max(Counter(j.pair_id for j in judgments).values()) == 2
    assert len({(j.pair_id, j.annotator_id) for j in judgments}) == len(judgments)
    assert sorted(result.per_annotator) == [f"sim-{project.slug}-{n}" for n in (1, 2, 3)]


@pytest.mark.django_db
def test_it_makes_the_mistakes_it_is_told_to(project):
    project.overlap = 3
    project.save()
    toy_pairs(project, 200, seed=2)
    annotators_simulate(project=project, oracle=toy.oracle_prefers, annotators=3, noise=0.2, seed=3)
    judgments = list(Judgment.objects.filter(project=project).select_related("pair__prompt"))
    wrong = sum(j.choice != oracle_choice(j) for j in judgments) / len(judgments)
    assert 0.15 < wrong < 0.25

    other = PromptFactory().project
    toy_pairs(other, 200, seed=4)
    annotators_simulate(project=other, oracle=toy.oracle_prefers, annotators=1, left_bias=0.5)
    left = Judgment.objects.filter(project=other)
    picked_left = sum(j.choice == ("a" if j.left_is_a else "b") for j in left) / left.count()
    assert picked_left > 0.65  # half by bias, half of the rest by the oracle


@pytest.mark.django_db
def test_it_stops_at_the_budget(project):
    project.overlap = 3
    project.save()
    toy_pairs(project, 10)
    result = annotators_simulate(project=project, oracle=toy.oracle_prefers, budget=7)
    assert result.judgments == 7 == Judgment.objects.filter(project=project).count()


@pytest.mark.django_db
def test_it_leaves_simulated_judgments_out_of_quality_about_people(project, annotator):
    toy_pairs(project, 5)
    annotators_simulate(project=project, oracle=toy.oracle_prefers, annotators=2)
    quality = project_quality(project=project)
    assert quality.judgments == 0
    assert quality.annotators == []


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_never_exceeds_overlap_when_simulations_run_at_once(project):
    if connection.vendor != "postgresql":
        pytest.skip("threads sharing a database need PostgreSQL")
    project.overlap = 2
    project.save()
    toy_pairs(project, 40)
    errors: list[BaseException] = []

    def simulate(seed: int) -> None:
        try:
            # The same simulated people in every thread: two threads act for one person.
            annotators_simulate(project=project, oracle=toy.oracle_prefers, annotators=3, seed=seed)
        except BaseException as error:  # reported below, after the threads end
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=simulate, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    judgments = Judgment.objects.filter(project=project)
    per_pair = Counter(judgments.values_list("pair_id", flat=True))
    assert max(per_pair.values()) == 2 and len(per_pair) == 40
    per_person = Counter(judgments.values_list("pair_id", "annotator_id"))
    assert max(per_person.values()) == 1


@pytest.mark.django_db
def test_the_command_labels_with_an_oracle_or_a_labels_file(project, tmp_path, capsys):
    project.overlap = 2
    project.save()
    pairs = toy_pairs(project, 4)
    call_command(
        "simulate_annotators",
        "--project",
        project.slug,
        "--annotators",
        "1",
        "--oracle",
        "training.ml.toy:oracle_prefers",
    )
    assert "4 judgments by 1 simulated annotators" in capsys.readouterr().out

    labels = tmp_path / "labels.jsonl"
    rows = []
    for pair in pairs:
        text = pair.prompt.messages[0]["content"]
        a, b = pair.candidate_a.text, pair.candidate_b.text
        chosen, rejected = (a, b) if toy.oracle_prefers(text, a, b) == "a" else (b, a)
        rows.append(json.dumps({"prompt": text, "chosen": chosen, "rejected": rejected}))
    labels.write_text("\n".join(rows))
    call_command(
        "simulate_annotators",
        "--project",
        project.slug,
        "--annotators",
        "2",
        "--labels",
        str(labels),
    )
    second = Judgment.objects.filter(project=project, annotator__username__endswith="-2")
    assert second.count() == 4
    assert all(j.choice == oracle_choice(j) for j in second.select_related("pair__prompt"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--oracle", "no_such_module:f"], "No module named 'no_such_module'"),
        (["--oracle", "training.ml.toy"], "expected module:function"),
        (["--oracle", "training.ml.toy:nothing"], "has no attribute 'nothing'"),
        (["--labels", "/nonexistent.jsonl"], "No such file"),
    ],
)
def test_the_command_names_a_bad_oracle(project, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("simulate_annotators", "--project", project.slug, *options)
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_it_imports_only_an_allowed_oracle_when_a_task_names_one(project, settings):
    settings.PREFAPP_SIMULATION_ORACLES = ["training.ml.toy:oracle_prefers"]
    toy_pairs(project, 3)
    with pytest.raises(SimulationRefused, match="oracle: 'os:getcwd' is not one of"):
        simulation_run(project_id=project.pk, oracle="os:getcwd", annotators=1, noise=0.0, budget=2)
    assert not Judgment.objects.exists()
    made = simulation_run(
        project_id=project.pk,
        oracle="training.ml.toy:oracle_prefers",
        annotators=1,
        noise=0.0,
        budget=2,
    )
    assert made == Judgment.objects.count() == 2
