"""Which PPO implementation details matter, against RLOO, on the toy task (CPU, minutes).

    python bench/ppo_details.py --out /tmp/ppo-details [--variants baseline,eos_penalty,...]

1. Builds the toy models (training/ml/toy.py): a tiny Llama policy SFT'd on answers whose four
   parts are right or wrong at even odds, and a tiny reward-model base.
2. Samples two answers per prompt from that start policy, labels each pair with the toy oracle
   (10 % of labels flipped, ties dropped) and trains a reward model on them through the engine
   (`python -m training.ml`, kind reward), reporting its held-out accuracy and its taste for
   length (mean score of answers with filler minus without, at an equal oracle score).
3. Trains each variant (PPO with one detail changed, or RLOO) from the start policy against that
   reward model through the engine, then samples answers to every prompt from it and reports:
   oracle win-rate against the start policy's answers (ties count half), mean oracle score,
   KL to the start policy in nats per response (k1 on the policy's own samples, at the
   sampling temperature, measured the same way for every method), mean length in tokens,
   EOS rate, and the share of malformed answers (oracle score -1).

Runs one variant at a time with one thread each; results go to OUT/results.json as they come.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/ppo_details.py`
    sys.path.insert(0, str(ROOT))

TEMPERATURE = 1.0  # sampling temperature of training and evaluation, for every method
MAX_NEW_TOKENS = 40  # the length limit: long enough for any well-formed toy answer
NOISE = 0.1

# PPO settings shared by every PPO variant; each variant changes one detail of the baseline,
# which is the engine's PPO as it was before this benchmark (advantages whitened; the default
# is now off, as the no_adv_whitening variant).
PPO_BASE: dict[str, Any] = {
    "whiten_advantages": True,
    "learning_rate": 3e-4,
    "max_steps": 60,
    "rollout_batch_size": 64,
    "num_mini_batches": 2,
    "ppo_epochs": 2,
    "response_length": MAX_NEW_TOKENS,
    "temperature": TEMPERATURE,
    "beta": 0.05,
    "vf_coef": 0.1,
    "seed": 0,
}
RLOO_BASE: dict[str, Any] = {
    "learning_rate": 3e-4,
    "max_steps": 60,
    "per_device_train_batch_size": 64,
    "num_generations": 4,
    "max_completion_length": MAX_NEW_TOKENS,
    "temperature": TEMPERATURE,
    "beta": 0.05,
    "logging_steps": 5,
    "seed": 0,
}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "rloo": ("rloo", {}),
    "baseline": ("ppo", {}),
    "eos_penalty": ("ppo", {"missing_eos_penalty": 1.0}),
    "whiten_rewards": ("ppo", {"whiten_rewards": True}),
    "no_adv_whitening": ("ppo", {"whiten_advantages": False}),
    "k3": ("ppo", {"kl_estimator": "k3"}),
    "adaptive_kl": ("ppo", {"adaptive_kl": True, "target_kl": 3.0, "kl_horizon": 2000}),
    "linear_lr": ("ppo", {"lr_scheduler_type": "linear", "warmup_steps": 5}),
    "one_minibatch": ("ppo", {"num_mini_batches": 1}),
    "four_epochs": ("ppo", {"ppo_epochs": 4}),
    "vf_coef_1": ("ppo", {"vf_coef": 1.0}),
    "value_head_normal": ("ppo", {"value_head_init": "normal"}),
    "length_penalty": ("ppo", {"length_penalty": 0.02}),
    "lr_1e-4": ("ppo", {"learning_rate": 1e-4}),
    # The details that helped one by one, together.
    "tuned": (
        "ppo",
        {"whiten_advantages": False, "adaptive_kl": True, "target_kl": 3.0, "kl_horizon": 2000},
    ),
    "tuned_eos_penalty": (
        "ppo",
        {
            "whiten_advantages": False,
            "adaptive_kl": True,
            "target_kl": 3.0,
            "kl_horizon": 2000,
            "missing_eos_penalty": 1.0,
        },
    ),
    "no_adv_whitening_vf_1": ("ppo", {"whiten_advantages": False, "vf_coef": 1.0}),
    "rloo_150": ("rloo", {"max_steps": 150}),
    "rloo_eos_penalty": ("rloo", {"missing_eos_penalty": 1.0}),
}


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def engine_run(spec: dict[str, Any], work: Path) -> dict[str, float]:
    """`python -m training.ml` as the worker runs it; returns the final metrics."""
    from training.ml.events import parse_event

    path = work / f"{Path(spec['output_dir']).name}.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "training.ml", str(path)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
    )
    parsed = [parse_event(line) for line in done.stdout.splitlines()]
    emitted = [e for e in parsed if e is not None]
    if done.returncode != 0 or not emitted or emitted[-1]["event"] != "done":
        sys.exit(f"{spec['kind']} run failed:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}")
    return emitted[-1]["metrics"]


class Sampler:
    """Batched sampling from a policy, with the token-level facts the report needs."""

    def __init__(self, model_dir: Path | str) -> None:
        from transformers import AutoModelForCausalLM

        from training.ml.trl_adapter import load_tokenizer

        self.tokenizer = load_tokenizer(str(model_dir))
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()

    def sample(self, prompts: list[str], seed: int) -> list[dict[str, Any]]:
        import torch

        from training.ml.ppo_rollout import encode_prompt

        tok = self.tokenizer
        torch.manual_seed(seed)
        encoded = [encode_prompt(tok, [{"role": "user", "content": p}], 64) for p in prompts]
        width = max(len(ids) for ids in encoded)
        query = torch.full((len(encoded), width), tok.pad_token_id)
        mask = torch.zeros_like(query)
        for row, ids in enumerate(encoded):
            query[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=query,
                attention_mask=mask,
                do_sample=True,
                temperature=TEMPERATURE,
                top_k=0,
                top_p=1.0,
                max_new_tokens=MAX_NEW_TOKENS,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
        samples = []
        for row, prompt in enumerate(prompts):
            ids = out[row, width:].tolist()
            ended = tok.eos_token_id in ids
            ids = ids[: ids.index(tok.eos_token_id) + 1] if ended else ids
            ids = [i for i in ids if i != tok.pad_token_id]
            samples.append(
                {
                    "prompt": prompt,
                    "query": encoded[row],
                    "ids": ids,
                    "text": tok.decode(ids, skip_special_tokens=True),
                    "eos": ended,
                }
            )
        return samples

    def logprobs(self, samples: list[dict[str, Any]]) -> list[float]:
        """Summed log-probability of each sample's response at the sampling temperature."""
        import torch
        import torch.nn.functional as F

        totals = []
        for s in samples:
            ids = torch.tensor([s["query"] + s["ids"]])
            with torch.inference_mode():
                logits = self.model(input_ids=ids).logits[0, len(s["query"]) - 1 : -1]
            logp = F.log_softmax(logits.float() / TEMPERATURE, dim=-1)
            totals.append(float(logp.gather(1, torch.tensor(s["ids"]).unsqueeze(1)).sum()))
        return totals


