"""The scorer must show a reward model the same tokens TRL's RewardTrainer trained it on."""

import pytest
import torch

from tests.training.ml.conftest import trl_reward_trainer
from training.ml.data import read_preference_rows
from training.ml.scorer import RewardScorer, pairwise_accuracy, reward_model_input_ids
from training.ml.trl_adapter import load_tokenizer


@pytest.mark.parametrize("data_file", ["standard_file", "conversational_file"])
def test_it_formats_exactly_as_the_reward_trainer(tiny_models, data_file, tmp_path, request):
    path = request.getfixturevalue(data_file)
    trainer = trl_reward_trainer(tiny_models["reward"], path, tmp_path / "rm", batch_size=4)
    tokenizer = load_tokenizer(str(tiny_models["reward"]))
    rows = read_preference_rows(path)
    for row, tokenized in zip(rows, trainer.train_dataset, strict=True):
        assert (
            reward_model_input_ids(tokenizer, row["prompt"], row["chosen"])
            == tokenized["chosen_ids"]
        )
        assert (
            reward_model_input_ids(tokenizer, row["prompt"], row["rejected"])
            == tokenized["rejected_ids"]
        )
    # The end of every sequence is EOS: the reward head reads a closed answer.
    assert tokenized["chosen_ids"][-1] == tokenizer.eos_token_id


def test_it_scores_like_the_trained_model_in_training(tiny_models, conversational_file, tmp_path):
    trainer = trl_reward_trainer(
        tiny_models["reward"], conversational_file, tmp_path / "rm", batch_size=4
    )
    batch = next(iter(trainer.get_train_dataloader()))  # [chosen…, rejected…], right-padded by TRL
    with torch.no_grad():
        trl_scores = trainer.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits[:, 0]
    scorer = RewardScorer(tiny_models["reward"], device="cpu")
    rows = read_preference_rows(conversational_file)
    # The dataloader shuffles; match rows by their token ids.
    by_ids = {tuple(scorer.input_ids(r["prompt"], r["chosen"])): r for r in rows}
    half = batch["input_ids"].size(0) // 2
    for i in range(half):
        ids = tuple(
            t
            for t, m in zip(
                batch["input_ids"][i].tolist(), batch["attention_mask"][i].tolist(), strict=True
            )
            if m
        )
        row = by_ids[ids]
        assert scorer.score([row["prompt"]], [row["chosen"]])[0] == pytest.approx(
            trl_scores[i].item(), abs=1e-5
        )


def test_it_scores_a_pair_and_accuracy(tiny_models, standard_file):
    scorer = RewardScorer(tiny_models["reward"], device="cpu", batch_size=3)
    pair = scorer.score_pair("Q?", " yes", " no")
    assert 0.0 < pair["p_a_preferred"] < 1.0
    rows = read_preference_rows(standard_file)
    result = pairwise_accuracy(scorer, rows)
    assert result["num_pairs"] == len(rows) and 0.0 <= result["accuracy"] <= 1.0


@pytest.fixture
def tiny_bert(tmp_path):
    """A tiny BERT classifier: an encoder whose tokenizer has SEP and PAD but no EOS."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = "[PAD] [UNK] [CLS] [SEP] [MASK] question how are you i am well thank go away : , . ?"
    vocab = tmp_path / "vocab.txt"
    vocab.write_text(words.replace(" ", "\n") + "\n" + "\n".join("0123456789") + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=1,
    )
    directory = tmp_path / "bert"
    BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_it_trains_and_scores_an_encoder_without_eos(tiny_bert, standard_file, tmp_path):
    # Without an EOS token TRL appended None to every row and failed; SEP now closes the text.
    trainer = trl_reward_trainer(tiny_bert, standard_file, tmp_path / "rm", batch_size=4)
    tokenizer = load_tokenizer(str(tiny_bert))
    assert tokenizer.eos_token == "[SEP]"
    rows = read_preference_rows(standard_file)
    for row, tokenized in zip(rows, trainer.train_dataset, strict=True):
        ids = reward_model_input_ids(tokenizer, row["prompt"], row["chosen"])
        assert ids == tokenized["chosen_ids"] and ids[-1] == tokenizer.sep_token_id
    scorer = RewardScorer(tiny_bert, device="cpu")
    assert (
        scorer.input_ids(rows[0]["prompt"], rows[0]["chosen"])
        == trainer.train_dataset[0]["chosen_ids"]
    )


def test_it_shortens_a_long_input_keeping_its_special_tokens(tiny_bert):
    # An encoder reads its score at [CLS]: cutting the start of a long input must keep it.
    scorer = RewardScorer(tiny_bert, device="cpu", max_length=12)
    tokenizer = scorer.tokenizer
    prompt = "question " * 30 + "how are you ?"

    ids = scorer.input_ids(prompt, " i am well")

    full = reward_model_input_ids(tokenizer, prompt, " i am well")
    assert len(full) > 12 and len(ids) == 12
    assert ids[0] == tokenizer.cls_token_id
    assert ids[1:] == full[-11:]  # the end of the text and its closing [SEP]s
    assert ids[-1] == tokenizer.sep_token_id
    long_score, short_score = scorer.score([prompt, "how are you ?"], [" i am well", " i am well"])
    assert long_score == long_score and short_score == short_score  # finite, not NaN


def test_it_keeps_a_decoders_opening_bos_and_the_final_token(tiny_models):
    scorer = RewardScorer(tiny_models["reward"], device="cpu", max_length=10)
    tokenizer = scorer.tokenizer
    prompt = "Please explain how a reward model is trained from human preferences. " * 3

    ids = scorer.input_ids(prompt, " Fine.")

    full = reward_model_input_ids(tokenizer, prompt, " Fine.")
    assert len(ids) == 10 and ids[0] == tokenizer.bos_token_id == full[0]
    assert ids[1:] == full[-9:] and ids[-1] == tokenizer.eos_token_id
