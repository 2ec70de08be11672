"""The toy task's oracle: it scores the parts of an answer, never its length."""

import random

import pytest

from training.ml import toy


def test_it_scores_each_right_part():
    prompt = "Tell me about the cat."
    assert toy.oracle_score(prompt, "Sure. The cat is warm. Hope this helps!") == 4
    assert toy.oracle_score(prompt, "Ugh. The cat is warm. Hope this helps!") == 3
    assert toy.oracle_score(prompt, "Sure. The dog is warm. Hope this helps!") == 3
    assert toy.oracle_score(prompt, "Sure. The cat is warm. Blah blah. Whatever.") == 2
    assert toy.oracle_score(prompt, "Ugh. The sea is old. Blah blah. Blah blah. Whatever.") == 0


def test_it_scores_a_malformed_answer_below_every_readable_one():
    prompt = "What do you know about the moon?"
    assert toy.oracle_score(prompt, "Sure moon moon moon") == -1
    assert toy.oracle_score(prompt, "") == -1
    assert toy.oracle_prefers(prompt, "Ugh. The sea is old. Whatever.", "moon") == "a"


def test_it_prefers_the_higher_score_and_calls_equal_scores_a_tie():
    prompt = "Write one line about the book."
    good, bad = "Sure. The book is old. Hope this helps!", "Ugh. The book is old. Whatever."
    assert toy.oracle_prefers(prompt, good, bad) == "a"
    assert toy.oracle_prefers(prompt, bad, good) == "b"
    assert toy.oracle_prefers(prompt, good, good.replace("old", "soft")) == "tie"


def test_it_makes_answers_with_the_parts_asked_for():
    rng = random.Random(3)
    for _ in range(50):
        prompt = toy.make_prompt(rng)
        right = {part: rng.random() < 0.5 for part in toy.PARTS}
        assert toy.answer_parts(prompt, toy.make_answer(rng, prompt, right)) == right


def test_it_refuses_a_prompt_of_another_task():
    with pytest.raises(ValueError, match="not a toy-task prompt"):
        toy.prompt_topic("Count to ten")
