"""The dashboard's "try it" box: sample from a policy, or score two answers with a reward model.

Both load the model on every call; they serve a manager's occasional click, not traffic.
"""

from pathlib import Path
from typing import Any

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
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .ppo import encode_prompt

    if seed is not None:
        torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
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
