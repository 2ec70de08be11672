"""What an export holds and how it is named, and options that do not apply refused: the rules
of labeling/formats/exports.py, as the download and `export_data` both follow them."""

import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from labeling.formats.exports import (
    ExportFilters,
    ExportOptions,
    ExportOptionsInvalid,
    export_filename,
)
from labeling.models import Choice, Membership
from labeling.services.exporting import export_rows
from prefcore.conversation import implicit_prompt_text
from tests.factories import make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


def test_it_joins_an_implicit_prompt_and_its_answer_as_trl_does(project, annotator):
    """TRL's implicit rows are the prompt, a space, the answer; extract_prompt splits them
    back, giving the space to the answer as TRL's explicit rows have it."""
    from trl import extract_prompt

    (pair,) = make_pairs(project, 1)
    add_judgment(pair, annotator, Choice.A)
    options = ExportOptions(implicit_prompt=True)
    (row,) = export_rows(project=project, options=options)
    question = pair.prompt.messages[0]["content"]
    a, b = pair.candidate_a.text, pair.candidate_b.text
    assert row == {"chosen": f"{question} {a}", "rejected": f"{question} {b}"}
    assert implicit_prompt_text("The sky is", " blue.") == "The sky is blue."
    multi_turn = "user: Hi\n\nassistant: "
    assert implicit_prompt_text(multi_turn, "Hello") == multi_turn + "Hello"
    split = extract_prompt({"chosen": "Why? Because.", "rejected": "Why? No."})
    assert split == {"prompt": "Why?", "chosen": " Because.", "rejected": " No."}


@pytest.mark.parametrize(
    "options, refused",
    [
        ({"kind": "judgments", "aggregate": "majority"}, "does not apply to raw judgments"),
        ({"kind": "hh-rlhf", "conversational": True}, "only apply to TRL preference rows"),
        ({"kind": "judgments", "with_margin": True}, "only apply to TRL preference rows"),
        ({"with_confidence": True}, "confidence is a per-pair number"),
        (
            {
                "filters": ExportFilters(
                    since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)
                )
            },
            "the period is empty",
        ),
    ],
)
def test_it_refuses_options_that_do_not_apply(options, refused):
    with pytest.raises(ExportOptionsInvalid, match=refused):
        ExportOptions(**options)


def test_it_names_a_file_after_what_it_holds():
    options = ExportOptions(
        kind="trl",
        aggregate="dawid-skene",
        conversational=True,
        file_format="parquet",
        with_confidence=False,
        filters=ExportFilters(
            until=datetime(2026, 3, 1, tzinfo=UTC),
            annotators=("ann a", "b"),
            min_quality=0.7,
            include_gold=False,
            include_excluded=True,
        ),
    )
    assert export_filename(project_slug="demo", options=options) == (
        "demo-trl-dawid-skene-conversational-no-confidence-before-2026-03-01-2-annotators-"
        "quality-0.7-no-gold-with-excluded.parquet"
    )
    raw = ExportOptions(kind="judgments", file_format="hf")
    assert export_filename(project_slug="demo", options=raw) == "demo-judgments.zip"


def test_the_command_follows_the_same_rules(project, annotator, tmp_path):
    (pair,) = make_pairs(project, 1)
    add_judgment(pair, annotator, Choice.A)
    with pytest.raises(CommandError, match="does not apply to raw judgments"):
        call_command(
            "export_data",
            project=project.slug,
            format="judgments",
            aggregate="majority",
            output=str(tmp_path / "x.jsonl"),
        )
    # A folder: the file is named as its download would be.
    call_command("export_data", project=project.slug, aggregate="majority", output=str(tmp_path))
    written = tmp_path / f"{project.slug}-trl-majority.jsonl"
    assert len(written.read_text().splitlines()) == 1
    # Empty: said why, and no file left behind (an earlier file is kept as it was).
    Membership.objects.filter(project=project).update(excluded_from_exports=True)
    with pytest.raises(CommandError, match="excluded from exports"):
        call_command("export_data", project=project.slug, output=str(written))
    assert json.loads(written.read_text())["chosen"] == pair.candidate_a.text
    assert not (tmp_path / "x.jsonl").exists()
