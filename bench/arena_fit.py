"""Arena leaderboard fit (training/ml/arena.py): time and peak memory of a large fit, and the
coverage of its 95 % bootstrap intervals on synthetic battles with known strengths.

    .venv/bin/python bench/arena_fit.py [--battles 1000000] [--models 50] [--resamples 200]
        [--length-control] [--repetitions 40] [--coverage-battles 3000] [--coverage-models 8]

Part 1 draws `--battles` battles between `--models` contenders (true ratings ~ N(0, 100) on
the Elo scale, 10 % ties, random length bins), counts them in chunks of 100,000 as the worker
job does, and times the fit with its bootstrap. Part 2 repeats a smaller arena with seeds
0..repetitions-1 and prints how often the 95 % intervals cover the true (mean-centred)
ratings and the true pairwise rating differences. Its battles have no ties: ties drawn apart
from the strengths (as part 1's) are outside the Bradley–Terry model and shrink the fitted
differences, which would show as under-coverage that is no fault of the bootstrap.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.ml.arena import (
    A_WINS,
    B_WINS,
    LENGTH_BINS,
    TIE,
    BattleCounter,
    fit_ratings,
    leaderboard,
)


def draw(
    rng: np.random.Generator,
    strengths: np.ndarray,
    battles: int,
    counter: BattleCounter,
    ties: float = 0.0,
) -> None:
    models = len(strengths)
    for start in range(0, battles, 100_000):
        size = min(100_000, battles - start)
        a = rng.integers(0, models, size)
        b = (a + rng.integers(1, models, size)) % models
        p_a = 1 / (1 + 10 ** ((strengths[b] - strengths[a]) / 400))
        u = rng.random(size)
        tie = rng.random(size) < ties
        outcome = np.where(tie, TIE, np.where(u < p_a, A_WINS, B_WINS))
        counter.add_arrays(a, b, outcome, rng.integers(0, LENGTH_BINS, size))


def part_large(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    strengths = rng.normal(0, 100, args.models)
    counter = BattleCounter()
    for index in range(args.models):
        counter.model_index(f"model-{index}")
    started = time.perf_counter()
    draw(rng, strengths, args.battles, counter, ties=0.1)
    counts = counter.counts()
    counted = time.perf_counter() - started
    started = time.perf_counter()
    board = leaderboard(
        counts, resamples=args.resamples, seed=0, length_control=args.length_control
    )
    fitted = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    truth = {f"model-{i}": s for i, s in enumerate(strengths)}
    order = [row["model"] for row in board["rows"]]
    rank_truth = sorted(truth, key=lambda m: -truth[m])
    agree = np.corrcoef([order.index(m) for m in truth], [rank_truth.index(m) for m in truth])[0, 1]
    print(
        f"large: {args.battles} battles, {args.models} models, {len(counts.weights)} cells, "
        f"{args.resamples} resamples{' x2 (length control)' if args.length_control else ''}: "
        f"counting {counted:.1f} s, fit + bootstrap {fitted:.1f} s, peak RSS {peak:.0f} MiB, "
        f"rank correlation with the truth {agree:.3f}"
    )


def part_coverage(args: argparse.Namespace) -> None:
    covered_ratings = covered_differences = ratings_total = differences_total = 0
    started = time.perf_counter()
    for seed in range(args.repetitions):
        rng = np.random.default_rng(1000 + seed)
        strengths = rng.normal(0, 100, args.coverage_models)
        counter = BattleCounter()
        for index in range(args.coverage_models):
            counter.model_index(f"model-{index}")
        draw(rng, strengths, args.coverage_battles, counter)
        fit = fit_ratings(counter.counts(), resamples=args.resamples, seed=seed)
        truth = strengths - strengths.mean() + 1000
        covered_ratings += int(((fit.lower <= truth) & (truth <= fit.upper)).sum())
        ratings_total += len(truth)
        upper_triangle = np.triu_indices(len(truth), 1)
        samples = (fit.samples[:, :, None] - fit.samples[:, None, :])[:, *upper_triangle]
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
        true_difference = (truth[:, None] - truth[None, :])[upper_triangle]
        covered_differences += int(((low <= true_difference) & (true_difference <= high)).sum())
        differences_total += len(true_difference)
    print(
        f"coverage: {args.repetitions} seeded repetitions of {args.coverage_battles} battles "
        f"between {args.coverage_models} models, {args.resamples} resamples: ratings "
        f"{covered_ratings / ratings_total:.3f}, pairwise differences "
        f"{covered_differences / differences_total:.3f} (nominal 0.95; "
        f"{time.perf_counter() - started:.0f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--length-control", action="store_true")
    parser.add_argument("--repetitions", type=int, default=40)
    parser.add_argument("--coverage-battles", type=int, default=3000)
    parser.add_argument("--coverage-models", type=int, default=8)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    if not args.skip_large:
        part_large(args)
    part_coverage(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
