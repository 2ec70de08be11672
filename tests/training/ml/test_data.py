import pytest

from tests.training.ml.conftest import write_jsonl
from training.ml.data import (
    DataError,
    load_preference_dataset,
    load_prompt_dataset,
    load_sft_dataset,
    read_preference_rows,
)


def test_it_reads_standard_rows(standard_file):
    dataset = load_preference_dataset(standard_file)
    assert dataset.column_names == ["prompt", "chosen", "rejected", "margin"]
    assert dataset[1]["margin"] == 1.0
    assert "margin" not in load_preference_dataset(standard_file, use_margin=False).column_names


def test_it_wraps_text_answers_of_conversational_prompts(conversational_file):
    row = load_preference_dataset(conversational_file)[0]
    assert row["prompt"] == [{"role": "user", "content": "Question 0: how are you?"}]
    assert row["chosen"] == [{"role": "assistant", "content": "I am well, thank you."}]


def test_it_builds_sft_and_prompt_datasets(conversational_file, tmp_path):
    assert load_sft_dataset(conversational_file).column_names == ["prompt", "completion"]
    path = write_jsonl(
        tmp_path / "dupes.jsonl",
        [{"prompt": "a", "chosen": "x", "rejected": "y"}] * 3
        + [{"prompt": "b", "chosen": "x", "rejected": "y"}],
    )
    assert load_prompt_dataset(path)["prompt"] == ["a", "b"]


def test_it_fills_a_missing_margin_with_zero(tmp_path):
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"prompt": "a", "chosen": "x", "rejected": "y", "margin": 2},
            {"prompt": "b", "chosen": "x", "rejected": "y"},
        ],
    )
    assert [r["margin"] for r in read_preference_rows(path)] == [2.0, 0.0]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"prompt": "a", "chosen": "x"}', "line 2: missing 'rejected'"),
        ('{"prompt": "a", "chosen": ["x"], "rejected": "y"}', "line 2: 'chosen' must be a string"),
        ('{"prompt": 3, "chosen": "x", "rejected": "y"}', "line 2: 'prompt'"),
        ('{"prompt": "a", "chosen": "x", "rejected": "y", "margin": "big"}', "line 2: 'margin'"),
        ("not json", "line 2: invalid JSON"),
    ],
)
def test_it_names_the_bad_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "chosen": "x", "rejected": "y"}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        read_preference_rows(path)
