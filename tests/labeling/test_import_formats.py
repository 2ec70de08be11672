from pathlib import Path

import pytest
from django.core.management import call_command

from labeling.models import Candidate, Choice, Judgment, Pair, Prompt
from labeling.services.assignment import assignment_next
from tests.factories import ProjectFactory, UserFactory
from tests.labeling.datafiles import (
    HH_ROWS,
    TRL_CONVERSATIONAL,
    TRL_STANDARD,
    csv_bytes,
    db_counts,
    hh,
    import_bytes,
    jsonl,
    write,
)

pytestmark = pytest.mark.django_db
# Sixteen rows written for the tests in HH-RLHF's format (multi-turn ones, curly quotes, an
# empty preferred answer, two whose transcripts differ before the last turn).
HH_SAMPLE = Path(__file__).resolve().parent / "data" / "hh-rlhf-sample.jsonl"


def _preference(pair: Pair) -> tuple[str, str]:
    """(chosen text, rejected text) from the pair's one imported judgment."""
    judgment = pair.judgments.get()
    a, b = pair.candidate_a.text, pair.candidate_b.text
    return (a, b) if judgment.choice == Choice.A else (b, a)


def test_it_imports_prompts_from_jsonl_and_csv(project):
    result = import_bytes(
        project,
        jsonl(
            [
                {"id": "p1", "prompt": "Write a haiku."},
                {
                    "id": "p2",
                    "prompt": [
                        {"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Hello"},
                        {"role": "user", "content": "Tell me more"},
                    ],
                },
            ]
        ),
        format="prompts",
    )
    assert (result.prompts, result.candidates, result.pairs) == (2, 0, 0)
    import_bytes(
        project,
        csv_bytes(["id", "prompt"], [["p3", "Ünïcödé ✓ 你好"]]),
        format="prompts",
        filename="more.csv",
    )
    assert Prompt.objects.get(external_id="p3").messages == [
        {"role": "user", "content": "Ünïcödé ✓ 你好"}
    ]
    assert len(Prompt.objects.get(external_id="p2").messages) == 3
    assert Pair.objects.count() == 0


def test_it_imports_trl_standard_rows_as_pairs_with_imported_judgments(project):
    result = import_bytes(project, jsonl(TRL_STANDARD), format="trl")
    assert (result.prompts, result.pairs, result.judgments) == (2, 2, 2)
    for pair in Pair.objects.select_related("candidate_a", "candidate_b"):
        judgment = pair.judgments.get()
        assert judgment.source == Judgment.Source.IMPORTED
        assert judgment.annotator is None and judgment.left_is_a is None
        # Imported judgments count toward overlap (1 here): the pair is full.
        assert (pair.judgment_count, pair.taken, pair.is_full) == (1, 1, True)
    pair = Pair.objects.get(prompt__messages=[{"role": "user", "content": "2 + 2?"}])
    assert _preference(pair) == ("4", "5")


def test_it_serves_imported_pairs_to_annotators_while_overlap_has_room(db):
    project = ProjectFactory(overlap=2)
    import_bytes(project, jsonl(TRL_STANDARD[:1]), format="trl")
    pair = Pair.objects.get()
    assert (pair.judgment_count, pair.taken, pair.is_full) == (1, 1, False)
    first = assignment_next(project=project, annotator=UserFactory())
    assert first is not None and first.pair_id == pair.pk
    # One imported judgment + one lease = overlap: nobody else gets it.
    assert assignment_next(project=project, annotator=UserFactory()) is None


def test_it_imports_trl_conversational_rows(project):
    import_bytes(project, jsonl(TRL_CONVERSATIONAL), format="trl")
    prompt = Prompt.objects.get()
    assert prompt.messages == TRL_CONVERSATIONAL[0]["prompt"]
    assert _preference(Pair.objects.get()) == ("Paris.", "Lyon.")


def test_it_imports_trl_rows_with_an_implicit_prompt(project):
    conversation = [{"role": "user", "content": "Pick a number"}]
    import_bytes(
        project,
        jsonl(
            [
                {"chosen": "The sky is blue.", "rejected": "The sky is green."},
                {
                    "chosen": conversation + [{"role": "assistant", "content": "7"}],
                    "rejected": conversation + [{"role": "assistant", "content": "seven hundred"}],
                },
            ]
        ),
        format="trl",
    )
    first, second = Prompt.objects.order_by("id")
    assert first.messages == [{"role": "user", "content": "The sky is"}]
    assert _preference(first.pairs.get()) == (" blue.", " green.")
    assert second.messages == conversation
    assert _preference(second.pairs.get()) == ("7", "seven hundred")


def test_it_imports_hh_rlhf_with_the_shared_conversation_as_prompt(project):
    result = import_bytes(project, jsonl(HH_ROWS), format="hh-rlhf")
    assert (result.prompts, result.pairs, result.judgments) == (3, 3, 3)
    joke = Prompt.objects.get(messages__0__content="Tell me a joke")
    assert [m["role"] for m in joke.messages] == ["user", "assistant", "user"]
    assert _preference(joke.pairs.get()) == ("Knock knock.", "  No.")
    rude = Prompt.objects.get(messages__0__content="Say something rude")
    assert _preference(rude.pairs.get()) == ("", "Ok")


