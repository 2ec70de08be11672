"""Preference JSONL -> `datasets.Dataset`, in TRL's standard or conversational format.

One row per line: {"prompt": P, "chosen": C, "rejected": R, "margin": m?}.
  - standard:        P, C, R are strings.
  - conversational:  P is a list of {"role", "content"} messages; C and R are either lists of
                     messages (TRL's format) or plain strings, which are wrapped as one assistant
                     message each (the labeling app stores a candidate as text).
A file must use one format throughout (TRL decides the format from the first row).

A tokenizer without a chat template (BERT-like encoders, many hub models) cannot render
conversational rows, so `rows_for_tokenizer` flattens them to standard text rows; training and
the scorer both go through `prompt_text`/`response_text`, so a reward model always reads text
shaped exactly as in its training. `prompt_text` (prefcore.conversation) is also what the
labelling export writes as the prompt of a standard TRL row.
"""

import json
from pathlib import Path
from typing import Any

from prefcore.conversation import prompt_text

from . import events

Messages = list[dict[str, str]]


class DataError(ValueError):
    """The preference file is malformed; the message names the line."""


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in value
    )


def _normalise_row(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a JSON object")
    for key in ("prompt", "chosen", "rejected"):
        if key not in raw:
            raise DataError(f"{where}: missing {key!r}")
    prompt = raw["prompt"]
    row: dict[str, Any] = {}
    if isinstance(prompt, str):
        row["prompt"] = prompt
        for key in ("chosen", "rejected"):
            if not isinstance(raw[key], str):
                raise DataError(f"{where}: {key!r} must be a string when the prompt is a string")
            row[key] = raw[key]
    elif _is_messages(prompt) and prompt:
        row["prompt"] = [{"role": m["role"], "content": m["content"]} for m in prompt]
        for key in ("chosen", "rejected"):
            value = raw[key]
            if isinstance(value, str):
                value = [{"role": "assistant", "content": value}]
            if not _is_messages(value) or not value:
                raise DataError(
                    f"{where}: {key!r} must be text or a list of {{role, content}} messages"
                )
            row[key] = [{"role": m["role"], "content": m["content"]} for m in value]
    else:
        raise DataError(
            f"{where}: 'prompt' must be text or a non-empty list of {{role, content}} messages"
        )
    if raw.get("margin") is not None:
        margin = raw["margin"]
        if isinstance(margin, bool) or not isinstance(margin, int | float):
            raise DataError(f"{where}: 'margin' must be a number")
        row["margin"] = float(margin)
    return row


def read_preference_rows(path: str | Path) -> list[dict[str, Any]]:
    """Validated, normalised rows of a preference JSONL file (blank lines are skipped)."""
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{Path(path).name} line {number}"
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{where}: invalid JSON ({exc})") from None
            rows.append(_normalise_row(raw, where))
    if not rows:
        raise DataError(f"{path}: no rows")
    conversational = {isinstance(r["prompt"], list) for r in rows}
    if len(conversational) > 1:
        raise DataError(f"{path}: mixes plain-text and conversational prompts")
    has_margin = {"margin" in r for r in rows}
    if len(has_margin) > 1:
        # A column must exist in every row of a Dataset; a missing margin means "no extra strength".
        for r in rows:
            r.setdefault("margin", 0.0)
    return rows


def is_conversational_rows(rows: list[dict[str, Any]]) -> bool:
    return isinstance(rows[0]["prompt"], list)


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def response_text(response: str | Messages) -> str:
    """An answer (text or assistant messages) as plain text: the messages' contents."""
    if isinstance(response, str):
        return response
    return "\n\n".join(m["content"] for m in response)


FLATTENED_MESSAGE = (
    "conversational rows flattened to plain text: the model's tokenizer has no chat template"
)


def rows_for_tokenizer(
    rows: list[dict[str, Any]], tokenizer: Any | None, announce: bool = True
) -> list[dict[str, Any]]:
    """Rows as `tokenizer` can read them: conversational rows become standard text rows when it
    has no chat template (logged once when `announce`); other rows are returned unchanged."""
    if tokenizer is None or not rows or not is_conversational_rows(rows):
        return rows
    if has_chat_template(tokenizer):
        return rows
    if announce:
        events.emit("log", message=FLATTENED_MESSAGE)
    flat = []
    for r in rows:
        row = dict(r)
        row["prompt"] = prompt_text(r["prompt"])
        for key in ("chosen", "rejected"):
            row[key] = response_text(r[key])
        flat.append(row)
    return flat


def load_preference_dataset(
    path: str | Path, use_margin: bool = True, tokenizer: Any | None = None, announce: bool = True
):  # -> datasets.Dataset
    """Preference rows as a Dataset: prompt/chosen/rejected (+ margin when asked and present),
    flattened to text when `tokenizer` has no chat template."""
    from datasets import Dataset

    rows = rows_for_tokenizer(read_preference_rows(path), tokenizer, announce)
    if not use_margin:
        rows = [{k: v for k, v in r.items() if k != "margin"} for r in rows]
    return Dataset.from_list(rows)


def load_sft_dataset(
    path: str | Path, tokenizer: Any | None = None, announce: bool = True
):  # -> datasets.Dataset
    """Prompt-completion rows (the chosen answer is the target) for TRL's SFTTrainer."""
    from datasets import Dataset

    rows = rows_for_tokenizer(read_preference_rows(path), tokenizer, announce)
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in rows])


def load_prompt_dataset(path: str | Path, tokenizer: Any | None = None):  # -> datasets.Dataset
    """Distinct prompts, in file order, for online training (PPO, RLOO, GRPO).

    When `tokenizer` has no chat template, conversational prompts become text for the policy and
    the messages stay in a `prompt_messages` column: TRL hands extra columns to reward functions,
    so the reward model still formats the original conversation its own way.
    """
    from datasets import Dataset

    seen: set[str] = set()
    prompts: list[Any] = []
    for r in read_preference_rows(path):
        key = json.dumps(r["prompt"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            prompts.append(r["prompt"])
    if tokenizer is not None and isinstance(prompts[0], list) and not has_chat_template(tokenizer):
        events.emit("log", message=FLATTENED_MESSAGE)
        return Dataset.from_list(
            [{"prompt": prompt_text(p), "prompt_messages": p} for p in prompts]
        )
    return Dataset.from_list([{"prompt": p} for p in prompts])
