"""Bradley–Terry ratings of models from pairwise battles, on the Elo scale, with bootstrap
intervals (the method of Chatbot Arena's `compute_mle_elo`: a logistic regression without
intercept, ties half a win each way). Plain Python + numpy + scikit-learn, no Django: the
worker job (training/services/arena.py) and bench/arena_fit.py call it alike.

Memory stays bounded by the number of models, not battles: battles are first counted per
(model a, model b, outcome, length bin) cell (`BattleCounts`), the fit weighs each cell by its
count, and a bootstrap resample is a multinomial draw of the cells' counts (as FastChat's
`compute_bootstrap_bt` does), never a copy of the battles.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Outcomes, about model a: the codes FastChat's preprocessing uses, plus both-bad.
B_WINS, TIE, A_WINS, BOTH_BAD = 0, 1, 2, 3
OUTCOME_CODES = {"model_a": A_WINS, "model_b": B_WINS, "tie": TIE, "tie (bothbad)": BOTH_BAD}

SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0
# Length control: the normalised length difference (len_a - len_b) / (len_a + len_b), in
# [-1, 1], is counted in LENGTH_BINS bins and enters the fit as its bin's centre.
LENGTH_BINS = 21


def length_bin(length_a: int, length_b: int) -> int:
    """The bin of the normalised length difference of two responses (characters)."""
    difference = (length_a - length_b) / max(length_a + length_b, 1)
    return min(LENGTH_BINS - 1, int((difference + 1.0) / 2.0 * LENGTH_BINS))


def _bin_centres() -> np.ndarray:
    return (np.arange(LENGTH_BINS) + 0.5) / LENGTH_BINS * 2.0 - 1.0


@dataclass
class BattleCounts:
    """Battles counted per cell: `cells[i] = (a, b, outcome, length bin)` (indices into
    `models`) was seen `weights[i]` times."""

    models: list[str]
    cells: np.ndarray  # int64, shape (n, 4)
    weights: np.ndarray  # float64, shape (n,)

    @property
    def battles(self) -> int:
        return int(self.weights.sum())


class BattleCounter:
    """Adds battles one at a time (a database cursor's rows) or as arrays (a benchmark's
    million), keeping only the cells' counts."""

    def __init__(self) -> None:
        self.models: list[str] = []
        self._index: dict[str, int] = {}
        self._counts: dict[tuple[int, int, int, int], float] = {}

    def model_index(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self.models)
            self.models.append(name)
        return self._index[name]

    def add(
        self, model_a: str, model_b: str, outcome: int, bin: int = LENGTH_BINS // 2, n: float = 1
    ) -> None:
        if model_a == model_b:
            return  # a model against itself says nothing about its rating
        key = (self.model_index(model_a), self.model_index(model_b), outcome, bin)
        self._counts[key] = self._counts.get(key, 0) + n

    def add_arrays(
        self, a: np.ndarray, b: np.ndarray, outcome: np.ndarray, bins: np.ndarray | None = None
    ) -> None:
        """Battles given as model indices (into the models named so far) and outcome codes."""
        if bins is None:
            bins = np.full(len(a), LENGTH_BINS // 2)
        stacked = np.column_stack([a, b, outcome, bins]).astype(np.int64)
        stacked = stacked[stacked[:, 0] != stacked[:, 1]]
        cells, counts = np.unique(stacked, axis=0, return_counts=True)
        for cell, count in zip(cells.tolist(), counts.tolist(), strict=True):
            key = (cell[0], cell[1], cell[2], cell[3])
            self._counts[key] = self._counts.get(key, 0) + count

    def counts(self) -> BattleCounts:
        cells = np.array(list(self._counts), dtype=np.int64).reshape(-1, 4)
        weights = np.array(list(self._counts.values()), dtype=np.float64)
        return BattleCounts(models=list(self.models), cells=cells, weights=weights)


def battle_counts(
    battles: Iterable[tuple[str, str, int] | tuple[str, str, int, int]],
) -> BattleCounts:
    """Counts of (model a, model b, outcome[, length bin]) tuples."""
    counter = BattleCounter()
    for battle in battles:
        counter.add(*battle)
    return counter.counts()


@dataclass
class _Design:
    """The regression's rows: each (a, b, bin) group once as a win of a and once as a loss."""

    x: np.ndarray
    y: np.ndarray
    group: np.ndarray  # for each cell, its group's row
    wins: np.ndarray  # for each cell: what one battle of it adds to the "a wins" row
    losses: np.ndarray  # ... and to the "a loses" row
    groups: int


def _design(counts: BattleCounts, *, both_bad: str, length_control: bool) -> _Design:
    n_models = len(counts.models)
    outcome = counts.cells[:, 2]
    wins = np.select([outcome == A_WINS, outcome == TIE], [1.0, 0.5], 0.0)
    losses = np.select([outcome == B_WINS, outcome == TIE], [1.0, 0.5], 0.0)
    both_bad_share = 0.5 if both_bad == "tie" else 0.0
    wins = np.where(outcome == BOTH_BAD, both_bad_share, wins)
    losses = np.where(outcome == BOTH_BAD, both_bad_share, losses)
    keys = counts.cells[:, [0, 1, 3]] if length_control else counts.cells[:, [0, 1]]
    unique, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    x = np.zeros((len(unique), n_models + (1 if length_control else 0)))
    rows = np.arange(len(unique))
    x[rows, unique[:, 0]] = math.log(BASE)
    x[rows, unique[:, 1]] = -math.log(BASE)
    if length_control:
        x[:, n_models] = _bin_centres()[unique[:, 2]]
    y = np.concatenate([np.ones(len(unique)), np.zeros(len(unique))])
    return _Design(
        x=np.vstack([x, x]), y=y, group=group, wins=wins, losses=losses, groups=len(unique)
    )


def _regression() -> Any:
    from sklearn.linear_model import LogisticRegression

    # warm_start: a bootstrap resample starts from the previous fit, a few steps away.
    return LogisticRegression(
        fit_intercept=False, C=np.inf, tol=1e-8, max_iter=1000, warm_start=True
    )


def _fit(
    design: _Design, weights: np.ndarray, n_models: int, model: Any = None
) -> tuple[np.ndarray, float]:
    """Elo-scale ratings (mean INIT_RATING) and the length coefficient (0 without)."""
    model = model if model is not None else _regression()
    sample_weight = np.concatenate(
        [
            np.bincount(design.group, weights * design.wins, minlength=design.groups),
            np.bincount(design.group, weights * design.losses, minlength=design.groups),
        ]
    )
    model.fit(design.x, design.y, sample_weight=sample_weight)
    coef = model.coef_[0]
    ratings = SCALE * coef[:n_models]
    # Without intercept only differences are identified: the mean rating is INIT_RATING.
    ratings = ratings - ratings.mean() + INIT_RATING
    return ratings, float(coef[n_models]) if len(coef) > n_models else 0.0


@dataclass
class Ratings:
    """One fit and its bootstrap: models in `counts.models` order."""

    ratings: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    length_coef: float
    samples: np.ndarray = field(repr=False)  # (resamples, models)


def fit_ratings(
    counts: BattleCounts,
    *,
    both_bad: str = "exclude",
    length_control: bool = False,
    resamples: int = 200,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Ratings:
    """Ratings with 95 % percentile intervals over `resamples` multinomial resamples of the
    battles (seeded). `both_bad` is "exclude" or "tie"; with `length_control` the length
    difference is a covariate and the ratings are those at equal length."""
    if both_bad not in ("exclude", "tie"):
        raise ValueError(f"both_bad must be 'exclude' or 'tie', got {both_bad!r}")
    from threadpoolctl import threadpool_limits

    n_models = len(counts.models)
    design = _design(counts, both_bad=both_bad, length_control=length_control)
    total = int(counts.weights.sum())
    rng = np.random.default_rng(seed)
    samples = np.empty((resamples, n_models))
    shares = counts.weights / counts.weights.sum()
    # One thread: these problems are small (rows = cells, not battles), and BLAS threads on a
    # busy machine cost ten times the fit itself.
    with threadpool_limits(limits=1):
        ratings, length_coef = _fit(design, counts.weights, n_models)
        regression = _regression()
        for index in range(resamples):
            resampled = rng.multinomial(total, shares).astype(np.float64)
            samples[index], _ = _fit(design, resampled, n_models, regression)
            if progress is not None:
                progress(index + 1, resamples)
    if resamples:
        lower, upper = np.percentile(samples, [2.5, 97.5], axis=0)
    else:
        lower = upper = ratings.copy()
    return Ratings(
        ratings=ratings, lower=lower, upper=upper, length_coef=length_coef, samples=samples
    )


def pair_tables(counts: BattleCounts, *, both_bad: str = "exclude") -> dict[str, np.ndarray]:
    """Per pair of models (row, column): battles, and the row's win-rate over the column
    (ties half; both-bad as the fit counts it; NaN where they never met)."""
    n = len(counts.models)
    a, b, outcome = counts.cells[:, 0], counts.cells[:, 1], counts.cells[:, 2]
    weights = counts.weights
    battles = np.zeros((n, n))
    np.add.at(battles, (a, b), weights)
    battles = battles + battles.T
    if both_bad == "exclude":
        kept = outcome != BOTH_BAD
        a, b, outcome, weights = a[kept], b[kept], outcome[kept], weights[kept]
    share_a = np.select([outcome == A_WINS, outcome == B_WINS], [1.0, 0.0], 0.5)
    wins = np.zeros((n, n))
    decided = np.zeros((n, n))
    np.add.at(wins, (a, b), weights * share_a)
    np.add.at(wins, (b, a), weights * (1 - share_a))
    np.add.at(decided, (a, b), weights)
    decided = decided + decided.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(decided > 0, wins / decided, np.nan)
    return {"battles": battles, "win_rate": win_rate}


def leaderboard(
    counts: BattleCounts,
    *,
    both_bad: str = "exclude",
    length_control: bool = False,
    resamples: int = 200,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The whole board as JSON-ready data: rows sorted by rating (with the length-controlled
    rating beside it when asked), battle counts, the win-rate matrix in the rows' order and
    the bootstrap standard deviation of each pair's rating difference (adaptive sampling)."""
    steps = 2 * resamples if length_control else resamples

    def plain_progress(done: int, _total: int) -> None:
        if progress is not None:
            progress(done, steps)

    def controlled_progress(done: int, _total: int) -> None:
        if progress is not None:
            progress(resamples + done, steps)

    plain = fit_ratings(
        counts, both_bad=both_bad, resamples=resamples, seed=seed, progress=plain_progress
    )
    controlled = (
        fit_ratings(
            counts,
            both_bad=both_bad,
            length_control=True,
            resamples=resamples,
            seed=seed,
            progress=controlled_progress,
        )
        if length_control
        else None
    )
    tables = pair_tables(counts, both_bad=both_bad)
    order = [int(i) for i in np.argsort(-plain.ratings, kind="stable")]
    differences = plain.samples[:, :, None] - plain.samples[:, None, :]
    difference_sd = differences.std(axis=0) if resamples > 1 else np.zeros((0, 0))
    rows = []
    for rank, index in enumerate(order, 1):
        row: dict[str, Any] = {
            "rank": rank,
            "model": counts.models[index],
            "rating": float(plain.ratings[index]),
            "lower": float(plain.lower[index]),
            "upper": float(plain.upper[index]),
            "battles": int(tables["battles"][index].sum()),
        }
        if controlled is not None:
            row["rating_lc"] = float(controlled.ratings[index])
            row["lower_lc"] = float(controlled.lower[index])
            row["upper_lc"] = float(controlled.upper[index])
        rows.append(row)

    def ordered(matrix: np.ndarray) -> list[list[float | None]]:
        return [
            [None if math.isnan(matrix[i, j]) else float(matrix[i, j]) for j in order]
            for i in order
        ]

    return {
        "rows": rows,
        "battles": counts.battles,
        "resamples": resamples,
        "seed": seed,
        "both_bad": both_bad,
        "length_control": length_control,
        "length_coef": controlled.length_coef if controlled is not None else None,
        "models": [counts.models[i] for i in order],
        "win_rate": ordered(tables["win_rate"]),
        "pair_battles": ordered(tables["battles"]),
        "difference_sd": ordered(difference_sd) if resamples > 1 else [],
    }
