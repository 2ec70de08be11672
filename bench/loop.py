"""The loop on the toy task, through the app: rounds of simulated labelling → reward model →
policy update → candidates of the new policy, measured by the toy task's oracle (CPU, minutes).

    python bench/loop.py --out /tmp/loop-bench --part rounds --method dpo,ppo
    python bench/loop.py --out /tmp/loop-bench --part oneshot --method dpo
    python bench/loop.py --out /tmp/loop-bench --part selection --seeds 3

Everything goes through the app as a manager's project would: a throw-away prefapp (its own
SQLite database, filesystem broker and data folder, bench/_training.py) with a real Celery
worker on both queues; the toy prompts are imported with `data_import`, the start policy's
answers are a generation job, simulated annotators (`annotators_simulate`, the toy oracle,
10 % of answers flipped) label through the assignment and judgment services, and each round is
the loop's own steps (`loop_round_next`: snapshot → reward run → policy run → generation job →
scoring run), every run executed by the worker's `run_training` task.

After each round the bench itself measures the project's current policy and reward model:
- oracle win-rate of the policy's answers against the start policy's answers to the same
  prompts (ties count half), mean oracle score, KL to the start policy in nats per response
  (k1 on the policy's own samples), length, malformed share (bench/ppo_details.py's evaluate);
- the reward model's accuracy on fixed held-out pairs of start-policy answers labelled by the
  oracle without noise (ties left out), the same pairs for every arm.

Parts:
- rounds: `--rounds` rounds of `--budget` judgments each, for each `--method`.
- oneshot: one round of rounds × budget judgments, all on start-policy answers, to compare with
  the `rounds` arm of the same method and budget.
- selection: per `--strategies` and seed, `--rounds` rounds; round 1 labels a random share of the
  start policy's pairs for every arm, later rounds are ordered by the arm's strategy from the
  previous round's reward model (the pool offers more pairs than the budget).

Results go to OUT/results-PART-METHOD[-TAG].json as each arm ends; an arm already there is not
run again.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/loop.py`
    sys.path.insert(0, str(ROOT))

from bench._training import BenchApp, load_average  # noqa: E402 - after the path above

NOISE = 0.1
ANNOTATORS = 5
SAMPLING = {"temperature": 1.0, "max_new_tokens": 40, "batch_size": 64}
REWARD_CONFIG: dict[str, Any] = {
    "learning_rate": 1e-3,
    "num_train_epochs": 4,
    "per_device_train_batch_size": 16,
    "max_length": 128,
    "seed": 0,
}
POLICY_CONFIGS: dict[str, dict[str, Any]] = {
    "dpo": {
        "learning_rate": 1e-4,
        "beta": 0.1,
        "max_steps": 60,
        "per_device_train_batch_size": 16,
        "max_length": 128,
        "seed": 0,
    },
    # bench/ppo_details.py's best PPO at KL ≈ 1 (advantages not whitened, the default now).
    "ppo": {
        "learning_rate": 3e-4,
        "max_steps": 60,
        "rollout_batch_size": 64,
        "num_mini_batches": 2,
        "ppo_epochs": 2,
        "response_length": 40,
        "temperature": 1.0,
        "beta": 0.05,
        "vf_coef": 0.1,
        "kl_budget": 1.0,
        "seed": 0,
    },
}


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Measure:
    """The oracle's view of a policy, and reward-model accuracy on fixed oracle-labelled pairs."""

    def __init__(self, toy_dir: Path, eval_samples: int) -> None:
        from bench.ppo_details import Sampler
        from training.ml import toy

        self.start = Sampler(toy_dir / "policy")
        self.start_samples = self.start.sample(toy.prompts(eval_samples, seed=3), seed=3)
        second = self.start.sample([s["prompt"] for s in self.start_samples], seed=5)
        self.rm_pairs = []
        for a, b in zip(self.start_samples, second, strict=True):
            verdict = toy.oracle_prefers(a["prompt"], a["text"], b["text"])
            if verdict != "tie":
                chosen, rejected = (a, b) if verdict == "a" else (b, a)
                self.rm_pairs.append((a["prompt"], chosen["text"], rejected["text"]))

    def policy(self, path: Path) -> dict[str, float]:
        from bench.ppo_details import evaluate

        return evaluate(path, self.start, self.start_samples, seed=4)

    def reward(self, path: Path) -> float:
        from training.ml.scorer import RewardScorer

        scorer = RewardScorer(path, device="cpu")
        convs = [[{"role": "user", "content": p}] for p, _, _ in self.rm_pairs]
        chosen = scorer.score(convs, [c for _, c, _ in self.rm_pairs])
        rejected = scorer.score(convs, [r for _, _, r in self.rm_pairs])
        return sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(self.rm_pairs)