def test_it_imports_arena_battles_with_every_kind_of_winner(project):
    def battle(qid, winner, a="Answer A", b="Answer B"):
        question = [{"role": "user", "content": f"Question {qid}"}]
        return {
            "question_id": qid,
            "model_a": "alpha-7b",
            "model_b": "beta-13b",
            "winner": winner,
            "judge": "arena_user_1",
            "language": "English",
            "conversation_a": question + [{"role": "assistant", "content": a}],
            "conversation_b": question + [{"role": "assistant", "content": b}],
        }

    import_bytes(
        project,
        jsonl(
            [
                battle("q1", "model_a"),
                battle("q2", "model_b"),
                battle("q3", "tie"),
                battle("q4", "tie (bothbad)"),
            ]
        ),
        format="arena",
    )
    choices = {}
    for pair in Pair.objects.select_related("prompt", "candidate_a", "candidate_b"):
        judgment = pair.judgments.get()
        winner_text = {Choice.A: pair.candidate_a.text, Choice.B: pair.candidate_b.text}
        choices[pair.prompt.external_id] = winner_text.get(judgment.choice, judgment.choice)
    assert choices == {"q1": "Answer A", "q2": "Answer B", "q3": "tie", "q4": "both_bad"}
    assert set(Candidate.objects.values_list("source", flat=True)) == {"alpha-7b", "beta-13b"}
    assert Prompt.objects.get(external_id="q1").metadata["judge"] == "arena_user_1"


def test_it_adds_nothing_when_the_same_preference_file_is_imported_again(project):
    content = jsonl(HH_ROWS + [HH_ROWS[0]])  # an identical row twice is kept twice
    first = import_bytes(project, content, format="hh-rlhf")
    before = db_counts()
    second = import_bytes(project, content, format="hh-rlhf")
    assert (first.prompts, second.prompts, second.skipped_existing) == (4, 0, 4)
    assert db_counts() == before


def test_it_keeps_unicode_and_very_long_texts_intact(project):
    long_text = "Lorem ipsum ✓ 🙂 " * 6000  # ~100k characters, just under the limit
    long_text = long_text[:99_990]
    import_bytes(
        project,
        jsonl([{"prompt": "Ελληνικά; 日本語?", "chosen": long_text, "rejected": "короткий ответ"}]),
        format="trl",
    )
    pair = Pair.objects.select_related("candidate_a", "candidate_b").get()
    assert _preference(pair) == (long_text, "короткий ответ")
    assert Prompt.objects.get().messages[0]["content"] == "Ελληνικά; 日本語?"


def test_it_imports_trl_csv_files(project):
    import_bytes(
        project,
        csv_bytes(["prompt", "chosen", "rejected"], [["Say hi", "Hi!", "Go away."]]),
        format="trl",
        filename="prefs.csv",
    )
    assert _preference(Pair.objects.get()) == ("Hi!", "Go away.")


def test_it_imports_from_the_command_line(project, tmp_path, capsys):
    path = write(tmp_path, "hh.jsonl", jsonl(HH_ROWS))
    call_command("import_data", str(path), project=project.slug, format="hh-rlhf")
    assert "Imported 3 prompts" in capsys.readouterr().out
    assert Judgment.objects.filter(source=Judgment.Source.IMPORTED).count() == 3


def test_it_leaves_out_invalid_rows_only_when_asked(project):
    content = jsonl([HH_ROWS[0], {"chosen": hh("a", "b"), "rejected": hh("c", "d")}])
    result = import_bytes(project, content, format="hh-rlhf", skip_invalid=True)
    assert result.prompts == 1
    assert [(e.line, e.field) for e in result.errors] == [(2, "rejected")]


def test_it_imports_an_hh_rlhf_file(project):
    """Two rows cannot be one pair (the transcripts differ before the last turn); the importer
    names them, and leaves them out only when asked."""
    from labeling.services.importing import ImportFailed

    with pytest.raises(ImportFailed) as failed:
        import_bytes(project, HH_SAMPLE.read_bytes(), format="hh-rlhf")
    assert [(e.line, e.field) for e in failed.value.errors] == [(5, "rejected"), (12, "rejected")]
    assert db_counts() == (0, 0, 0, 0)
    result = import_bytes(project, HH_SAMPLE.read_bytes(), format="hh-rlhf", skip_invalid=True)
    assert (result.prompts, result.judgments) == (14, 14)
    longest = max(Prompt.objects.all(), key=lambda prompt: len(prompt.messages))
    assert [m["role"] for m in longest.messages] == ["user", "assistant"] * 2 + ["user"]
    assert longest.messages[-1]["content"] == "Yes, ask me one."
