"""Sampling from a policy: the dashboard's "try it" box (one answer, or two answers scored by a
reward model; both load the model on every call, for a manager's occasional click), and
generation jobs (`generate_samples`: k answers to each of many prompts, run as a `generate`
run's child process).
"""

import hashlib
import importlib.util
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import events
from .artifact import SAMPLES_FILE
from .config import GenerateRunConfig
from .scorer import Prompt, Response, RewardScorer


def generate(
    model_dir: str | Path,
    prompt: Prompt,
    max_new_tokens: int = 64,
    temperature: float = 0.7,
    seed: int | None = None,
) -> str:
    """One sampled continuation of `prompt` (text, or messages rendered with the chat template)."""
    import torch
    from transformers import AutoTokenizer

    from .adapters import load_policy
    from .ppo_rollout import encode_prompt

    if seed is not None:
        torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load_policy(model_dir)
    model.to(device).eval()  # type: ignore[arg-type]  # transformers' stub types .to() oddly
    limit = getattr(model.config, "max_position_embeddings", 2048) - max_new_tokens
    ids = torch.tensor([encode_prompt(tokenizer, prompt, max(limit, 1))], device=device)
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    with torch.inference_mode():
        output = model.generate(  # type: ignore[misc]  # transformers' self-type on generate()
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return str(tokenizer.decode(output[0, ids.size(1) :], skip_special_tokens=True))


def score_pair(
    model_dir: str | Path, prompt: Prompt, response_a: Response, response_b: Response
) -> dict[str, Any]:
    """Reward-model scores of two answers and P(A preferred) = σ(r_A − r_B)."""
    return RewardScorer(model_dir).score_pair(prompt, response_a, response_b)


# ----------------------------------------------------------------------------- generation jobs


def _read_prompts(path: str) -> list[dict[str, Any]]:
    """The job's prompts file: one {"prompt_id": int, "prompt": messages or text} per line."""
    rows = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("prompt_id"), int):
                raise ValueError(f"{path}:{number}: expected an object with an integer prompt_id")
            rows.append(row)
    return rows


def _batch_seed(seed: int, prompt_id: int) -> int:
    # A batch's seed comes from the job's seed and its first prompt, not from the batch's
    # position, so the same job and seed sample the same answers for the same prompts.
    digest = hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def vllm_usable() -> bool:
    """vLLM is an optional extra: used when it is installed and a GPU is present."""
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def generate_samples(
    config: GenerateRunConfig, model_dir: str, prompts_file: str, work_dir: str
) -> dict[str, float]:
    """Sample `config.k` answers to every prompt of `prompts_file` into work_dir/SAMPLES_FILE,
    one {"prompt_id", "index", "text", "finished"} per line (finished: it ended with EOS)."""
    rows = _read_prompts(prompts_file)
    backend = config.backend
    if backend == "auto":
        backend = "vllm" if vllm_usable() else "transformers"
    elif backend == "vllm" and not vllm_usable():
        raise RuntimeError("backend vllm: needs the vllm package and a GPU")
    batches = [rows[i : i + config.batch_size] for i in range(0, len(rows), config.batch_size)]
    events.emit("start", total_steps=len(batches))
    events.emit("log", message=f"{len(rows)} prompts x {config.k} answers with {backend}")
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    sample = _vllm_sampler if backend == "vllm" else _transformers_sampler
    written = finished = 0
    lengths: list[int] = []
    with open(Path(work_dir, SAMPLES_FILE), "w", encoding="utf-8") as out:
        for step, samples in enumerate(sample(config, model_dir, batches), 1):
            for sample_row in samples:
                out.write(json.dumps(sample_row, ensure_ascii=False) + "\n")
                written += 1
                finished += bool(sample_row["finished"])
                lengths.append(sample_row["tokens"])
            events.emit("progress", step=step, total_steps=len(batches))
    metrics = {
        "samples": float(written),
        "eos_rate": finished / written if written else 0.0,
        "mean_tokens": sum(lengths) / len(lengths) if lengths else 0.0,
    }
    events.emit("metrics", step=len(batches), values=metrics)
    return metrics


