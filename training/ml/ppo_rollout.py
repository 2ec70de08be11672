"""PPO's rollout: the policy with its value head, how a prompt becomes the tokens the policy
continues, and one sampled, scored batch of responses (steps 1 and part of 2 of ppo.py)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from . import data
from .config import PPORunConfig
from .rewards import shaped_scores
from .scorer import Prompt, Scorer


class PolicyWithValueHead(nn.Module):
    """A causal LM plus a scalar value head reading the same final hidden state."""

    policy: PreTrainedModel

    def __init__(self, policy: PreTrainedModel, init: str = "zero") -> None:
        super().__init__()
        self.policy = policy
        hidden_size = policy.config.get_text_config().hidden_size
        self.value_head = nn.Linear(hidden_size, 1)
        if init == "zero":
            nn.init.zeros_(self.value_head.weight)
        else:  # the reward head's initialisation in the N+ details
            nn.init.normal_(self.value_head.weight, std=1.0 / math.sqrt(hidden_size + 1))
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # A LoRA policy (peft.PeftModel) holds the transformers model with its adapters in place.
        unwrap = getattr(self.policy, "get_base_model", None)
        causal_lm: Any = unwrap() if unwrap is not None else self.policy
        hidden = causal_lm.base_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask),
            use_cache=False,
        ).last_hidden_state
        logits = causal_lm.get_output_embeddings()(hidden)
        values = self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)
        return logits, values


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    # Prompts are left-padded; positions must start at 0 on the first real token, as in generate().
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def response_logprobs(
    logits: torch.Tensor, responses: torch.Tensor, query_length: int, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of the response tokens (and entropy) at the sampling temperature."""
    response_logits = logits[:, query_length - 1 : -1].float() / temperature
    logp_all = F.log_softmax(response_logits, dim=-1)
    logprobs = torch.gather(logp_all, 2, responses.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logprobs, entropy


def encode_prompt(tokenizer: Any, prompt: Prompt, max_length: int) -> list[int]:
    """Prompt tokens the policy continues: chat template with generation prompt, or plain text
    (a conversation is flattened by data.prompt_text when the tokenizer has no chat template)."""
    if not isinstance(prompt, str) and not data.has_chat_template(tokenizer):
        prompt = data.prompt_text(list(prompt))
    if isinstance(prompt, str):
        ids = list(tokenizer(text=prompt)["input_ids"])
    else:
        ids = list(
            tokenizer.apply_chat_template(
                prompt, tokenize=True, add_generation_prompt=True, return_dict=True
            )["input_ids"]
        )
    return ids[-max_length:]


@dataclass
class Rollout:
    input_ids: torch.Tensor  # [B, Q+T] query (left-padded) + response (right-padded)
    attention_mask: torch.Tensor  # [B, Q+T]
    query_length: int  # Q
    responses: torch.Tensor  # [B, T]
    mask: torch.Tensor  # [B, T] 1 on response tokens up to and including EOS
    scores: torch.Tensor  # [B] the reward: the score shaped by rewards.shaped_scores
    has_eos: torch.Tensor  # [B] bool
    raw_scores: torch.Tensor  # [B] the reward model's score itself


@torch.no_grad()
def sample_rollout(
    model: PolicyWithValueHead,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    scorer: Scorer,
    config: PPORunConfig,
    device: torch.device,
) -> Rollout:
    pad_id, eos_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    encoded = [encode_prompt(tokenizer, p, config.max_prompt_length) for p in prompts]
    width = max(len(ids) for ids in encoded)
    query = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    query_mask = torch.zeros_like(query)
    for row, ids in enumerate(encoded):  # left padding, so every response starts at column `width`
        query[row, width - len(ids) :] = torch.tensor(ids)
        query_mask[row, width - len(ids) :] = 1
    query, query_mask = query.to(device), query_mask.to(device)
    output = model.policy.generate(  # type: ignore[operator]  # nn.Module __getattr__ typing
        input_ids=query,
        attention_mask=query_mask,
        do_sample=True,
        temperature=config.temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=config.response_length,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    responses = output[:, width:]
    is_eos = responses == eos_id
    has_eos = is_eos.any(dim=1)
    first_eos = torch.where(
        has_eos,
        is_eos.int().argmax(dim=1),
        torch.full_like(has_eos, responses.size(1), dtype=torch.long),
    )
    positions = torch.arange(responses.size(1), device=device).unsqueeze(0)
    mask = (positions <= first_eos.unsqueeze(1)).long()
    responses = torch.where(mask.bool(), responses, torch.full_like(responses, pad_id))
    texts = tokenizer.batch_decode(responses, skip_special_tokens=True)
    raw = scorer.score(list(prompts), texts)
    shaped = shaped_scores(raw, mask.sum(dim=1).tolist(), has_eos.tolist(), config)
    return Rollout(
        torch.cat([query, responses], dim=1),
        torch.cat([query_mask, mask], dim=1),
        width,
        responses,
        mask,
        torch.tensor(shaped, dtype=torch.float32, device=device),
        has_eos,
        torch.tensor(raw, dtype=torch.float32, device=device),
    )
