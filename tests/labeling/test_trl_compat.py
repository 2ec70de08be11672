"""What `export_data` writes is what TRL trains on: load it with `datasets`, run a few steps.

Judgments are made through the services, exported by the management command, loaded with
`datasets.load_dataset("json", ...)` exactly as the README says, and fed to TRL's
RewardTrainer and DPOTrainer with tiny random Llama models built offline.
"""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from labeling.models import Choice, Membership
from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from tests.factories import CandidateFactory, MembershipFactory, ProjectFactory, PromptFactory

pytestmark = [pytest.mark.training, pytest.mark.django_db]

# (prompt messages, candidate texts); every annotator prefers the first candidate.
PROMPTS = [
    (
        [{"role": "user", "content": "What is the capital of France?"}],
        ["Paris is the capital of France.", "I am not sure."],
    ),
    (
        [{"role": "user", "content": "How many legs does a spider have?"}],
        ["A spider has eight legs.", "Ten, I think.", "Spiders have six legs."],
    ),
    (
        [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Translate hello into French."},
            {"role": "assistant", "content": "Bonjour."},
            {"role": "user", "content": "And goodbye?"},
        ],
        ["Au revoir.", "Hello again."],
    ),
]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from training.ml.tiny import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def judged_project():
    """Two annotators judge every pair (5 pairs); one tie is left out of preference rows."""
    project = ProjectFactory(slug="trl-compat", overlap=2, ask_strength=True)
    first_text = set()
    for messages, texts in PROMPTS:
        prompt = PromptFactory(project=project, messages=messages)
        candidates = [CandidateFactory(prompt=prompt, text=text) for text in texts]
        first_text.add(candidates[0].text)
        for i, a in enumerate(candidates):
            for b in candidates[i + 1 :]:
                project.pairs.create(prompt=prompt, candidate_a=a, candidate_b=b)
    annotators = [
        MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user for _ in range(2)
    ]
    for n, annotator in enumerate(annotators):
        while (lease := assignment_next(project=project, annotator=annotator)) is not None:
            pair = lease.pair
            if n == 1 and pair.candidate_a.text == "Ten, I think.":
                side = "tie"
            else:
                # Prefer the first-listed answer, else the shorter one (a stable, learnable rule).
                better_a = pair.candidate_a.text in first_text or (
                    pair.candidate_b.text not in first_text
                    and len(pair.candidate_a.text) <= len(pair.candidate_b.text)
                )
                side = "left" if better_a == lease.left_is_a else "right"
            judgment_record(
                project=project,
                assignment_id=lease.pk,
                annotator=annotator,
                side=side,
                strength=1 + n,
            )
    return project


def _export(project, path: Path, *options: str) -> list[dict]:
    call_command(
        "export_data", "--project", project.slug, "--format", "trl", "--output", str(path), *options
    )
    return [json.loads(line) for line in path.read_text().splitlines()]


def _load(path: Path):
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train")


def _cpu_arguments(output_dir: Path) -> dict:
    return {
        "output_dir": str(output_dir),
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-3,
        "bf16": False,
        "use_cpu": True,
        "report_to": "none",
        # TRL turns checkpointing on by default; transformers 5 names it activation_*.
        "activation_checkpointing": False,
        "save_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": 0,
    }


def _train_reward(model_dir: Path, dataset, output_dir: Path) -> dict:
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    trainer = RewardTrainer(
        model=str(model_dir),
        args=RewardConfig(**_cpu_arguments(output_dir), max_length=128),
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.train()
    return trainer.state


def _train_dpo(model_dir: Path, dataset, output_dir: Path) -> dict:
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    trainer = DPOTrainer(
        model=str(model_dir),
        args=DPOConfig(**_cpu_arguments(output_dir), max_length=128),
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.train()
    return trainer.state


def _losses(state) -> list[float]:
    return [entry["loss"] for entry in state.log_history if "loss" in entry]


def test_it_exports_standard_rows_that_trl_trains_on(judged_project, tiny_models, tmp_path):
    path = tmp_path / "prefs.jsonl"
    rows = _export(judged_project, path)
    # 5 pairs x 2 annotators, minus the one tie.
    assert len(rows) == 9
    assert all(
        isinstance(row[key], str) for row in rows for key in ("prompt", "chosen", "rejected")
    )
    assert "system: Answer briefly." in {row["prompt"].split("\n")[0] for row in rows}

    dataset = _load(path)
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected"}
    assert dataset.num_rows == 9

    reward = _train_reward(tiny_models["reward"], dataset, tmp_path / "reward")
    dpo = _train_dpo(tiny_models["policy"], dataset, tmp_path / "dpo")
    for state in (reward, dpo):
        assert state.global_step == 2
        losses = _losses(state)
        assert losses and all(loss == loss and loss > 0 for loss in losses)  # finite, not NaN


def test_it_exports_conversational_majority_rows_with_a_margin_that_trl_trains_on(
    judged_project, tiny_models, tmp_path
):
    path = tmp_path / "prefs-conv.jsonl"
    rows = _export(judged_project, path, "--conversational", "--aggregate", "majority", "--margin")
    # One row per pair; the pair with a tie and a vote has no majority and is left out.
    assert len(rows) == 4
    multi_turn = [row for row in rows if len(row["prompt"]) > 1]
    assert multi_turn[0]["prompt"] == PROMPTS[2][0]
    assert multi_turn[0]["chosen"] == [{"role": "assistant", "content": "Au revoir."}]
    assert {row["margin"] for row in rows} == {1.5}  # strengths 1 and 2 agree

    dataset = _load(path)
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected", "margin"}

    reward = _train_reward(tiny_models["reward"], dataset, tmp_path / "reward")
    dpo = _train_dpo(tiny_models["policy"], dataset.remove_columns("margin"), tmp_path / "dpo")
    assert reward.global_step == dpo.global_step == 2
    assert all(loss == loss for loss in _losses(reward) + _losses(dpo))


def test_choices_are_what_the_annotators_said(judged_project):
    # A guard for the fixture above: the tie is stored, and every other answer is a or b.
    choices = list(judged_project.judgments.values_list("choice", flat=True))
    assert choices.count(Choice.TIE) == 1
    assert len(choices) == 10
