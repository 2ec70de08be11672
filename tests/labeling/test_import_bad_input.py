"""Bad input of every kind, generated with hypothesis: each file ends in a clear error that
names its line (and field), and nothing is written."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeling.formats.records import MAX_JSON_DEPTH, MAX_LINE_CHARS, MAX_TEXT_CHARS
from labeling.services.importing import ImportFailed
from tests.labeling.datafiles import (
    HH_ROWS,
    TRL_STANDARD,
    db_counts,
    hh,
    import_bytes,
    jsonl,
    write,
)

pytestmark = pytest.mark.django_db
examples = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALID = {
    "prompts": {"id": "p1", "prompt": "Hello?"},
    "candidates": {"id": "c1", "prompt": "Hello?", "responses": ["Hi", "Hey"]},
    "trl": TRL_STANDARD[0],
    "hh-rlhf": HH_ROWS[0],
    "arena": {
        "question_id": "b1",
        "model_a": "m1",
        "model_b": "m2",
        "winner": "model_a",
        "conversation_a": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
        ],
        "conversation_b": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Yo"},
        ],
    },
}
REQUIRED = {
    "prompts": ["prompt"],
    "candidates": ["prompt", "responses"],
    "trl": ["chosen", "rejected"],
    "hh-rlhf": ["chosen", "rejected"],
    "arena": ["model_a", "model_b", "winner", "conversation_a", "conversation_b"],
}
FORMATS = sorted(VALID)
# Values no text field accepts.
wrong_values = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(""),
    st.just("   "),
)


def assert_refused(
    project,
    content: bytes,
    *,
    format: str,
    filename: str = "data.jsonl",
    line: int | None = None,
    field: str | None = None,
) -> ImportFailed:
    before = db_counts()
    with pytest.raises(ImportFailed) as failed:
        import_bytes(project, content, format=format, filename=filename)
    assert db_counts() == before
    errors = failed.value.errors
    assert errors and all(str(e) for e in errors)
    if line is not None:
        assert line in [e.line for e in errors], errors
    if field is not None:
        assert any(e.field.startswith(field) for e in errors), errors
    return failed.value


@examples
@given(
    format=st.sampled_from(FORMATS),
    position=st.integers(0, 3),
    garbage=st.sampled_from(
        ['{"prompt": ', "not json", "[1, 2", '{"a": 1,}', "{'x': 1}", '"just a string"\x00']
    ),
)
def test_it_refuses_malformed_json_lines(project, format, position, garbage):
    lines = [
        json.dumps(
            VALID[format] | {"id": f"r{i}"}
            if format in ("prompts", "candidates")
            else VALID[format]
        )
        for i in range(3)
    ]
    lines.insert(position, garbage)
    # Preference rows without ids get ids from their content; identical rows are allowed.
    assert_refused(project, ("\n".join(lines) + "\n").encode(), format=format, line=position + 1)


@examples
@given(format=st.sampled_from(FORMATS), data=st.data())
def test_it_refuses_missing_fields(project, format, data):
    field = data.draw(st.sampled_from(REQUIRED[format]))
    record = {k: v for k, v in VALID[format].items() if k != field}
    assert_refused(project, jsonl([VALID[format], record]), format=format, line=2, field=field)


@examples
@given(format=st.sampled_from(FORMATS), data=st.data(), value=wrong_values)
def test_it_refuses_fields_of_the_wrong_type(project, format, data, value):
    field = data.draw(st.sampled_from(REQUIRED[format]))
    record = VALID[format] | {field: value}
    assert_refused(project, jsonl([record]), format=format, line=1, field=field)


@examples
@given(
    format=st.sampled_from(FORMATS),
    record=st.one_of(
        st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=5), st.none()
    ),
)
def test_it_refuses_rows_that_are_not_objects(project, format, record):
    assert_refused(project, jsonl([record]), format=format, line=1)


@examples
@given(
    format=st.sampled_from(["prompts", "candidates", "trl", "arena"]),
    first=st.integers(1, 4),
    gap=st.integers(1, 3),
)
def test_it_refuses_duplicate_ids(project, format, first, gap):
    key = "question_id" if format == "arena" else "id"
    rows = [VALID[format] | {key: f"row-{i}"} for i in range(first + gap + 1)]
    rows[first + gap] = rows[first + gap] | {key: f"row-{first}"}
    failed = assert_refused(project, jsonl(rows), format=format, line=first + gap + 1)
    assert f"first on line {first + 1}" in str(failed)


@examples
@given(format=st.sampled_from(FORMATS), blank=st.sampled_from(["", "\n", "\n\n  \n", "\ufeff"]))
def test_it_refuses_empty_files(project, format, blank):
    failed = assert_refused(project, blank.encode(), format=format)
    assert "empty" in str(failed) or "no valid rows" in str(failed)


@examples
@given(format=st.sampled_from(["trl", "candidates"]), extra=st.integers(1, 1000))
def test_it_refuses_texts_over_the_size_limit(project, format, extra):
    long_text = "x" * (MAX_TEXT_CHARS + extra)
    record = (
        {"prompt": "Q", "chosen": long_text, "rejected": "short"}
        if format == "trl"
        else {"prompt": "Q", "responses": [long_text, "short"]}
    )
    failed = assert_refused(project, jsonl([VALID[format], record]), format=format, line=2)
    assert "limit" in str(failed)


def test_it_refuses_lines_and_files_over_their_limits(project):
    huge_line = json.dumps({"prompt": "y" * MAX_LINE_CHARS}).encode() + b"\n"
    failed = assert_refused(project, huge_line, format="prompts", line=1)
    assert "line limit" in str(failed)
    with override_settings(PREFAPP_MAX_IMPORT_BYTES=100):
        failed = assert_refused(project, jsonl(TRL_STANDARD * 5), format="trl")
    assert "import limit" in str(failed)


@examples
@given(
    case=st.sampled_from(
        [
            ("prompts", 'id,prompt\n"unterminated,Hello\n'),
            ("prompts", "id,prompt\np1,Hello,extra cell\n"),
            ("prompts", "id,prompt\np1,Hello\np1,Again\n"),
            ("prompts", "id,question\np1,Hello\n"),
            ("trl", "prompt,chosen,rejected\nQ,,B\n"),
            ("trl", "chosen,rejected\n1,1\n"),
            ("trl", 'prompt,chosen,rejected\nQ,"A\n'),
        ]
    ),
    header_bom=st.booleans(),
)
def test_it_refuses_malformed_csv(project, case, header_bom):
    format, text = case
    content = ("\ufeff" if header_bom else "") + text
    assert_refused(project, content.encode(), format=format, filename="data.csv")


def test_it_refuses_files_that_are_not_utf8(project):
    failed = assert_refused(
        project, "prompt\nCafé\n".encode("latin-1"), format="prompts", filename="data.csv"
    )
    assert "UTF-8" in str(failed)


@pytest.mark.parametrize(
    "format, record, field",
    [
        ("hh-rlhf", {"chosen": "Human: no leading blank line", "rejected": hh("a", "b")}, "chosen"),
        ("hh-rlhf", {"chosen": hh("q", "same"), "rejected": hh("q", "same")}, "rejected"),
        ("hh-rlhf", {"chosen": hh("q"), "rejected": hh("q")}, "chosen"),
        ("trl", {"chosen": "Same start", "rejected": "Different"}, "prompt"),
        (
            "trl",
            {"prompt": "Q", "chosen": [{"role": "user", "content": "x"}], "rejected": "r"},
            "chosen",
        ),
        ("arena", VALID["arena"] | {"winner": "model_c"}, "winner"),
        (
            "arena",
            VALID["arena"]
            | {
                "conversation_b": [
                    {"role": "user", "content": "Other question"},
                    {"role": "assistant", "content": "Yo"},
                ]
            },
            "conversation_b",
        ),
    ],
)
def test_it_names_the_field_of_format_specific_mistakes(project, format, record, field):
    assert_refused(project, jsonl([record]), format=format, line=1, field=field)


def _nested(depth: int) -> str:
    """A prompts row whose metadata nests lists `depth` levels under the row's two levels."""
    return f'{{"id": "deep", "prompt": "Hi", "metadata": {{"x": {"[" * depth}{"]" * depth}}}}}'


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 200_000])
def test_it_refuses_json_nested_too_deep_naming_the_line(project, depth):
    content = jsonl([VALID["prompts"]]) + (_nested(depth) + "\n").encode()
    failed = assert_refused(project, content, format="prompts", line=2)
    assert f"line 2: nests arrays or objects more than {MAX_JSON_DEPTH} levels deep" in str(failed)