def _wait_run(run: Any, timeout: float) -> Any:
    from training.models import TrainingRun

    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if run.status in TrainingRun.FINISHED:
            if run.status != TrainingRun.Status.SUCCEEDED:
                sys.exit(f"{run.kind} run {run.pk} {run.status}:\n{run.error[-3000:]}")
            return run
        if time.monotonic() > deadline:
            sys.exit(f"{run.kind} run {run.pk} still {run.status} after {timeout} s")
        time.sleep(1.0)


def _wait_round(project: Any, number: int, timeout: float) -> Any:
    from training.models import Round, RoundStep

    deadline = time.monotonic() + timeout
    while True:
        round = Round.objects.get(project=project, number=number)
        if round.status == Round.Status.DONE:
            return round
        if round.status == Round.Status.FAILED:
            steps = RoundStep.objects.filter(round=round).select_related("run")
            notes = "\n".join(f"{s.name}: {s.note} {s.run and s.run.error[-2000:]}" for s in steps)
            sys.exit(f"round {number} failed: {round.error}\n{notes}")
        if time.monotonic() > deadline:
            sys.exit(f"round {number} still {round.status} after {timeout} s")
        time.sleep(1.0)


class Arm:
    """One project of the throw-away app, driven round by round."""

    def __init__(
        self,
        app: BenchApp,
        toy_dir: Path,
        *,
        slug: str,
        method: str,
        policy_config: dict[str, Any],
        prompts: int,
        first_prompts: int,
        prompts_per_round: int,
        k: int,
        budget: int,
        seed: int,
        timeout: float,
    ) -> None:
        from labeling.services.importing import data_import
        from labeling.services.selection import queue_reorder, selection_set
        from training.ml import toy
        from training.models import TrainingRun
        from training.services.generation import generation_launch
        from training.services.loop import loop_settings_set

        self.app, self.toy_dir, self.timeout, self.seed = app, toy_dir, timeout, seed
        self.project = app.project_create(
            name=f"Loop bench {slug}", slug=slug, score_after_reward="never"
        )
        texts = toy.prompts(prompts, seed=100 + seed)
        rows = "\n".join(json.dumps({"id": f"toy-{n}", "prompt": t}) for n, t in enumerate(texts))
        data_import(
            project=self.project,
            fileobj=io.BytesIO(rows.encode()),
            filename="toy-prompts.jsonl",
            format="prompts",
        )
        ids = list(self.project.prompts.order_by("id").values_list("pk", flat=True))
        run = generation_launch(
            project=self.project,
            policy=str(toy_dir / "policy"),
            prompt_set="prompts:" + ",".join(str(pk) for pk in ids[:first_prompts]),
            k=k,
            sampling=SAMPLING,
            pairing="all",
            seed=seed,
        )
        run = _wait_run(TrainingRun.objects.get(pk=run.pk), timeout)
        self.start_pairs = self.project.pairs.count()
        # Round 1 labels a random share of the start policy's pairs, whatever the arm's strategy.
        selection_set(
            project=self.project, strategy="random", exploration_share=0.0, score_after="never"
        )
        queue_reorder(project_id=self.project.pk)
        loop_settings_set(
            project=self.project,
            enabled=False,  # rounds start when the bench says (a manager's "next round")
            label_budget=budget,
            prompts_per_round=prompts_per_round,
            k=k,
            sampling=SAMPLING,
            pairing="all",
            policy_method=method,
            policy_config=policy_config,
            reward_base_model=str(toy_dir / "reward"),
            reward_config=REWARD_CONFIG,
            start_policy=str(toy_dir / "policy"),
        )

    def strategy(self, name: str) -> None:
        from labeling.services.selection import queue_reorder, selection_set

        selection_set(
            project=self.project, strategy=name, exploration_share=0.0, score_after="never"
        )
        queue_reorder(project_id=self.project.pk)  # now, before anyone labels

    def round(self, number: int, budget: int, measure: Measure) -> dict[str, Any]:
        from labeling.services.simulation import annotators_simulate
        from training.ml import toy
        from training.models import ModelArtifact, RoundStep
        from training.selectors import artifact_current
        from training.services.loop import loop_round_next

        started = time.monotonic()
        made = annotators_simulate(
            project=self.project,
            oracle=toy.oracle_prefers,
            annotators=ANNOTATORS,
            noise=NOISE,
            budget=budget,
            seed=1000 * self.seed + number,
        ).judgments
        labelled = time.monotonic()
        loop_round_next(project=self.project)
        round = _wait_round(self.project, number, self.timeout)
        seconds = time.monotonic() - labelled
        policy = artifact_current(project=self.project, kind=ModelArtifact.Kind.POLICY)
        reward = artifact_current(project=self.project, kind=ModelArtifact.Kind.REWARD)
        assert policy is not None and reward is not None
        row: dict[str, Any] = {"round": number, "judgments": made, "snapshot_rows": round.judgments}
        row.update(measure.policy(Path(policy.path)))
        row["rm_accuracy"] = measure.reward(Path(reward.path))
        steps = {s.name: s for s in RoundStep.objects.filter(round=round).select_related("run")}
        row["rm_eval_accuracy"] = (steps["reward"].run.final_metrics or {}).get("eval_accuracy")
        policy_metrics = steps["policy"].run.final_metrics or {}
        row["kl_budget_stop_step"] = policy_metrics.get("kl_budget_stop_step")
        row["policy_metrics"] = policy_metrics
        row["label_seconds"] = labelled - started
        row["steps_seconds"] = seconds
        row["step_seconds"] = {
            name: (s.run.finished_at - s.run.started_at).total_seconds()
            for name, s in steps.items()
            if s.run is not None and s.run.started_at and s.run.finished_at
        }
        return row


