import csv
import io
import json
import time
import zipfile
from datetime import datetime

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.db import connection

from labeling.formats.exports import JUDGMENT_COLUMNS, ExportFilters, ExportOptions
from labeling.models import Assignment, Choice, Judgment, Membership, Prompt
from labeling.selectors_export import annotator_pseudonym
from labeling.services.exporting import (
    export_rows,
    export_to_path,
    export_write_file,
    json_timestamp,
)
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory, make_pairs
from tests.labeling.datafiles import (
    HH_ROWS,
    TRL_CONVERSATIONAL,
    TRL_STANDARD,
    add_judgment,
    import_bytes,
    jsonl,
)

pytestmark = pytest.mark.django_db
# Raw judgments on PostgreSQL are read over a connection of their own, which sees only what
# is committed: these tests commit their data (and the tables are emptied afterwards).
committed = pytest.mark.django_db(transaction=True)


def _export(project, tmp_path, name="out.jsonl", **options) -> list[dict]:
    path = tmp_path / name
    export_to_path(project=project, options=ExportOptions(**options), path=path)
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        return list(csv.DictReader(path.open(encoding="utf-8")))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    "rows, options",
    [
        (HH_ROWS, {"kind": "hh-rlhf"}),
        (TRL_STANDARD, {"kind": "trl"}),
        (TRL_CONVERSATIONAL, {"kind": "trl", "conversational": True}),
        (
            [{"chosen": "The sky is blue.", "rejected": "The sky is green."}],
            {"kind": "trl", "implicit_prompt": True},
        ),
        (
            [
                {
                    "chosen": [
                        {"role": "user", "content": "Hi ✓"},
                        {"role": "assistant", "content": "Hey"},
                    ],
                    "rejected": [
                        {"role": "user", "content": "Hi ✓"},
                        {"role": "assistant", "content": "No"},
                    ],
                }
            ],
            {"kind": "trl", "implicit_prompt": True, "conversational": True},
        ),
    ],
    ids=[
        "hh-rlhf",
        "trl-standard",
        "trl-conversational",
        "trl-implicit",
        "trl-implicit-conversational",
    ],
)
def test_it_round_trips_an_imported_file(project, tmp_path, rows, options):
    import_format = "hh-rlhf" if options["kind"] == "hh-rlhf" else "trl"
    import_bytes(project, jsonl(rows), format=import_format)
    assert _export(project, tmp_path, **options) == rows


def test_it_round_trips_very_long_unicode_texts(project, tmp_path):
    rows = [{"prompt": "Résumé → 要約?", "chosen": "✓ " * 40_000, "rejected": "✗"}]
    import_bytes(project, jsonl(rows), format="trl")
    assert _export(project, tmp_path) == rows


@pytest.mark.parametrize("name, file_format", [("out.csv", "csv"), ("out.parquet", "parquet")])
def test_it_writes_the_same_rows_as_csv_and_parquet(project, tmp_path, name, file_format):
    import_bytes(project, jsonl(TRL_CONVERSATIONAL), format="trl")
    rows = _export(project, tmp_path, name, conversational=True, file_format=file_format)
    if file_format == "csv":  # conversations are JSON inside their cell
        rows = [{key: json.loads(value) for key, value in row.items()} for row in rows]
    assert rows == TRL_CONVERSATIONAL


def test_it_writes_a_datasets_directory(project, tmp_path):
    import datasets

    import_bytes(project, jsonl(TRL_STANDARD), format="trl")
    export_to_path(project=project, options=ExportOptions(file_format="hf"), path=tmp_path / "ds")
    loaded = datasets.load_from_disk(str(tmp_path / "ds"))
    assert loaded.to_list() == TRL_STANDARD


def _crowd(project):
    """Three annotators on two pairs; the third is excluded by the manager."""
    users = [MembershipFactory(project=project).user for _ in range(3)]
    first, second = make_pairs(project, 2)
    add_judgment(
        first,
        users[0],
        Choice.A,
        strength=3,
        left_is_a=True,
        created_at=datetime.fromisoformat("2026-01-01T10:00:00+00:00"),
    )
    add_judgment(first, users[1], Choice.A, strength=1, left_is_a=False)
    add_judgment(first, users[2], Choice.B)
    add_judgment(second, users[0], Choice.TIE, rationale='same,\n"quoted"')
    add_judgment(second, users[1], Choice.B)
    return users, first, second


