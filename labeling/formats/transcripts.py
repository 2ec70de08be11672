"""Conversations in the shapes datasets use: HH-RLHF transcripts, and pairs of conversations
that share a prompt. Used by the importers and by the exporters, so a round trip is exact."""

import re
from typing import Any

from labeling.formats.records import RowInvalid, as_message, as_text

HUMAN, ASSISTANT = "\n\nHuman: ", "\n\nAssistant: "
_TURN = re.compile(r"\n\n(Human|Assistant): ")


def hh_messages(transcript: Any, field_name: str) -> list[dict[str, str]]:
    """`\\n\\nHuman: ...\\n\\nAssistant: ...` as [{role, content}], contents kept byte for byte."""
    if not isinstance(transcript, str):
        raise RowInvalid(field_name, f"must be a string, got {type(transcript).__name__}")
    as_text(transcript, field_name)
    parts = _TURN.split(transcript)
    if parts[0] != "":
        raise RowInvalid(field_name, "must start with '\\n\\nHuman: '")
    return [
        {"role": "user" if role == "Human" else "assistant", "content": content}
        for role, content in zip(parts[1::2], parts[2::2], strict=True)
    ]


def hh_transcript(messages: list[dict[str, str]], response: str) -> str:
    """The inverse of hh_messages for a prompt and one final assistant turn. HH has no system
    role: a system message is written as a Human turn."""
    turns = [(ASSISTANT if m["role"] == "assistant" else HUMAN) + m["content"] for m in messages]
    return "".join(turns) + ASSISTANT + response


def split_shared_prompt(
    chosen: list[dict[str, str]], rejected: list[dict[str, str]], *, names: tuple[str, str]
) -> tuple[list[dict[str, str]], str, str]:
    """(shared prompt, final assistant text of each) for two conversations that differ only in
    their final assistant turn; anything else cannot be one pair of one prompt."""
    for conversation, name in zip((chosen, rejected), names, strict=True):
        if not conversation or conversation[-1]["role"] != "assistant":
            raise RowInvalid(name, "must end with an assistant turn")
    if chosen[:-1] != rejected[:-1]:
        raise RowInvalid(
            names[1],
            f"differs from {names[0]} before the final assistant turn; only the last "
            "turn may differ",
        )
    if not chosen[:-1]:
        raise RowInvalid(names[0], "has no prompt before the final assistant turn")
    return chosen[:-1], chosen[-1]["content"], rejected[-1]["content"]


def as_conversation(value: Any, field_name: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise RowInvalid(field_name, "must be a non-empty list of {role, content}")
    return [as_message(message, f"{field_name}[{index}]") for index, message in enumerate(value)]


def common_text_prefix(first: str, second: str) -> int:
    """Where two strings part, moved back before a space as TRL's extract_prompt does."""
    index = 0
    for index, (a, b) in enumerate(zip(first, second, strict=False)):  # noqa: B007
        if a != b:
            break
    else:
        index = min(len(first), len(second))
    if index and first[index - 1] == " ":
        index -= 1
    return index
