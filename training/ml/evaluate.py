"""Evaluate a policy against the round-0 policy on held-out prompts (run kind `evaluate`).

Both policies sample `samples_per_prompt` responses to every prompt with the same settings;
the reward model (scorer.RewardScorer, the one scorer) scores them, and the report is:
  - win_rate: the share of (prompt, sample) comparisons where the policy's response scores
    higher than round 0's (a tie counts one half), with a Wilson interval at `confidence`;
  - mean_reward (and reference_mean_reward, round 0's);
  - kl: KL(π || π_ref) in nats per response, estimated as the mean over the policy's samples of
    Σ_t [log π(y_t | x, y_<t) − log π_ref(y_t | x, y_<t)] over the sampled tokens up to and
    including EOS (unbiased when sampling at temperature 1); π_ref is the round-0 policy;
  - mean_length (response tokens, EOS included) and eos_rate (share of responses that ended
    with EOS within max_new_tokens), for the policy and for round 0.
The samples go to `<output dir>/samples.jsonl`. No Django; heavy imports inside functions.
"""

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import events
from .artifact import SAMPLES_FILE
from .config import EvaluateRunConfig
from .scorer import Prompt, RewardScorer


@dataclass
class Samples:
    """One policy's responses to a batch of prompts: text, tokens and whether each ended."""

    texts: list[str]
    prompt_ids: list[list[int]]
    response_ids: list[list[int]]  # up to and including the first EOS
    has_eos: list[bool]


def wilson_interval(wins: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion wins/n (wins may hold halves for ties)."""
    if n == 0:
        return 0.0, 1.0
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def read_prompts(path: str | Path) -> list[Prompt]:
    """The held-out prompts: one JSON object per line with a "prompt" (text or messages)."""
    prompts: list[Prompt] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or "prompt" not in row:
            raise ValueError(f"{path}:{number}: expected an object with a 'prompt'")
        prompts.append(row["prompt"])
    if not prompts:
        raise ValueError(f"{path}: no prompts to evaluate on")
    return prompts


def _load_policy(model_dir: str, device: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoTokenizer

    from .adapters import load_policy

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_policy(model_dir, dtype=torch.float32)
    return model.to(device).eval(), tokenizer


def sample(
    model: Any, tokenizer: Any, prompts: Sequence[Prompt], config: EvaluateRunConfig, seed: int
) -> Samples:
    """Sample one response per prompt (left-padded batch; the responses cut at the first EOS)."""
    import torch

    from .ppo_rollout import encode_prompt

    device = next(model.parameters()).device
    limit = max(1, getattr(model.config, "max_position_embeddings", 2048) - config.max_new_tokens)
    encoded = [encode_prompt(tokenizer, p, limit) for p in prompts]
    width = max(len(ids) for ids in encoded)
    pad_id, eos_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    query = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(query)
    for row, ids in enumerate(encoded):
        query[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    torch.manual_seed(seed)
    with torch.inference_mode():
        output = model.generate(
            input_ids=query.to(device),
            attention_mask=mask.to(device),
            do_sample=True,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=0,
            max_new_tokens=config.max_new_tokens,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
        )
    responses, has_eos = [], []
    for row in output[:, width:].tolist():
        ended = eos_id in row
        responses.append(row[: row.index(eos_id) + 1] if ended else row)
        has_eos.append(ended)
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in responses]
    return Samples(texts, encoded, responses, has_eos)


def sequence_logprobs(model: Any, prompt_ids: list[list[int]], response_ids: list[list[int]]):
    """Σ log p(response token | prefix) per row, at temperature 1 (the model's distribution)."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    totals = []
    with torch.inference_mode():
        for prompt, response in zip(prompt_ids, response_ids, strict=True):
            if not response:
                totals.append(0.0)
                continue
            ids = torch.tensor([prompt + response], device=device)
            logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
            logp = F.log_softmax(logits, dim=-1)
            target = torch.tensor(response, device=device).unsqueeze(-1)
            totals.append(float(torch.gather(logp, 1, target).sum()))
    return totals


def evaluate_policy(
    config: EvaluateRunConfig,
    policy_dir: str,
    reference_dir: str,
    reward_dir: str,
    prompts_file: str,
    work_dir: str,
) -> dict[str, float]:
    """Sample both policies, score, compare; write samples.jsonl into work_dir; the metrics."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    prompts = read_prompts(prompts_file)
    policy, policy_tokenizer = _load_policy(policy_dir, device)
    reference, reference_tokenizer = _load_policy(reference_dir, device)
    scorer = RewardScorer(reward_dir)
    jobs = [(p, s) for s in range(config.samples_per_prompt) for p in range(len(prompts))]
    total = math.ceil(len(jobs) / config.batch_size)
    events.emit("start", total_steps=total)
    rows: list[dict[str, Any]] = []
    for step, start in enumerate(range(0, len(jobs), config.batch_size), 1):
        batch = jobs[start : start + config.batch_size]
        batch_prompts = [prompts[p] for p, _ in batch]
        seed = config.seed + step
        new = sample(policy, policy_tokenizer, batch_prompts, config, seed)
        old = sample(reference, reference_tokenizer, batch_prompts, config, seed)
        new_scores = scorer.score(batch_prompts, new.texts)
        old_scores = scorer.score(batch_prompts, old.texts)
        logp_policy = sequence_logprobs(policy, new.prompt_ids, new.response_ids)
        # The same tokens under the reference: the policy's prompt tokens, which equal the
        # reference's when both share a tokenizer (a policy trained from round 0 does).
        logp_reference = sequence_logprobs(reference, new.prompt_ids, new.response_ids)
        for i, (prompt_index, sample_index) in enumerate(batch):
            rows.append(
                {
                    "prompt_index": prompt_index,
                    "sample": sample_index,
                    "response": new.texts[i],
                    "reference_response": old.texts[i],
                    "reward": new_scores[i],
                    "reference_reward": old_scores[i],
                    "kl": logp_policy[i] - logp_reference[i],
                    "length": len(new.response_ids[i]),
                    "reference_length": len(old.response_ids[i]),
                    "eos": new.has_eos[i],
                    "reference_eos": old.has_eos[i],
                }
            )
        events.emit("progress", step=step, total_steps=total)
    metrics = summarise(rows, config.confidence)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    with Path(work_dir, SAMPLES_FILE).open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    events.emit("metrics", step=total, values=metrics)
    return metrics


def summarise(rows: Sequence[dict[str, Any]], confidence: float) -> dict[str, float]:
    """The report of evaluate_policy from its per-sample rows."""
    n = len(rows)
    # Equal scores (identical responses, most often) count one half each way.
    wins = sum(
        1.0 if r["reward"] > r["reference_reward"] else 0.5 * (r["reward"] == r["reference_reward"])
        for r in rows
    )
    low, high = wilson_interval(wins, n, confidence)

    def mean(key: str) -> float:
        return sum(float(r[key]) for r in rows) / n

    return {
        "win_rate": wins / n,
        "win_rate_low": low,
        "win_rate_high": high,
        "mean_reward": mean("reward"),
        "reference_mean_reward": mean("reference_reward"),
        "kl": mean("kl"),
        "mean_length": mean("length"),
        "reference_mean_length": mean("reference_length"),
        "eos_rate": mean("eos"),
        "reference_eos_rate": mean("reference_eos"),
        "num_samples": float(n),
    }
