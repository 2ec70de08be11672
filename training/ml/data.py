"""Preference JSONL -> `datasets.Dataset`, in TRL's standard or conversational format.

One row per line: {"prompt": P, "chosen": C, "rejected": R, "margin": m?}.
  - standard:        P, C, R are strings.
  - conversational:  P is a list of {"role", "content"} messages; C and R are either lists of
                     messages (TRL's format) or plain strings, which are wrapped as one assistant
                     message each (the labeling app stores a candidate as text).
A file must use one format throughout (TRL decides the format from the first row).
"""

import json
from pathlib import Path
from typing import Any

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


def load_preference_dataset(path: str | Path, use_margin: bool = True):  # -> datasets.Dataset
    """Preference rows as a Dataset: prompt/chosen/rejected (+ margin when asked and present)."""
    from datasets import Dataset

    rows = read_preference_rows(path)
    if not use_margin:
        rows = [{k: v for k, v in r.items() if k != "margin"} for r in rows]
    return Dataset.from_list(rows)


def load_sft_dataset(path: str | Path):  # -> datasets.Dataset
    """Prompt-completion rows (the chosen answer is the target) for TRL's SFTTrainer."""
    from datasets import Dataset

    rows = read_preference_rows(path)
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in rows])


def load_prompt_dataset(path: str | Path):  # -> datasets.Dataset
    """Distinct prompts, in file order, for online training (PPO, RLOO, GRPO)."""
    from datasets import Dataset

    seen: set[str] = set()
    prompts: list[Any] = []
    for r in read_preference_rows(path):
        key = json.dumps(r["prompt"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            prompts.append(r["prompt"])
    return Dataset.from_list([{"prompt": p} for p in prompts])
