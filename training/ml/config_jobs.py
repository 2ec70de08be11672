"""The configs of the kinds that train nothing: a generation job, a scoring run, an evaluation."""

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from .config_base import RunConfig

# Which prompts a generation job answers: every prompt of the project, those with fewer than k
# candidates (both leave the held-out prompts out), the held-out evaluation prompts
# (Prompt.heldout), or prompts named by id.
PROMPT_SET_HELP = (
    'Which prompts to answer: "all" (but the held-out ones), "fewer_than_k" (fewer than k '
    'candidates so far, held-out ones left out), "heldout" (the held-out evaluation prompts) '
    'or "prompts:ID,ID,...".'
)
_PROMPT_SET = re.compile(r"all|fewer_than_k|heldout|prompts:\d+(,\d+)*")
Pairing = Literal["all", "previous", "best"]


class GenerateRunConfig(RunConfig):
    """A generation job: k sampled answers per prompt from a policy become new candidates and
    pairs. The engine reads the sampling fields; the Django side reads prompt_set and pairing."""

    engine_fields: ClassVar[frozenset[str]] = frozenset()  # no TRL class: nothing is passed on

    prompt_set: str = Field("fewer_than_k", description=PROMPT_SET_HELP)
    k: int = Field(2, ge=1, le=16, description="Answers sampled per prompt.")
    pairing: Pairing = Field(
        "all",
        description='How new answers are paired: "all" (every pair among a prompt\'s new answers '
        'up to 4, a capped sample beyond), "previous" (each against the previous policy\'s, '
        'else the first imported, answer to the prompt) or "best" (each against the prompt\'s '
        "best existing answer).",
    )
    temperature: float = Field(
        0.7, ge=0, description="Sampling temperature; 0 = greedy (k > 1 then repeats itself)."
    )
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: keep this much mass.")
    top_k: int = Field(0, ge=0, description="Sample among the k likeliest tokens; 0 = off.")
    max_new_tokens: int = Field(64, ge=1, description="Maximum new tokens per answer.")
    max_prompt_length: int = Field(
        512, ge=1, description="Prompts are left-truncated to this many tokens."
    )
    seed: int = Field(
        0, ge=0, description="Sampling seed: the same job and seed give the same answers."
    )
    batch_size: int = Field(8, ge=1, description="Prompts per generate() call (k answers each).")
    backend: Literal["auto", "transformers", "vllm"] = Field(
        "auto",
        description="auto = vLLM when it is installed and a GPU is present, else transformers.",
    )

    @field_validator("prompt_set")
    @classmethod
    def _known_prompt_set(cls, value: str) -> str:
        value = value.replace(" ", "")
        if value.startswith("batch:"):
            raise ValueError("imports record no batch; name the prompts instead: prompts:ID,ID,...")
        if not _PROMPT_SET.fullmatch(value):
            raise ValueError(
                f'expected "all", "fewer_than_k", "heldout" or "prompts:ID,ID,...", got {value!r}'
            )
        return value


class ScoreRunConfig(RunConfig):
    """Score a project's open pairs with a reward model (active learning); trains nothing."""

    batch_size: int = Field(16, ge=1, description="Texts scored per forward pass.")
    max_length: int | None = Field(
        None,
        ge=8,
        description="Tokens kept per text (the last ones); empty: the length the reward model "
        "was trained with.",
    )


class EvaluateRunConfig(RunConfig):
    """Evaluation of a policy on held-out prompts against the round-0 policy (evaluate.py):
    both sample, the reward model scores, and nothing is trained."""

    engine_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "samples_per_prompt",
            "max_new_tokens",
            "temperature",
            "top_p",
            "batch_size",
            "confidence",
            "seed",
        }
    )

    samples_per_prompt: int = Field(
        1, ge=1, description="Responses each policy samples per held-out prompt."
    )
    max_new_tokens: int = Field(64, ge=1, description="Maximum new tokens per sampled response.")
    temperature: float = Field(
        1.0,
        gt=0,
        description="Sampling temperature; at 1.0 the KL estimate is unbiased (it uses the "
        "models' own log-probs of the sampled tokens).",
    )
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold (1 = off).")
    batch_size: int = Field(16, ge=1, description="Prompts sampled and scored per batch.")
    confidence: float = Field(
        0.95, gt=0, lt=1, description="Confidence level of the win-rate interval (Wilson)."
    )
    seed: int = Field(0, ge=0, description="Random seed of the sampling.")
