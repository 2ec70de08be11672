"""`manage.py train` refusals (the --wait path runs in test_worker.py with a real worker)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.training.conftest import judge_pairs
from training.management.follow import ProgressLines
from training.models import TrainingRun
from training.services.execution import run_config_write

pytestmark = pytest.mark.training


def test_it_refuses_a_bad_set_option_and_queues_nothing(project, data_dir, tiny_models):
    judge_pairs(project, pairs=3)

    with pytest.raises(CommandError, match="config: max_steps: expected an integer"):
        call_command(
            "train",
            "--project",
            project.slug,
            "--kind",
            "reward",
            "--base",
            str(tiny_models["policy"]),
            "--set",
            "max_steps=many",
        )

    assert not TrainingRun.objects.exists()


def test_it_needs_a_base_when_the_project_has_none(project, data_dir):
    judge_pairs(project, pairs=3)

    with pytest.raises(CommandError, match="--base: required"):
        call_command("train", "--project", project.slug, "--kind", "dpo")


def test_it_names_an_unknown_project(db):
    with pytest.raises(CommandError, match="--project: no project 'nope'"):
        call_command("train", "--project", "nope", "--kind", "reward")


def test_it_queues_a_scoring_run_of_the_open_pairs(project, data_dir, tmp_path, capsys):
    from tests.training.dashboard import fake_model_dir

    with pytest.raises(CommandError, match="no current reward model"):
        call_command("train", "--project", project.slug, "--kind", "score")
    reward = fake_model_dir(tmp_path / "rm")
    call_command("train", "--project", project.slug, "--kind", "score", "--base", str(reward))
    run = TrainingRun.objects.get()
    assert (run.kind, run.snapshot_id) == ("score", None)
    assert "of the project's open pairs" in capsys.readouterr().out


def test_it_follows_a_long_run_in_a_few_lines():
    lines = ProgressLines()
    printed = [
        line
        for step in range(0, 1001)
        if (line := lines.line("running", step, 1000, now=step * 0.1)) is not None
    ]
    # One line at the start, then one per tenth: not a line per step.
    assert printed[0] == "running, step 0/1000 (0%)"
    assert printed[-1] == "running, step 1000/1000 (100%)"
    assert len(printed) == 11
    assert lines.line("succeeded", 1000, 1000, now=100.0) == "succeeded, step 1000/1000 (100%)"


def test_it_follows_a_run_of_unknown_length_every_half_minute():
    lines = ProgressLines()
    assert lines.line("running", 1, None, now=0.0) == "running, step 1/?"
    assert lines.line("running", 2, None, now=10.0) is None
    assert lines.line("running", 3, None, now=31.0) == "running, step 3/?"
    assert lines.line("running", 3, None, now=90.0) is None  # nothing moved


def test_it_takes_a_reward_model_directory_under_the_model_roots(
    project, data_dir, tiny_models, settings, tmp_path
):
    judge_pairs(project, pairs=3)
    outside = tmp_path / "elsewhere"
    settings.PREFAPP_MODEL_ROOTS = [str(tiny_models["reward"].parent)]
    common = ["train", "--project", project.slug, "--kind", "ppo"]
    common += ["--base", str(tiny_models["policy"])]

    with pytest.raises(CommandError, match="--reward-artifact: not a model this project can use"):
        call_command(*common, "--reward-artifact", str(outside))
    assert not TrainingRun.objects.exists()

    call_command(*common, "--reward-artifact", str(tiny_models["reward"]), stdout=io.StringIO())

    run = TrainingRun.objects.get()
    assert run.reward_artifact is None and run.reward_model == str(tiny_models["reward"])
    child_config = json.loads(run_config_write(run=run).read_text())
    assert child_config["reward_model"] == str(tiny_models["reward"])
