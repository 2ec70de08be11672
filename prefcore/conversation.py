"""A conversation as plain text, for the files and models that take text, not messages.

The TRL export's standard rows, the training data of a tokenizer without a chat template and
the reward-model scorer all flatten a prompt with `prompt_text`, so a model trained on an
exported file and a model trained on a snapshot read exactly the same text.
"""

Messages = list[dict[str, str]]


def prompt_text(messages: Messages) -> str:
    """One user turn is its content alone (TRL's standard rows: prompt + answer). Anything else
    is "role: content" blocks, then an open "assistant: " turn, so the answer that follows reads
    as the assistant's next turn rather than as more of the conversation's last message."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    turns = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
    return turns + "\n\nassistant: "