Samples = list[dict[str, Any]]


def _transformers_sampler(
    config: GenerateRunConfig, model_dir: str, batches: list[list[dict[str, Any]]]
) -> Iterator[Samples]:
    """transformers' generate(), a batch of prompts at a time, left-padded."""
    import torch
    from transformers import AutoTokenizer

    from .adapters import load_policy
    from .ppo_rollout import encode_prompt

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load_policy(
        model_dir,
        dtype=torch.bfloat16
        if device == "cuda" and torch.cuda.is_bf16_supported()
        else torch.float32,
    )
    model.to(device).eval()  # type: ignore[arg-type]  # transformers' stub types .to() oddly
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    eos_id = tokenizer.eos_token_id
    for batch in batches:
        prompts = [
            encode_prompt(tokenizer, row["prompt"], config.max_prompt_length) for row in batch
        ]
        width = max(len(ids) for ids in prompts)
        input_ids = torch.tensor(
            [[pad_id] * (width - len(ids)) + ids for ids in prompts], device=device
        )
        attention_mask = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device
        )
        torch.manual_seed(_batch_seed(config.seed, batch[0]["prompt_id"]))
        greedy = config.temperature == 0
        with torch.inference_mode():
            output = model.generate(  # type: ignore[misc]  # transformers' self-type
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=not greedy,
                temperature=None if greedy else config.temperature,
                top_p=None if greedy else config.top_p,
                # 0, not None: None would fall back to the model's generation_config (often 50).
                top_k=None if greedy else config.top_k,
                max_new_tokens=config.max_new_tokens,
                num_return_sequences=config.k,
                pad_token_id=pad_id,
                eos_token_id=eos_id,
            )
        responses = output[:, width:].tolist()
        samples = []
        for number, tokens in enumerate(responses):
            row = batch[number // config.k]
            ended = eos_id in tokens
            kept = tokens[: tokens.index(eos_id)] if ended else tokens
            kept = [t for t in kept if t != pad_id]
            samples.append(
                {
                    "prompt_id": row["prompt_id"],
                    "index": number % config.k,
                    "text": tokenizer.decode(kept, skip_special_tokens=True),
                    "finished": ended,
                    "tokens": len(kept),
                }
            )
        yield samples


def _vllm_sampler(
    config: GenerateRunConfig, model_dir: str, batches: list[list[dict[str, Any]]]
) -> Iterator[Samples]:
    """vLLM, the same output contract; each prompt is seeded by the job's seed and its id."""
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams  # optional extra: vllm_usable() checked it is there
    from vllm.inputs import TokensPrompt

    from .adapters import copy_without_adapters, is_adapter
    from .ppo_rollout import encode_prompt

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # vLLM reads a plain model directory: an adapter artifact is merged into a scratch copy.
    with tempfile.TemporaryDirectory(prefix="prefapp-vllm-") as scratch:
        if is_adapter(model_dir):
            model_dir = str(copy_without_adapters(model_dir, Path(scratch, "policy")))
        llm = LLM(model=model_dir, seed=config.seed)
        for batch in batches:
            requests = [
                TokensPrompt(
                    prompt_token_ids=encode_prompt(
                        tokenizer, row["prompt"], config.max_prompt_length
                    )
                )
                for row in batch
            ]
            params = [
                SamplingParams(
                    n=config.k,
                    temperature=config.temperature,
                    top_p=config.top_p,
                    top_k=config.top_k or -1,
                    max_tokens=config.max_new_tokens,
                    seed=_batch_seed(config.seed, row["prompt_id"]),
                    skip_special_tokens=True,
                )
                for row in batch
            ]
            samples = []
            for row, result in zip(
                batch, llm.generate(requests, params, use_tqdm=False), strict=True
            ):
                for index, completion in enumerate(result.outputs):
                    samples.append(
                        {
                            "prompt_id": row["prompt_id"],
                            "index": index,
                            "text": completion.text,
                            "finished": completion.finish_reason == "stop",
                            "tokens": len(completion.token_ids),
                        }
                    )
            yield samples