def _row(name: str, row: dict[str, Any]) -> str:
    return (
        f"{name:<34} win {row['win_rate']:.3f}  oracle {row['oracle_score']:.2f}  "
        f"KL {row['kl']:.2f}  len {row['length']:.1f}  malformed {row['malformed']:.3f}  "
        f"RM acc {row.get('rm_accuracy', float('nan')):.3f}  labels {row.get('judgments', 0)}  "
        f"{row.get('steps_seconds', 0):.0f} s"
    )


def _spread(values: list[float]) -> str:
    mean = sum(values) / len(values)
    sd = (
        math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        if len(values) > 1
        else 0.0
    )
    return f"{mean:.3f} ± {sd:.3f} ({min(values):.3f}..{max(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="work folder (kept; reused when rerun)")
    parser.add_argument("--part", choices=("rounds", "oneshot", "selection"), default="rounds")
    parser.add_argument("--method", default="dpo", help="comma-separated: dpo, ppo")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=300, help="judgments per round")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (selection: 3)")
    parser.add_argument("--strategies", default="random,uncertainty,large-margin")
    parser.add_argument("--k", type=int, default=4, help="answers a prompt per generation")
    parser.add_argument(
        "--pool",
        type=float,
        default=1.0,
        help="pairs offered per round as a multiple of the budget (selection: 2)",
    )
    parser.add_argument("--eval-samples", type=int, default=400, help="answers per evaluation")
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a policy config value for every arm (repeatable; JSON values)",
    )
    parser.add_argument("--reward-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", default="", help="a suffix naming this configuration")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a round may take")
    args = parser.parse_args(argv)

    import torch

    from training.ml import toy

    torch.set_num_threads(1)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # One results file per part, method and tag: parts can run side by side on one folder.
    name = f"{args.part}-{args.method.replace(',', '+')}" + (f"-{args.tag}" if args.tag else "")
    results_path = out / f"results-{name}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    toy_dir = out / "toy"
    if not (toy_dir / "policy").is_dir():
        _log("building the toy models")
        toy.build_toy_models(toy_dir, sft_steps=args.sft_steps)
    policy_set = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    REWARD_CONFIG.update({k: json.loads(v) for k, v in (s.split("=", 1) for s in args.reward_set)})

    pairs_per_prompt = args.k * (args.k - 1) // 2
    pool = args.pool if args.part != "selection" or args.pool != 1.0 else 2.0
    per_round = max(1, math.ceil(pool * args.budget / pairs_per_prompt))
    arms: list[tuple[str, str, int, str | None]] = []  # (tag, method, seed, strategy)
    methods = args.method.split(",")
    if args.part == "selection":
        seeds = args.seeds if args.seeds > 1 else 3
        arms = [
            (f"selection-{s}-seed{seed}", methods[0], seed, s)
            for s in args.strategies.split(",")
            for seed in range(seeds)
        ]
    else:
        arms = [
            (f"{args.part}-{m}-seed{seed}", m, seed, None)
            for m in methods
            for seed in range(args.seeds)
        ]
    size = f"-b{args.budget}-r{args.rounds}-k{args.k}" + (f"-{args.tag}" if args.tag else "")

    measure = Measure(toy_dir, args.eval_samples)
    if "start" not in results:
        results["start"] = measure.policy(toy_dir / "policy")
        results_path.write_text(json.dumps(results, indent=2))
    print(_row("start", results["start"]), flush=True)

    # A `kill` ends the run like Ctrl-C: the worker is stopped and the throw-away app removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    app = BenchApp()
    app.env["PREFAPP_MODEL_ROOTS"] += "," + str(out)
    app.env["OMP_NUM_THREADS"] = "1"
    with app:
        app.start_worker()
        for number, (name, method, seed, strategy) in enumerate(arms):
            tag = name + size
            if tag in results:
                for row in results[tag]["rounds"]:
                    print(_row(f"{tag} r{row['round']}", row), flush=True)
                continue
            config = {**POLICY_CONFIGS[method], **policy_set, "seed": seed}
            oneshot = args.part == "oneshot"
            budgets = [args.budget * args.rounds] if oneshot else [args.budget] * args.rounds
            _log(f"{tag}: load {load_average()}")
            arm = Arm(
                app,
                toy_dir,
                slug=f"arm-{number}",
                method=method,
                policy_config=config,
                prompts=per_round * (1 + len(budgets)) * (args.rounds if oneshot else 1),
                first_prompts=per_round * (args.rounds if oneshot else 1),
                prompts_per_round=per_round,
                k=args.k,
                budget=budgets[0],
                seed=seed,
                timeout=args.timeout,
            )
            rows = []
            for r, budget in enumerate(budgets, start=1):
                if strategy and r == 2:
                    arm.strategy(strategy)
                row = arm.round(r, budget, measure)
                rows.append(row)
                print(_row(f"{tag} r{r}", row), flush=True)
            results[tag] = {
                "method": method,
                "seed": seed,
                "strategy": strategy,
                "policy_config": config,
                "reward_config": REWARD_CONFIG,
                "start_pairs": arm.start_pairs,
                "load_average": load_average(),
                "rounds": rows,
            }
            results_path.write_text(json.dumps(results, indent=2))
    if args.part == "selection":
        print("\nfinal round, mean ± sd (min..max) over seeds:")
        for strategy in args.strategies.split(","):
            finals = [
                results[t]["rounds"][-1]
                for t, _, _, s in ((n + size, m, sd, st) for n, m, sd, st in arms)
                if s == strategy and t in results
            ]
            if finals:
                print(
                    f"{strategy:<14} RM acc {_spread([f['rm_accuracy'] for f in finals])}  "
                    f"win {_spread([f['win_rate'] for f in finals])}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
