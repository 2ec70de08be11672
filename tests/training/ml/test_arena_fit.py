"""The Bradley–Terry fit (training/ml/arena.py) on synthetic battles with known strengths."""

import math

import numpy as np
from sklearn.linear_model import LogisticRegression

from training.ml.arena import (
    A_WINS,
    B_WINS,
    BOTH_BAD,
    TIE,
    BattleCounter,
    battle_counts,
    fit_ratings,
    leaderboard,
)

TRUE = np.array([-150.0, -50.0, 0.0, 60.0, 180.0])  # Elo scale, mean 0 + 1000 below


def _synthetic(seed: int, battles: int = 3000, models: np.ndarray = TRUE):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(models), battles)
    b = (a + rng.integers(1, len(models), battles)) % len(models)  # never a model against itself
    p_a = 1 / (1 + 10 ** ((models[b] - models[a]) / 400))
    outcome = np.where(rng.random(battles) < p_a, A_WINS, B_WINS)
    counter = BattleCounter()
    for index in range(len(models)):
        counter.model_index(f"m{index}")
    counter.add_arrays(a, b, outcome)
    return counter.counts(), a, b, outcome


def test_it_finds_the_true_order():
    counts, *_ = _synthetic(seed=1)
    board = leaderboard(counts, resamples=50, seed=1)
    assert [row["model"] for row in board["rows"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert all(row["lower"] <= row["rating"] <= row["upper"] for row in board["rows"])
    assert sum(row["battles"] for row in board["rows"]) == 2 * 3000


def test_it_covers_the_true_differences_in_most_repetitions():
    """95 % intervals of each model's rating relative to the mean should cover the truth in
    about 95 % of repetitions; a loose bound keeps the test stable (bench/arena_fit.py prints
    the coverage over more repetitions)."""
    covered = total = 0
    centred = TRUE - TRUE.mean() + 1000
    for seed in range(12):
        counts, *_ = _synthetic(seed=100 + seed, battles=1500)
        ratings = fit_ratings(counts, resamples=100, seed=seed)
        covered += int(((ratings.lower <= centred) & (centred <= ratings.upper)).sum())
        total += len(TRUE)
    assert covered / total >= 0.8


def test_it_equals_a_direct_logistic_regression_on_every_battle():
    """Counting battles into cells changes nothing: the same fit, one row per battle, as
    FastChat's compute_mle_elo builds it (ties: a win and a loss of half weight)."""
    rng = np.random.default_rng(5)
    battles = [
        (f"m{a}", f"m{b}", int(rng.choice([A_WINS, B_WINS, TIE, BOTH_BAD])))
        for a, b in rng.integers(0, 4, (400, 2))
        if a != b
    ]
    ours = fit_ratings(battle_counts(battles), resamples=0, both_bad="tie").ratings
    names = sorted({m for battle in battles for m in battle[:2]})
    index = {name: i for i, name in enumerate(battle_counts(battles).models)}
    x, y, weight = [], [], []
    for model_a, model_b, outcome in battles:
        row = np.zeros(len(names))
        row[index[model_a]], row[index[model_b]] = math.log(10), -math.log(10)
        share = {A_WINS: 1.0, B_WINS: 0.0}.get(outcome, 0.5)
        x += [row, row]
        y += [1, 0]
        weight += [share, 1 - share]
    direct = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=1000)
    direct.fit(np.array(x), np.array(y), sample_weight=np.array(weight))
    expected = 400 * direct.coef_[0]
    expected = expected - expected.mean() + 1000
    np.testing.assert_allclose(ours, expected, atol=0.05)


def test_it_leaves_both_bad_out_or_counts_it_as_a_tie():
    battles = [("x", "y", A_WINS)] * 6 + [("x", "y", B_WINS)] * 2 + [("y", "x", BOTH_BAD)] * 8
    counts = battle_counts(battles)
    left_out = leaderboard(counts, resamples=0)
    as_tie = leaderboard(counts, resamples=0, both_bad="tie")
    gap = {
        b["both_bad"]: b["rows"][0]["rating"] - b["rows"][1]["rating"] for b in (left_out, as_tie)
    }
    assert gap["exclude"] > gap["tie"] > 0
    assert left_out["win_rate"][0][1] == 0.75


def test_it_shows_a_length_bias_with_length_control():
    """Two equal models, but the longer answer wins: the plain fit favours the model that
    writes longer, the length-controlled one much less."""
    rng = np.random.default_rng(3)
    counter = BattleCounter()
    for _ in range(2000):
        long_a = rng.random() < 0.8  # "verbose" (as a) writes longer in 80 % of battles
        a_wins = rng.random() < (0.75 if long_a else 0.25)
        bins = (16, 4) if long_a else (4, 16)
        counter.add("verbose", "terse", A_WINS if a_wins else B_WINS, bins[0])
    board = leaderboard(counter.counts(), resamples=0, length_control=True)
    verbose = next(r for r in board["rows"] if r["model"] == "verbose")
    assert verbose["rating"] - 1000 > 40
    assert abs(verbose["rating_lc"] - 1000) < verbose["rating"] - 1000
    assert board["length_coef"] > 0
