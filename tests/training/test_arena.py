"""Arena services and reads: battles from an imported Chatbot Arena file, contenders from a
file, battle sampling, the fit job, and the battles exported in the import's format."""

import io
import json
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labeling.models import Judgment, Pair
from labeling.services.importing import data_import
from tests.factories import PromptFactory
from training.models import ArenaFit
from training.selectors_arena import arena_battle_counts, arena_battle_records
from training.services.arena import (
    ArenaRefused,
    arena_battles_make,
    arena_contender_import,
    arena_fit_run,
    arena_set,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def _battles(count: int = 120) -> list[dict]:
    rng = np.random.default_rng(7)
    strength = {"alpha": 1.0, "beta": 0.3, "gamma": 0.0}
    names = list(strength)
    rows = []
    for index in range(count):
        a, b = rng.choice(3, 2, replace=False)
        p = 1 / (1 + math.exp(strength[names[b]] - strength[names[a]]))
        winner = "model_a" if rng.random() < p else "model_b"
        if rng.random() < 0.15:
            winner = WINNERS[2 + index % 2]
        question = [{"role": "user", "content": f"Question {index}?"}]
        rows.append(
            {
                "question_id": f"q{index}",
                "model_a": names[a],
                "model_b": names[b],
                "winner": winner,
                "conversation_a": [*question, {"role": "assistant", "content": f"A{index}"}],
                "conversation_b": [*question, {"role": "assistant", "content": f"B{index}"}],
            }
        )
    return rows


def _import(project, rows) -> None:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    data_import(
        project=project, fileobj=io.BytesIO(text.encode()), filename="b.jsonl", format="arena"
    )


def _direct_fit(rows: list[dict]) -> dict[str, float]:
    """The same battles, one regression row per battle, fitted by scikit-learn directly."""
    names = sorted({row["model_a"] for row in rows} | {row["model_b"] for row in rows})
    x, y, weight = [], [], []
    for row in rows:
        if row["winner"] == "tie (bothbad)":
            continue  # left out by default
        features = np.zeros(len(names))
        features[names.index(row["model_a"])] = math.log(10)
        features[names.index(row["model_b"])] = -math.log(10)
        share = {"model_a": 1.0, "model_b": 0.0}.get(row["winner"], 0.5)
        x += [features, features]
        y += [1, 0]
        weight += [share, 1 - share]
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=1000)
    model.fit(np.array(x), np.array(y), sample_weight=np.array(weight))
    ratings = 400 * model.coef_[0]
    ratings = ratings - ratings.mean() + 1000
    return dict(zip(names, ratings, strict=True))


def test_it_fits_imported_arena_battles_as_a_direct_call_of_the_library(project, manager):
    rows = _battles()
    _import(project, rows)
    arena = arena_set(project=project, user=manager, reveal_sources=False, prompt_set="all")
    fit = ArenaFit.objects.create(arena=arena, resamples=20)
    assert arena_fit_run(fit_id=fit.pk) == ArenaFit.Status.SUCCEEDED
    fit.refresh_from_db()
    board = fit.leaderboard
    expected = _direct_fit(rows)
    # To the rounding the page shows (whole Elo points).
    assert {r["model"]: round(r["rating"]) for r in board["rows"]} == {
        name: round(value) for name, value in expected.items()
    }
    assert sum(r["battles"] for r in board["rows"]) == 2 * len(rows)
    assert fit.step == fit.total_steps == 20


def test_it_exports_battles_that_import_back_to_the_same_counts(project, manager, db):
    from tests.factories import ProjectFactory

    _import(project, _battles(40))
    arena = arena_set(project=project, user=manager, reveal_sources=False)
    exported = list(arena_battle_records(arena=arena))
    assert len(exported) == 40 and set(exported[0]) >= {"model_a", "winner", "conversation_a"}
    copy = ProjectFactory()
    _import(copy, exported)
    again = arena_set(project=copy, user=manager, reveal_sources=False)
    first, second = arena_battle_counts(arena=arena), arena_battle_counts(arena=again)
    assert first.battles == second.battles == 40
    assert sorted(zip(first.cells.tolist(), first.weights.tolist(), strict=True)) == sorted(
        zip(second.cells.tolist(), second.weights.tolist(), strict=True)
    )