def test_it_imports_json_nested_within_the_limit(project):
    import_bytes(project, (_nested(MAX_JSON_DEPTH - 2) + "\n").encode(), format="prompts")
    assert db_counts()[0] == 1


def test_the_import_command_names_the_line_of_json_nested_too_deep(project, tmp_path, capsys):
    path = write(tmp_path, "deep.jsonl", jsonl([VALID["prompts"]]) + _nested(200_000).encode())
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("import_data", str(path), project=project.slug, format="prompts")
    assert f"deep.jsonl: line 2: nests arrays or objects more than {MAX_JSON_DEPTH}" in (
        capsys.readouterr().err
    )
    assert db_counts() == (0, 0, 0, 0)


def test_it_points_at_the_column_where_a_cut_off_row_ends(project):
    cut = '{"id": "c2", "prompt": "Hi", "responses": ['
    content = (json.dumps(VALID["candidates"]) + "\n" + cut + "\n").encode()
    failed = assert_refused(project, content, format="candidates", line=2)
    assert f"the line ends at column {len(cut)} before the record does" in str(failed.errors[0])
    bad = '{"id": "c3", "prompt": "Hi" "responses": []}'
    failed = assert_refused(project, (bad + "\n").encode(), format="candidates", line=1)
    column = bad.index('"responses') + 1
    assert f"(Expecting ',' delimiter at column {column})" in str(failed.errors[0])


def test_it_says_when_a_file_is_one_json_array_not_json_lines(project):
    rows = json.dumps([VALID["candidates"]], indent=2)
    failed = assert_refused(project, rows.encode(), format="candidates", line=1)
    assert "the file looks like one JSON array" in str(failed.errors[0])
