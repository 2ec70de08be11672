"""One function per import format: a parsed JSON/CSV record in, an ImportRow out, or RowInvalid
naming the field. Formats are documented in README.md ("Import formats")."""

from collections.abc import Callable
from typing import Any

from labeling.formats.records import (
    ImportedJudgment,
    ImportRow,
    RowInvalid,
    as_external_id,
    as_messages,
    as_metadata,
    as_text,
    require_object,
)
from labeling.formats.transcripts import (
    as_conversation,
    common_text_prefix,
    hh_messages,
    split_shared_prompt,
)

CHOSEN_FIRST = [ImportedJudgment(first=0, second=1, choice="first")]


def prompts_row(line: int, record: Any) -> ImportRow:
    """`{"id", "prompt", "metadata"?}`; responses come later (from models)."""
    record = require_object(record, "prompt")
    return ImportRow(
        line=line,
        external_id=as_external_id(record.get("id")),
        messages=as_messages(record["prompt"], "prompt"),
        metadata=as_metadata(record),
    )


def candidates_row(line: int, record: Any) -> ImportRow:
    """`{"id", "prompt", "responses": [{"text", "model"} | "text", ...]}` (JSONL), or CSV
    columns `id, prompt, response_1, response_2, ...` with optional `model_1, model_2, ...`."""
    record = require_object(record, "prompt")
    if "responses" in record:
        raw = record["responses"]
        if not isinstance(raw, list):
            raise RowInvalid("responses", "must be a list")
    else:
        numbered = sorted(
            (int(key.split("_")[1]), key)
            for key in record
            if key.startswith("response_") and key.split("_")[1].isdigit()
        )
        if not numbered:
            raise RowInvalid("responses", "is missing")
        raw = [
            {"text": record[key], "model": record.get(f"model_{n}") or "imported"}
            for n, key in numbered
            if record[key]
        ]
    responses = []
    for index, item in enumerate(raw):
        where = f"responses[{index}]"
        if isinstance(item, str):
            responses.append((as_text(item, where), "imported"))
            continue
        if not isinstance(item, dict):
            raise RowInvalid(where, "must be a string or an object with text")
        source = item.get("model") or item.get("source") or "imported"
        if not isinstance(source, str):
            raise RowInvalid(f"{where}.model", "must be a string")
        responses.append((as_text(item.get("text"), f"{where}.text"), source[:200]))
    if len(responses) < 2:
        raise RowInvalid("responses", f"needs at least 2 responses, got {len(responses)}")
    if len({text for text, _ in responses}) < len(responses):
        raise RowInvalid("responses", "has the same text twice")
    return ImportRow(
        line=line,
        external_id=as_external_id(record.get("id")),
        messages=as_messages(record["prompt"], "prompt"),
        responses=responses,
        metadata=as_metadata(record),
    )


def trl_row(line: int, record: Any) -> ImportRow:
    """TRL preference rows: standard `{"prompt", "chosen", "rejected"}` with strings,
    conversational with lists of {role, content}, or implicit prompt (`chosen`, `rejected`
    only, the prompt being what they share)."""
    record = require_object(record, "chosen", "rejected")
    chosen, rejected = record["chosen"], record["rejected"]
    if "prompt" in record and record["prompt"] is not None:
        messages = as_messages(record["prompt"], "prompt")
        chosen_text = _assistant_text(chosen, "chosen")
        rejected_text = _assistant_text(rejected, "rejected")
        style = "conversational" if isinstance(record["prompt"], list) else "standard"
    elif isinstance(chosen, str):
        as_text(chosen, "chosen")
        as_text(rejected, "rejected")
        cut = common_text_prefix(chosen, rejected)
        if not chosen[:cut].strip():
            raise RowInvalid("prompt", "is missing, and chosen and rejected share no prompt text")
        messages = [{"role": "user", "content": chosen[:cut]}]
        chosen_text, rejected_text = chosen[cut:], rejected[cut:]
        style = "implicit"
    else:
        messages, chosen_text, rejected_text = split_shared_prompt(
            as_conversation(chosen, "chosen"),
            as_conversation(rejected, "rejected"),
            names=("chosen", "rejected"),
        )
        style = "implicit-conversational"
    return _preference(line, record, messages, chosen_text, rejected_text, {"trl_style": style})