def make_preferences(
    samples: list[dict[str, Any]], seed: int, ties: str, length_bias: float
) -> list[dict[str, Any]]:
    """Pairs of two answers to one prompt labelled by the oracle, NOISE of them flipped; an
    oracle tie goes to the longer answer (ties="longer", as annotators tend to) or is dropped,
    and a share `length_bias` of all pairs is labelled for the longer answer whatever the oracle
    says (an annotator who likes long answers: the reward model learns to like length)."""
    from training.ml import toy

    rng = random.Random(seed)
    rows = []
    for a, b in zip(samples[::2], samples[1::2], strict=True):
        verdict = toy.oracle_prefers(a["prompt"], a["text"], b["text"])
        longer = "a" if len(a["text"]) > len(b["text"]) else "b"
        if len(a["text"]) != len(b["text"]) and (
            (verdict == "tie" and ties == "longer") or rng.random() < length_bias
        ):
            verdict = longer
        if verdict == "tie":
            continue
        chosen, rejected = (a, b) if verdict == "a" else (b, a)
        if rng.random() < NOISE:
            chosen, rejected = rejected, chosen
        rows.append(
            {
                "prompt": [{"role": "user", "content": a["prompt"]}],
                "chosen": chosen["text"],
                "rejected": rejected["text"],
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def length_taste(reward_dir: Path, samples: list[dict[str, Any]]) -> float:
    """Mean reward-model score of answers with filler minus those without, among well-formed
    answers of equal oracle score on the other three parts (the oracle's view: no difference
    beyond the filler part itself, which the oracle scores 1 lower)."""
    from training.ml import toy
    from training.ml.scorer import RewardScorer

    scorer = RewardScorer(reward_dir, device="cpu")
    groups: dict[tuple[int, bool], list[float]] = {}
    parts = [(s, toy.answer_parts(s["prompt"], s["text"])) for s in samples]
    parsed = [(s, p) for s, p in parts if p is not None]
    scores = scorer.score(
        [[{"role": "user", "content": s["prompt"]}] for s, _ in parsed],
        [s["text"] for s, _ in parsed],
    )
    for (_, p), score in zip(parsed, scores, strict=True):
        others = sum(v for k, v in p.items() if k != "no_filler")
        groups.setdefault((others, p["no_filler"]), []).append(score)
    gaps = [
        _mean(groups[(o, False)]) - _mean(groups[(o, True)])
        for o in range(4)
        if groups.get((o, False)) and groups.get((o, True))
    ]
    return _mean(gaps)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def evaluate(
    policy_dir: Path, start: Sampler, start_samples: list[dict[str, Any]], seed: int
) -> dict[str, float]:
    from training.ml import toy

    policy = Sampler(policy_dir)
    samples = policy.sample([s["prompt"] for s in start_samples], seed=seed)
    wins = 0.0
    for mine, theirs in zip(samples, start_samples, strict=True):
        verdict = toy.oracle_prefers(mine["prompt"], mine["text"], theirs["text"])
        wins += 1.0 if verdict == "a" else 0.5 if verdict == "tie" else 0.0
    kl = [p - r for p, r in zip(policy.logprobs(samples), start.logprobs(samples), strict=True)]
    scores = [toy.oracle_score(s["prompt"], s["text"]) for s in samples]
    return {
        "win_rate": wins / len(samples),
        "oracle_score": _mean(scores),
        "kl": _mean(kl),
        "length": _mean([len(s["ids"]) for s in samples]),
        "eos_rate": _mean([float(s["eos"]) for s in samples]),
        "malformed": _mean([float(score < 0) for score in scores]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="work folder (kept; reused when rerun)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--pairs", type=int, default=600, help="oracle-labelled pairs sampled")
    parser.add_argument("--eval-samples", type=int, default=400, help="answers per evaluation")
    parser.add_argument("--steps", type=int, default=None, help="iterations of every RL run")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value for every PPO and RLOO variant (repeatable; JSON values)",
    )
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument(
        "--ties",
        choices=("longer", "drop"),
        default="longer",
        help="an oracle tie is labelled for the longer answer (a reward model with a slight "
        "taste for length, as people's labels give one) or dropped",
    )
    parser.add_argument(
        "--length-bias",
        type=float,
        default=0.0,
        help="share of pairs labelled for the longer answer whatever the oracle says",
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="train every variant with seeds 0..N-1"
    )
    args = parser.parse_args(argv)

    import torch

    from training.ml import toy

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}

    if not (out / "toy" / "policy").is_dir():
        toy.build_toy_models(out / "toy", sft_steps=args.sft_steps)
    start = Sampler(out / "toy" / "policy")

    reward_dir = out / "reward-model"
    prompts_file = out / "prompts.jsonl"
    if not reward_dir.is_dir():
        started = time.monotonic()
        samples = start.sample(toy.prompts(2 * args.pairs, seed=1), seed=1)
        rows = make_preferences(samples, seed=1, ties=args.ties, length_bias=args.length_bias)
        cut = len(rows) * 9 // 10
        train_file = write_jsonl(out / "pairs-train.jsonl", rows[:cut])
        eval_file = write_jsonl(out / "pairs-eval.jsonl", rows[cut:])
        write_jsonl(prompts_file, rows)
        metrics = engine_run(
            {
                "kind": "reward",
                "base_model": str(out / "toy" / "reward"),
                "train_file": str(train_file),
                "eval_file": str(eval_file),
                "output_dir": str(reward_dir),
                "config": {
                    "learning_rate": 1e-3,
                    "num_train_epochs": 4,
                    "per_device_train_batch_size": 16,
                    "seed": 0,
                },
            },
            out,
        )
        results["reward_model"] = {
            "pairs": len(rows),
            "ties": args.ties,
            "length_bias": args.length_bias,
            "eval_accuracy": metrics.get("eval_accuracy"),
            "length_taste": length_taste(reward_dir, samples),
            "seconds": time.monotonic() - started,
        }
        results_path.write_text(json.dumps(results, indent=2))
    print(f"reward model: {results['reward_model']}", flush=True)

    eval_prompts = toy.prompts(args.eval_samples, seed=3)
    start_samples = start.sample(eval_prompts, seed=3)
    if "start" not in results:
        results["start"] = evaluate(out / "toy" / "policy", start, start_samples, seed=4)
        results_path.write_text(json.dumps(results, indent=2))
    print(_row("start", results["start"]), flush=True)

    shared = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    runs = [(name, seed) for name in args.variants.split(",") for seed in range(args.seeds)]
    for name, seed in runs:
        kind, changes = VARIANTS[name]
        config = {**(PPO_BASE if kind == "ppo" else RLOO_BASE), **shared, **changes}
        config["seed"] = seed
        if args.steps:
            config["max_steps"] = args.steps
        tag = name + "".join(f"-{k}={v}" for k, v in sorted(shared.items()))
        if args.steps:
            tag += f"-steps={args.steps}"
        if seed:
            tag += f"-seed={seed}"
        if tag in results:
            print(_row(tag, results[tag]), flush=True)
            continue
        policy_dir = out / f"policy-{tag}"
        started = time.monotonic()
        metrics = engine_run(
            {
                "kind": kind,
                "base_model": str(out / "toy" / "policy"),
                "reward_model": str(reward_dir),
                "train_file": str(prompts_file),
                "output_dir": str(policy_dir),
                "config": config,
            },
            out,
        )
        seconds = time.monotonic() - started
        row = evaluate(policy_dir, start, start_samples, seed=4)
        row.update(
            train_seconds=seconds,
            kl_budget_stop_step=metrics.get("kl_budget_stop_step"),
            config=config,
        )
        results[tag] = row
        results_path.write_text(json.dumps(results, indent=2))
        print(_row(tag, row), flush=True)
    if args.seeds > 1:
        print(f"\nmean (min..max) over seeds 0..{args.seeds - 1}:")
        for name in args.variants.split(","):
            tag = name + "".join(f"-{k}={v}" for k, v in sorted(shared.items()))
            tag += f"-steps={args.steps}" if args.steps else ""
            rows = [results[tag + (f"-seed={s}" if s else "")] for s in range(args.seeds)]
            print(_summary(tag, rows), flush=True)
    return 0


def _summary(name: str, rows: list[dict[str, Any]]) -> str:
    def cell(key: str, digits: int) -> str:
        values = [r[key] for r in rows]
        return (
            f"{key} {_mean(values):.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"
        )

    keys = (("win_rate", 3), ("oracle_score", 2), ("kl", 2), ("length", 1), ("malformed", 3))
    return f"{name:<28} " + "  ".join(cell(k, d) for k, d in keys)


def _row(name: str, row: dict[str, Any]) -> str:
    seconds = f" {row['train_seconds']:.0f} s" if "train_seconds" in row else ""
    return (
        f"{name:<28} win {row['win_rate']:.3f}  oracle {row['oracle_score']:.2f}  "
        f"KL {row['kl']:.2f}  len {row['length']:.1f}  eos {row['eos_rate']:.3f}  "
        f"malformed {row['malformed']:.3f}{seconds}"
    )


if __name__ == "__main__":
    sys.exit(main())