@committed
def test_it_writes_raw_judgments_under_pseudonyms(project, tmp_path):
    users, first, _ = _crowd(project)
    rows = _export(project, tmp_path, kind="judgments")
    assert len(rows) == 5
    assert {r["annotator"] for r in rows} == {
        annotator_pseudonym(project_id=project.pk, user_id=u.pk) for u in users[:3]
    }
    assert not any(u.username in json.dumps(rows) for u in users)
    row = rows[0]
    assert (row["pair_id"], row["choice"], row["strength"], row["shown_left"]) == (
        first.pk,
        "a",
        3,
        "a",
    )
    assert row["created_at"] == "2026-01-01T10:00:00+00:00"
    assert rows[1]["shown_left"] == "b"


def _awkward(project):
    """Texts JSON must escape, a prompt without an id, a lease time and an imported row."""
    user = MembershipFactory(project=project).user
    (pair,) = make_pairs(project, 1)
    Prompt.objects.filter(pk=pair.prompt_id).update(external_id=None)
    lease = Assignment.objects.create(
        project=project,
        pair=pair,
        annotator=user,
        left_is_a=False,
        expires_at=datetime.fromisoformat("2026-01-01T10:15:00.250+00:00"),
    )
    judgment = add_judgment(
        pair,
        user,
        Choice.B,
        rationale='tab\tslash\\ "q" \x01\x1f ✓\r\n',
        left_is_a=None,
        time_spent_ms=None,
    )
    judgment.assignment = lease
    judgment.created_at = datetime.fromisoformat("2026-01-01T10:00:00.250+00:00")
    judgment.save()
    imported = Judgment.objects.create(
        project=project, pair=pair, source="imported", choice=Choice.A
    )
    Judgment.objects.filter(pk=imported.pk).update(
        created_at=datetime.fromisoformat("2026-01-01T10:00:00.000120+00:00")
    )


@committed
@pytest.mark.parametrize("build", [_crowd, _awkward], ids=["crowd", "awkward"])
@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet"])
def test_it_writes_the_same_judgments_on_every_path(project, tmp_path, file_format, build):
    """On PostgreSQL raw judgments go through COPY; they must equal the Python rows."""
    build(project)
    options = ExportOptions(kind="judgments", file_format=file_format)
    rows = list(export_rows(project=project, options=options))
    expected = [
        {k: (json_timestamp(v) if isinstance(v, datetime) else v) for k, v in row.items()}
        for row in rows
    ]
    buffer = io.BytesIO()
    assert export_write_file(project=project, options=options, fileobj=buffer) == len(rows)
    if file_format == "jsonl":
        written = [json.loads(line) for line in buffer.getvalue().decode().splitlines()]
    elif file_format == "parquet":
        written = [
            {k: (json_timestamp(v) if isinstance(v, datetime) else v) for k, v in row.items()}
            for row in pq.read_table(io.BytesIO(buffer.getvalue())).to_pylist()
        ]
    else:
        written = list(csv.DictReader(io.StringIO(buffer.getvalue().decode())))
        expected = [
            {
                k: ""
                if v is None
                else str(v).lower()
                if isinstance(v, bool)
                else json_timestamp(v)
                if isinstance(v, datetime)
                else str(v)
                for k, v in row.items()
            }
            for row in rows
        ]
    assert written == expected
    assert connection.vendor in ("postgresql", "sqlite")


@committed
@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet"])
def test_it_exports_a_project_without_judgments(project, file_format):
    buffer = io.BytesIO()
    options = ExportOptions(kind="judgments", file_format=file_format)
    assert export_write_file(project=project, options=options, fileobj=buffer) == 0
    if file_format == "parquet":
        table = pq.read_table(io.BytesIO(buffer.getvalue()))
        assert (table.num_rows, table.column_names) == (0, list(JUDGMENT_COLUMNS))
    elif file_format == "csv":
        assert buffer.getvalue().decode().splitlines() == [",".join(JUDGMENT_COLUMNS)]
    else:
        assert buffer.getvalue() == b""


class _DiskFillsUp(io.BytesIO):
    """A file whose disk is full after its first write."""

    def write(self, data):
        if self.tell():
            raise OSError("No space left on device")
        return super().write(data if len(data) else b"-")


def _backends(at_most: int | None = None) -> int:
    """The database's server processes; with at_most, waits a little for closed connections'
    processes to end (they leave the server a moment after the client closes)."""
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            count = cursor.fetchone()[0]
        if at_most is None or count <= at_most:
            break
        time.sleep(0.05)
    return count