def hh_rlhf_row(line: int, record: Any) -> ImportRow:
    """Anthropic HH-RLHF: `chosen` and `rejected` transcripts that share all but the final
    assistant turn. That turn may be empty in the real data (an empty answer was preferred)."""
    record = require_object(record, "chosen", "rejected")
    messages, chosen_text, rejected_text = split_shared_prompt(
        hh_messages(record["chosen"], "chosen"),
        hh_messages(record["rejected"], "rejected"),
        names=("chosen", "rejected"),
    )
    return _preference(line, record, messages, chosen_text, rejected_text, {}, allow_empty=True)


ARENA_WINNERS = {"model_a": "first", "model_b": "second", "tie": "tie", "tie (bothbad)": "both_bad"}


def arena_row(line: int, record: Any) -> ImportRow:
    """Chatbot-Arena battles: `model_a`, `model_b`, `winner`, `conversation_a`, `conversation_b`
    (and `question_id` as the id). Battles whose conversations differ before the last turn
    cannot be one pair and are refused."""
    record = require_object(
        record, "model_a", "model_b", "winner", "conversation_a", "conversation_b"
    )
    winner = record["winner"]
    if winner not in ARENA_WINNERS:
        raise RowInvalid("winner", f"must be one of {', '.join(ARENA_WINNERS)}, got {winner!r}")
    models = [as_text(record[name], name)[:200] for name in ("model_a", "model_b")]
    messages, text_a, text_b = split_shared_prompt(
        as_conversation(record["conversation_a"], "conversation_a"),
        as_conversation(record["conversation_b"], "conversation_b"),
        names=("conversation_a", "conversation_b"),
    )
    choice = ARENA_WINNERS[winner]
    if text_a == text_b and choice in ("first", "second"):
        raise RowInvalid("winner", "names a winner between two identical responses")
    metadata = {key: record[key] for key in ("judge", "language", "tstamp") if key in record}
    external_id = as_external_id(record.get("question_id", record.get("id")), "question_id")
    return ImportRow(
        line=line,
        external_id=external_id,
        messages=messages,
        responses=[(text_a, models[0]), (text_b, models[1])],
        metadata=metadata,
        judgments=[ImportedJudgment(first=0, second=1, choice=choice)],
        derive_id=external_id is None,
    )


def _assistant_text(value: Any, field_name: str) -> str:
    """A response as a string, or as a conversation of one assistant message."""
    if isinstance(value, str):
        return as_text(value, field_name)
    conversation = as_conversation(value, field_name)
    if len(conversation) != 1 or conversation[0]["role"] != "assistant":
        raise RowInvalid(field_name, "must be a single assistant message")
    return conversation[0]["content"]


def _preference(
    line: int,
    record: dict[str, Any],
    messages: list[dict[str, str]],
    chosen: str,
    rejected: str,
    metadata: dict[str, Any],
    *,
    allow_empty: bool = False,
) -> ImportRow:
    as_text(chosen, "chosen", allow_empty=allow_empty)
    as_text(rejected, "rejected", allow_empty=allow_empty)
    if chosen == rejected:
        raise RowInvalid("rejected", "is the same as chosen")
    external_id = as_external_id(record.get("id"))
    return ImportRow(
        line=line,
        external_id=external_id,
        messages=messages,
        responses=[(chosen, "imported"), (rejected, "imported")],
        metadata=metadata,
        judgments=CHOSEN_FIRST,
        derive_id=external_id is None,
    )


PARSERS: dict[str, Callable[[int, Any], ImportRow]] = {
    "prompts": prompts_row,
    "candidates": candidates_row,
    "trl": trl_row,
    "hh-rlhf": hh_rlhf_row,
    "arena": arena_row,
}
