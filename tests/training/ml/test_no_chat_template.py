"""Conversational rows train and score a model whose tokenizer has no chat template."""

from pathlib import Path

import pytest

from tests.training.ml.conftest import events_of, run_cli, write_jsonl
from training.ml.data import FLATTENED_MESSAGE, load_preference_dataset, read_preference_rows
from training.ml.scorer import RewardScorer
from training.ml.trl_adapter import load_tokenizer

ROWS = [
    {"prompt": [{"role": "user", "content": "How are you?"}], "chosen": "Well.", "rejected": "Go."},
    {
        "prompt": [
            {"role": "system", "content": "Be polite."},
            {"role": "user", "content": "Hello?"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "How are you?"},
        ],
        "chosen": [{"role": "assistant", "content": "I am well, thank you."}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
    },
] * 4


@pytest.fixture
def templateless_reward(tiny_models, tmp_path) -> Path:
    """The tiny Llama reward model, saved again without its tokenizer's chat template."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_models["reward"])
    tokenizer.chat_template = None
    directory = tmp_path / "reward-no-template"
    AutoModelForSequenceClassification.from_pretrained(tiny_models["reward"]).save_pretrained(
        directory
    )
    tokenizer.save_pretrained(directory)
    assert not AutoTokenizer.from_pretrained(directory).chat_template
    return directory


@pytest.mark.training
def test_it_trains_a_reward_model_on_flattened_rows_and_scores_them_alike(
    templateless_reward, tmp_path
):
    path = write_jsonl(tmp_path / "conversational.jsonl", ROWS)
    output_dir = tmp_path / "artifact"
    config = {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": "1e-4"}
    result = run_cli(
        {
            "kind": "reward",
            "base_model": str(templateless_reward),
            "train_file": str(path),
            "output_dir": str(output_dir),
            "config": config,
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    emitted = events_of(result.stdout)
    assert {"event": "log", "message": FLATTENED_MESSAGE} in emitted
    assert emitted[-1]["event"] == "done"

    # The tokens the trainer saw (the engine's own dataset and tokenizer) are the scorer's.
    from trl import RewardConfig, RewardTrainer

    tokenizer = load_tokenizer(str(templateless_reward))
    trainer = RewardTrainer(
        model=str(templateless_reward),
        args=RewardConfig(
            output_dir=str(tmp_path / "rm"), report_to="none", use_cpu=True, bf16=False
        ),
        train_dataset=load_preference_dataset(path, tokenizer=tokenizer, announce=False),
        processing_class=tokenizer,
    )
    scorer = RewardScorer(output_dir, device="cpu")
    rows = read_preference_rows(path)
    for row, tokenized in zip(rows[:2], trainer.train_dataset, strict=False):
        assert scorer.input_ids(row["prompt"], row["chosen"]) == tokenized["chosen_ids"]
        assert scorer.input_ids(row["prompt"], row["rejected"]) == tokenized["rejected_ids"]
    multi_turn = tokenizer.decode(trainer.train_dataset[1]["chosen_ids"])
    assert "user: Hello?\n\nassistant: Hi." in multi_turn
    assert multi_turn.endswith("user: How are you?\n\nassistant: I am well, thank you.<|eos|>")
    scores = scorer.score([r["prompt"] for r in rows[:2]], [r["chosen"] for r in rows[:2]])
    assert len(scores) == 2


@pytest.mark.training
def test_a_policy_without_template_trains_online_and_the_reward_model_reads_the_conversation(
    tiny_models, tmp_path
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.ml.config import validate_config
    from training.ml.data import load_prompt_dataset, prompt_text
    from training.ml.ppo_rollout import encode_prompt
    from training.ml.trl_adapter import reward_function

    policy = tmp_path / "policy-no-template"
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["policy"])
    tokenizer.chat_template = None
    AutoModelForCausalLM.from_pretrained(tiny_models["policy"]).save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    path = write_jsonl(tmp_path / "conversational.jsonl", ROWS)

    prompts = load_prompt_dataset(path, load_tokenizer(str(policy)))
    assert prompts[1]["prompt"] == prompt_text(ROWS[1]["prompt"])
    assert prompts[1]["prompt_messages"] == ROWS[1]["prompt"]
    assert (
        encode_prompt(tokenizer, ROWS[1]["prompt"], 512)
        == tokenizer(text=prompt_text(ROWS[1]["prompt"]))["input_ids"]
    )
    # The reward model (which has a chat template) is given the conversation, not the text.
    scorer = RewardScorer(tiny_models["reward"], device="cpu")
    reward = reward_function(scorer, tokenizer.eos_token_id, validate_config("grpo", {}))
    given = reward(
        prompts=[prompts[1]["prompt"]],
        completions=[" Fine."],
        completion_ids=[[1]],
        prompt_messages=[prompts[1]["prompt_messages"]],
    )
    assert given == pytest.approx(scorer.score([ROWS[1]["prompt"]], [" Fine."]))

    output_dir = tmp_path / "artifact-grpo"
    result = run_cli(
        {
            "kind": "grpo",
            "base_model": str(policy),
            "reward_model": str(tiny_models["reward"]),
            "train_file": str(path),
            "output_dir": str(output_dir),
            "config": {
                "max_steps": 2,
                "per_device_train_batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 8,
                "learning_rate": "1e-4",
            },
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    emitted = events_of(result.stdout)
    assert {"event": "log", "message": FLATTENED_MESSAGE} in emitted
    assert emitted[-1]["event"] == "done"