@committed
@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet"])
def test_a_failed_write_stops_the_export_and_closes_its_connection(
    project, monkeypatch, file_format
):
    from labeling.services import export_copy

    if connection.vendor != "postgresql":
        pytest.skip("the Python path has no connection of its own")
    monkeypatch.setattr(export_copy, "BATCH_BYTES", 64)  # a batch a row: stop mid-stream
    _crowd(project)
    before = _backends()
    options = ExportOptions(kind="judgments", file_format=file_format)
    with pytest.raises(OSError, match="No space"):
        export_write_file(project=project, options=options, fileobj=_DiskFillsUp())
    assert _backends(at_most=before) == before
    assert Judgment.objects.filter(project=project).count() == 5


@committed
def test_it_filters_by_annotator_date_gold_and_exclusion(project, tmp_path):
    users, first, second = _crowd(project)
    by = {r["judgment_id"]: r for r in _export(project, tmp_path, kind="judgments")}

    def exported(**filters):
        rows = _export(project, tmp_path, kind="judgments", filters=ExportFilters(**filters))
        return sorted(r["judgment_id"] for r in rows)

    all_ids = sorted(by)
    assert exported(annotators=(users[0].username,)) == all_ids[0:1] + all_ids[3:4]
    assert exported(until=datetime.fromisoformat("2026-01-02T00:00:00+00:00")) == all_ids[:1]
    assert exported(since=datetime.fromisoformat("2026-01-02T00:00:00+00:00")) == all_ids[1:]
    # The first pair's answers agree 2 to 1; the second's split three ways... 1 to 1.
    assert exported(min_agreement=0.6) == all_ids[:3]
    second.is_gold = True
    second.save()
    assert exported(include_gold=False) == all_ids[:3]
    Membership.objects.filter(user=users[2]).update(excluded_from_exports=True)
    assert exported() == [
        i
        for i in all_ids
        if by[i]["annotator"] != annotator_pseudonym(project_id=project.pk, user_id=users[2].pk)
    ]
    assert exported(include_excluded=True) == all_ids


def test_it_aggregates_by_majority_and_by_crowd_model(project, tmp_path):
    users = [MembershipFactory(project=project).user for _ in range(5)]
    pairs = make_pairs(project, 12)
    # Four reliable annotators agree on a; one contrarian always answers b.
    for pair in pairs:
        for user in users[:4]:
            add_judgment(pair, user, Choice.A, strength=2)
        add_judgment(pair, users[4], Choice.B)
    for aggregate in ("majority", "dawid-skene"):
        rows = _export(
            project, tmp_path, aggregate=aggregate, with_margin=True, with_confidence=True
        )
        assert len(rows) == 12
        for row, pair in zip(rows, pairs, strict=True):
            assert row["chosen"] == pair.candidate_a.text
            assert row["margin"] == 2.0
            assert 0.75 <= row["confidence"] <= 1.0
    assert (
        _export(project, tmp_path, aggregate="majority", with_confidence=True)[0]["confidence"]
        == 0.8
    )
    assert "confidence" not in _export(project, tmp_path, aggregate="majority")[0]


def test_it_exports_from_the_command_line(project, tmp_path, capsys):
    import_bytes(project, jsonl(HH_ROWS), format="hh-rlhf")
    call_command(
        "export_data", project=project.slug, format="hh-rlhf", output=str(tmp_path / "hh.parquet")
    )
    assert "Wrote 3 rows" in capsys.readouterr().out
    assert pq.read_table(tmp_path / "hh.parquet").to_pylist() == HH_ROWS


@pytest.mark.parametrize(
    "query, check",
    [
        ("kind=trl&file_format=jsonl", lambda body: len(body.splitlines()) == 2),
        ("kind=hh-rlhf&file_format=csv", lambda body: body.startswith(b"chosen,rejected")),
        ("kind=judgments&file_format=parquet", lambda body: body[:4] == b"PAR1"),
        (
            "kind=trl&file_format=hf",
            lambda body: any(
                n.endswith("dataset_info.json")
                for n in zipfile.ZipFile(io.BytesIO(body)).namelist()
            ),
        ),
        ("aggregate=majority&conversational=on&margin=on", lambda body: b'"margin"' in body),
    ],
)
# Raw judgments on PostgreSQL are read over connections of their own: the data is committed.
@pytest.mark.django_db(transaction=True)
def test_it_downloads_every_format_for_a_manager(project, manager, query, check):
    import_bytes(project, jsonl(TRL_STANDARD), format="trl")
    response = client_for(manager).get(f"/p/{project.slug}/export/?{query}")
    assert response.status_code == 200
    assert check(b"".join(response.streaming_content))


def test_it_refuses_exports_to_annotators_and_outsiders(project, annotator, outsider):
    for user in (annotator, outsider):
        response = client_for(user).get(f"/p/{project.slug}/export/?kind=judgments")
        assert response.status_code == 404
    assert UserFactory()  # someone with no membership at all is an outsider too
