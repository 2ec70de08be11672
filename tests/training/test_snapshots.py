import hashlib
import json

import pytest

from labeling.formats.exports import ExportOptions
from labeling.models import Candidate, Membership, Pair
from labeling.services.exporting import export_to_path
from tests.factories import PromptFactory
from tests.training.conftest import BAD, GOOD, judge_pairs
from training.models import DatasetSnapshot
from training.services.snapshots import SnapshotRefused, snapshot_create, split_rows

pytestmark = pytest.mark.training


def test_it_freezes_rows_into_hashed_read_only_files(project, data_dir):
    judge_pairs(project, pairs=10)

    snapshot = snapshot_create(project=project, eval_fraction=0.2, seed=3)

    assert (snapshot.train_rows, snapshot.eval_rows) == (8, 2)
    train = snapshot.train_path.read_bytes()
    evaluation = snapshot.eval_path.read_bytes()
    assert hashlib.sha256(train + evaluation).hexdigest() == snapshot.content_hash
    rows = [json.loads(line) for line in (train + evaluation).decode().splitlines()]
    assert all(row["chosen"] == [{"role": "assistant", "content": GOOD}] for row in rows)
    assert snapshot.filters["conversational"] is True
    assert not snapshot.train_path.stat().st_mode & 0o222  # read-only
    assert snapshot.last_judgment_id is not None


def test_it_gives_the_same_split_and_hash_for_the_same_data_and_seed(project, data_dir):
    judge_pairs(project, pairs=10)

    first = snapshot_create(project=project, eval_fraction=0.3, seed=7)
    second = snapshot_create(project=project, eval_fraction=0.3, seed=7)

    assert first.content_hash == second.content_hash
    assert first.directory != second.directory


def test_it_keeps_every_prompt_on_one_side_of_the_split():
    rows = [{"prompt": f"p{i // 3}", "chosen": "a", "rejected": "b"} for i in range(30)]

    train, evaluation = split_rows(rows, eval_fraction=0.3, seed=1)

    assert len(train) + len(evaluation) == 30
    assert {r["prompt"] for r in train}.isdisjoint({r["prompt"] for r in evaluation})
    assert len(evaluation) == 9


def test_it_refuses_a_project_without_preference_rows_and_writes_nothing(project, data_dir):
    with pytest.raises(SnapshotRefused, match="no preference rows"):
        snapshot_create(project=project)

    assert not DatasetSnapshot.objects.exists()
    assert not list((data_dir / "snapshots").glob("*"))


def test_it_says_when_exclusions_leave_no_rows(project, data_dir):
    judge_pairs(project, pairs=2)
    Membership.objects.filter(project=project).update(excluded_from_exports=True)
    with pytest.raises(SnapshotRefused, match="by annotators excluded from exports"):
        snapshot_create(project=project)


def test_it_refuses_an_unknown_filter(project, data_dir):
    judge_pairs(project, pairs=2)

    with pytest.raises(SnapshotRefused, match="filters.colour"):
        snapshot_create(project=project, filters={"colour": "red"})


def test_a_model_without_chat_template_trains_on_the_text_the_export_writes(
    project, data_dir, tmp_path
):
    """A multi-turn prompt reads the same in an exported standard TRL row and in what the
    engine feeds the trainer from a snapshot when the tokenizer has no chat template."""
    from training.ml.data import load_preference_dataset
    from training.ml.tiny import CORPUS, build_tokenizer

    conversation = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Translate hello into French."},
        {"role": "assistant", "content": "Bonjour."},
        {"role": "user", "content": "And goodbye?"},
    ]
    prompt = PromptFactory(project=project, messages=conversation)
    good, bad = (Candidate.objects.create(prompt=prompt, text=text) for text in (GOOD, BAD))
    Pair.objects.create(project=project, prompt=prompt, candidate_a=good, candidate_b=bad)
    judge_pairs(project, pairs=1)  # judges this pair too, and adds a single-turn one
    snapshot = snapshot_create(project=project, eval_fraction=0.0)
    tokenizer = build_tokenizer(CORPUS)
    tokenizer.chat_template = None

    trained = load_preference_dataset(
        snapshot.train_path, use_margin=False, tokenizer=tokenizer, announce=False
    ).to_list()
    export_to_path(project=project, options=ExportOptions(kind="trl"), path=tmp_path / "t.jsonl")
    exported = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]

    assert exported == trained
    assert exported[0] == {
        "prompt": "system: Answer briefly.\n\nuser: Translate hello into French.\n\n"
        "assistant: Bonjour.\n\nuser: And goodbye?\n\nassistant: ",
        "chosen": GOOD,
        "rejected": BAD,
    }