def test_it_makes_battles_between_imported_contenders_within_the_budget(project, manager):
    prompts = [PromptFactory(project=project) for _ in range(4)]
    arena = arena_set(
        project=project, user=manager, reveal_sources=True, prompt_set="all", battle_budget=10
    )
    for name in ("one", "two", "three"):
        lines = [json.dumps({"prompt": p.external_id, "answer": f"{name} {p.pk}"}) for p in prompts]
        arena_contender_import(arena=arena, name=name, lines=lines)
    assert arena_battles_make(arena=arena, count=100) == 10  # the budget, of 12 possible
    pairs = Pair.objects.filter(project=project).select_related("candidate_a", "candidate_b")
    assert {p.candidate_a.source != p.candidate_b.source for p in pairs} == {True}
    assert arena_battles_make(arena=arena, count=100) == 0


def test_it_refuses_an_answers_file_with_a_bad_line_and_writes_nothing(project, manager):
    prompt = PromptFactory(project=project)
    arena = arena_set(project=project, user=manager, reveal_sources=False, prompt_set="all")
    lines = [json.dumps({"prompt": prompt.external_id, "answer": "ok"}), '{"prompt": "nope"}']
    with pytest.raises(ArenaRefused, match="line 2: answer"):
        arena_contender_import(arena=arena, name="x", lines=lines)
    assert not arena.contenders.exists() and prompt.candidates.count() == 0


def test_it_fails_a_fit_without_battles_with_its_reason(project, manager):
    arena = arena_set(project=project, user=manager, reveal_sources=False)
    fit = ArenaFit.objects.create(arena=arena, resamples=5)
    assert arena_fit_run(fit_id=fit.pk) == ArenaFit.Status.FAILED
    fit.refresh_from_db()
    assert "no judged battles" in fit.error
    assert Judgment.objects.count() == 0


def test_it_draws_adaptive_battles_where_the_difference_is_least_certain(project, manager):
    prompts = [PromptFactory(project=project) for _ in range(12)]
    arena = arena_set(
        project=project,
        user=manager,
        reveal_sources=False,
        prompt_set="all",
        battle_budget=8,
        sampling="adaptive",
    )
    for name in ("x", "y", "z"):
        lines = [json.dumps({"prompt": p.external_id, "answer": f"{name} {p.pk}"}) for p in prompts]
        arena_contender_import(arena=arena, name=name, lines=lines)
    # The last fit: x - y is known to ±1, the pairs with z to ±100.
    sd = [[0, 1, 100], [1, 0, 100], [100, 100, 0]]
    ArenaFit.objects.create(
        arena=arena,
        status=ArenaFit.Status.SUCCEEDED,
        leaderboard={"models": ["x", "y", "z"], "difference_sd": sd, "rows": []},
    )
    assert arena_battles_make(arena=arena, count=8) == 8
    sources = Pair.objects.filter(project=project).values_list(
        "candidate_a__source", "candidate_b__source"
    )
    with_z = sum("z" in pair for pair in sources)
    assert with_z >= 7  # x-y drawn with probability 1/201 a battle


def test_it_counts_judged_pairs_of_known_sources_in_extra_projects(project, manager, db):
    from tests.factories import MembershipFactory, ProjectFactory

    other = ProjectFactory()
    MembershipFactory(project=other, user=manager, role="manager")
    _import(other, _battles(10))
    unmanaged = ProjectFactory()
    arena = arena_set(project=project, user=manager, reveal_sources=False, extra_projects=[other])
    assert arena_battle_counts(arena=arena).battles == 10
    with pytest.raises(ArenaRefused, match="you do not manage"):
        arena_set(project=project, user=manager, reveal_sources=False, extra_projects=[unmanaged])
