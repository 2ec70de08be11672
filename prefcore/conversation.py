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


def implicit_prompt_text(prompt: str, answer: str) -> str:
    """A prompt and its answer as one text, as TRL's implicit-prompt rows are written: TRL's
    own datasets (trl-internal-testing/zen) join them with one space ("The sky is" + " blue."),
    and `trl.extract_prompt` gives that space back to the answer when it splits them again.
    No space is added when one side already brings its own (an answer imported from such a
    row starts with it; a multi-turn prompt ends in "assistant: ")."""
    if prompt[-1:].isspace() or answer[:1].isspace():
        return prompt + answer
    return prompt + " " + answer
