"""Apply a trained reward model to (prompt, response) text, formatted as it was in training.

A reward model only means something on inputs shaped like the ones it was trained on. TRL's
RewardTrainer (trl 1.16, `RewardTrainer._prepare_dataset`) builds them as:
  - standard rows:       tokenizer(prompt + response [+ eos_token if the response lacks it])
                         i.e. with the tokenizer's own special tokens (a BOS for Llama-like ones);
  - conversational rows: tokenizer.apply_chat_template(prompt + response_messages, tokenize=True)
                         (no generation prompt; the template closes the assistant turn itself),
                         or, when the tokenizer has no chat template, the standard form of the
                         row flattened by prefcore's prompt_text and data.response_text, as training
                         flattened it (and as the labelling export writes standard rows);
then right-pads with the pad token (falling back to EOS) and reads the logit of the last non-pad
token. `reward_model_input_ids` reproduces this; a test compares it with TRL's own output, token
for token. This is the one scorer PPO, RLOO/GRPO, evaluation and active learning all use.

Note that TRL's RLOO/GRPO trainers, given a reward *model*, format texts differently (no EOS and
no BOS for standard rows), which is why the adapter passes them this scorer as a reward function.
"""

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from prefcore.conversation import prompt_text

from .artifact import ARTIFACT_FILE
from .data import has_chat_template, response_text

Prompt = str | list[dict[str, str]]
Response = str | list[dict[str, str]]


class Scorer(Protocol):
    """Anything that scores responses to prompts; PPO and the TRL reward function take one."""

    def score(self, prompts: Sequence[Prompt], responses: Sequence[Response]) -> list[float]: ...


def as_messages(response: Response) -> list[dict[str, str]]:
    """A plain-text response to a conversational prompt is one assistant message."""
    if isinstance(response, str):
        return [{"role": "assistant", "content": response}]
    return list(response)


def reward_model_input_ids(tokenizer: Any, prompt: Prompt, response: Response) -> list[int]:
    """Token ids of one (prompt, response), exactly as TRL's RewardTrainer tokenises a row."""
    if not isinstance(prompt, str) and not has_chat_template(tokenizer):
        # Training flattened such rows to text (data.rows_for_tokenizer); so does scoring.
        prompt, response = prompt_text(list(prompt)), response_text(response)
    if isinstance(prompt, str):
        if not isinstance(response, str):
            raise TypeError("a plain-text prompt needs a plain-text response")
        eos = tokenizer.eos_token
        text = prompt + response if response.endswith(eos) else prompt + response + eos
        return list(tokenizer(text=text)["input_ids"])
    messages = list(prompt) + as_messages(response)
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, tools=None)
    return list(encoded["input_ids"])


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Give a tokenizer the EOS and pad tokens training needs; training and scoring both call it.

    Encoders such as BERT have no EOS token: TRL's RewardTrainer then fails appending `None` to
    every standard row, so their end-of-sequence token (SEP) stands in. Llama-style tokenizers
    ship without a pad token, so EOS pads (as RewardTrainer itself falls back to).
    """
    if tokenizer.eos_token is None and getattr(tokenizer, "sep_token", None) is not None:
        tokenizer.eos_token = tokenizer.sep_token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def truncate_keeping_special_tokens(
    ids: list[int], max_length: int, special_ids: set[int]
) -> list[int]:
    """`ids` cut to `max_length` by dropping text from the start, keeping the special tokens
    that open the sequence (BOS, an encoder's CLS) and the end of the text with its closing
    tokens: a decoder's score is read at the last token, an encoder's at CLS, so both stay."""
    head = 0
    while head < len(ids) and head < max_length // 2 and ids[head] in special_ids:
        head += 1
    return ids[:head] + ids[len(ids) - (max_length - head) :]


class RewardScorer:
    """A reward-model directory (model + tokenizer) that scores (prompt, response) pairs."""

    def __init__(
        self,
        model_dir: str | Path,
        device: str | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoTokenizer

        from .adapters import load_reward_model

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # The same EOS and pad tokens as in training (RewardTrainer pads with pad, else EOS).
        self.tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(model_dir))
        self.model = load_reward_model(model_dir, dtype=torch.float32)
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        # Training dropped pairs longer than max_length; scoring shortens the text instead
        # (truncate_keeping_special_tokens).
        self.max_length = (
            max_length
            or _artifact_max_length(model_dir)
            or getattr(self.model.config, "max_position_embeddings", None)
        )

    def input_ids(self, prompt: Prompt, response: Response) -> list[int]:
        ids = reward_model_input_ids(self.tokenizer, prompt, response)
        if self.max_length is not None and len(ids) > self.max_length:
            ids = truncate_keeping_special_tokens(
                ids, self.max_length, set(self.tokenizer.all_special_ids)
            )
        return ids

    def score(self, prompts: Sequence[Prompt], responses: Sequence[Response]) -> list[float]:
        import torch

        if len(prompts) != len(responses):
            raise ValueError("prompts and responses differ in length")
        scores: list[float] = []
        pad_id = self.tokenizer.pad_token_id
        for start in range(0, len(prompts), self.batch_size):
            batch = [
                self.input_ids(p, r)
                for p, r in zip(
                    prompts[start : start + self.batch_size],
                    responses[start : start + self.batch_size],
                    strict=True,
                )
            ]
            width = max(len(ids) for ids in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, ids in enumerate(batch):  # right padding, as in DataCollatorForPreference
                input_ids[row, : len(ids)] = torch.tensor(ids)
                attention_mask[row, : len(ids)] = 1
            with torch.inference_mode():
                logits = self.model(
                    input_ids=input_ids.to(self.device),
                    attention_mask=attention_mask.to(self.device),
                ).logits
            scores.extend(logits[:, 0].float().cpu().tolist())
        return scores

    def score_pair(
        self, prompt: Prompt, response_a: Response, response_b: Response
    ) -> dict[str, float]:
        """Scores of two responses and the Bradley–Terry probability that A is preferred."""
        a, b = self.score([prompt, prompt], [response_a, response_b])
        return {"score_a": a, "score_b": b, "p_a_preferred": 1.0 / (1.0 + math.exp(b - a))}


def pairwise_accuracy(scorer: Scorer, rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Held-out agreement with human choices: fraction of rows where r(chosen) > r(rejected)."""
    prompts = [r["prompt"] for r in rows]
    chosen = scorer.score(prompts, [r["chosen"] for r in rows])
    rejected = scorer.score(prompts, [r["rejected"] for r in rows])
    wins = sum(c > r for c, r in zip(chosen, rejected, strict=True))
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    return {
        "accuracy": wins / len(rows),
        "mean_margin": sum(margins) / len(rows),
        "num_pairs": len(rows),
    }


def _artifact_max_length(model_dir: str | Path) -> int | None:
    """The max_length the reward model was trained with, if it is a prefapp artifact."""
    path = Path(model_dir) / ARTIFACT_FILE
    if not path.is_file():
        return None
    value = json.loads(path.read_text()).get("config", {}).get("max_length")
    return int(value) if value else None
