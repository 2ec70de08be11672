"""A toy preference task with a rule-based oracle, for the loop's demo, tests and benchmark.

    python -m training.ml.toy OUT_DIR        # writes OUT_DIR/policy (SFT'd) and OUT_DIR/reward

A prompt asks for a line about a topic ("Tell me about the cat."). An answer is built from four
parts, each of which is right or wrong: the opening ("Sure." or "Ugh."), the topic it talks about
(the prompt's or another), the closing ("Hope this helps!" or "Whatever.") and filler ("Blah
blah." repeated, which only makes the answer longer). The oracle scores an answer by how many
parts are right (0 to 4; -1 for an answer it cannot read), so it has no taste for length.

The start policy is a tiny Llama trained offline (plain torch, seconds on a CPU) on answers whose
parts are right or wrong with even odds: it writes every kind of answer, a quarter of a point
short of perfect on average per part, and preference learning has something to find. Everything
here is plain Python and torch: nothing is downloaded.
"""

import argparse
import random
import re
import sys
from pathlib import Path
from typing import Any

TOPICS = (
    "cat", "dog", "sea", "sun", "tree", "bird", "fish", "rain",
    "moon", "star", "bread", "book",
)  # fmt: skip
ADJECTIVES = ("big", "small", "warm", "quiet", "old", "bright", "soft", "fast")
PROMPT_TEMPLATES = (
    "Tell me about the {topic}.",
    "Write one line about the {topic}.",
    "What do you know about the {topic}?",
)
GOOD_OPENING, BAD_OPENING = "Sure.", "Ugh."
GOOD_CLOSING, BAD_CLOSING = "Hope this helps!", "Whatever."
FILLER = "Blah blah."
PARTS = ("opening", "topic", "closing", "no_filler")

_ANSWER = re.compile(
    r"^(?P<opening>Sure\.|Ugh\.) The (?P<topic>[a-z]+) is (?P<adjective>[a-z]+)\."
    r"(?P<filler>( Blah blah\.)*) (?P<closing>Hope this helps!|Whatever\.)$"
)
_PROMPT_TOPIC = re.compile(r"the (?P<topic>[a-z]+)[.?]$")


def prompt_topic(prompt: str) -> str:
    match = _PROMPT_TOPIC.search(prompt.strip())
    if match is None:
        raise ValueError(f"not a toy-task prompt: {prompt!r}")
    return match["topic"]


def answer_parts(prompt: str, answer: str) -> dict[str, bool] | None:
    """Which of the four parts of `answer` are right, or None when it is malformed."""
    match = _ANSWER.match(answer.strip())
    if match is None:
        return None
    return {
        "opening": match["opening"] == GOOD_OPENING,
        "topic": match["topic"] == prompt_topic(prompt),
        "closing": match["closing"] == GOOD_CLOSING,
        "no_filler": not match["filler"],
    }


def oracle_score(prompt: str, answer: str) -> float:
    """Right parts, 0 to 4; a malformed answer scores -1."""
    parts = answer_parts(prompt, answer)
    return -1.0 if parts is None else float(sum(parts.values()))


def oracle_prefers(prompt: str, answer_a: str, answer_b: str) -> str:
    """'a', 'b' or 'tie': the oracle's judgment of two answers (the simulated annotators' truth)."""
    a, b = oracle_score(prompt, answer_a), oracle_score(prompt, answer_b)
    return "a" if a > b else "b" if b > a else "tie"


def make_prompt(rng: random.Random, topic: str | None = None) -> str:
    template = rng.choice(PROMPT_TEMPLATES)
    return template.format(topic=topic or rng.choice(TOPICS))


def make_answer(rng: random.Random, prompt: str, right: dict[str, bool] | None = None) -> str:
    """An answer whose parts are right where `right` says (each at even odds when not given)."""
    right = right or {part: rng.random() < 0.5 for part in PARTS}
    topic = prompt_topic(prompt)
    if not right["topic"]:
        topic = rng.choice([t for t in TOPICS if t != topic])
    filler = "" if right["no_filler"] else " " + " ".join([FILLER] * rng.randint(1, 3))
    return (
        f"{GOOD_OPENING if right['opening'] else BAD_OPENING} The {topic} is "
        f"{rng.choice(ADJECTIVES)}.{filler} {GOOD_CLOSING if right['closing'] else BAD_CLOSING}"
    )


def prompts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [make_prompt(rng) for _ in range(n)]


def corpus() -> str:
    """Every word the task uses, for the tokenizer."""
    rng = random.Random(0)
    lines = [make_prompt(rng, topic) for topic in TOPICS for _ in range(3)]
    for _ in range(400):
        lines.append(make_answer(rng, make_prompt(rng)))
    return "\n".join(lines)


def build_toy_models(
    out_dir: str | Path, *, sft_steps: int = 300, seed: int = 0
) -> dict[str, Path]:
    """tiny.py's models with a toy-task tokenizer; the policy SFT'd on even-odds answers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .tiny import build_tiny_models

    paths = build_tiny_models(out_dir, corpus=corpus(), seed=seed)
    policy_dir = paths["policy"]

    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    _sft(model, tokenizer, steps=sft_steps, seed=seed)
    model.save_pretrained(policy_dir)
    return paths


def _sft(
    model: Any, tokenizer: Any, *, steps: int, seed: int, batch_size: int = 32, examples: int = 2048
) -> None:
    """Maximum likelihood of the answer tokens (the prompt masked), plain AdamW, on batches
    drawn from a set of examples tokenized once (tokenizing is most of the cost otherwise)."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    pool = []
    for _ in range(examples):
        prompt = make_prompt(rng)
        messages = [{"role": "user", "content": prompt}]
        prefix = _ids(
            tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        )
        full = _ids(
            tokenizer.apply_chat_template(
                [*messages, {"role": "assistant", "content": make_answer(rng, prompt)}],
                tokenize=True,
            )
        )
        pool.append((full, len(prefix)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = rng.sample(pool, batch_size)
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, start) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, start : len(ids)] = torch.tensor(ids[start:])
            attention[row, : len(ids)] = 1
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def _ids(encoded: Any) -> list[int]:
    """apply_chat_template(tokenize=True) returns ids or a BatchEncoding by version."""
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--sft-steps", type=int, default=300)
    args = parser.parse_args(argv)
    for name, path in build_toy_models(args.out_dir, sft_steps=args.sft_steps).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
