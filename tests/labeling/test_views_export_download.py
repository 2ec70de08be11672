import io
import json

import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from labeling.formats.exports import JUDGMENT_COLUMNS
from labeling.models import AuditEvent, Membership
from labeling.selectors_export import annotator_pseudonym
from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from tests.conftest import assert_managers_only, client_for
from tests.factories import MembershipFactory, make_pairs

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("export_download", args=[project.slug])


def _rows(response):
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def judged(project, annotator):
    """Two annotators agree on pair 1 (strength 2 and 3); one tie on pair 2 is left out."""
    project.overlap = 2
    project.ask_strength = True
    project.save()
    first, second = make_pairs(project, 2)
    other = MembershipFactory(project=project).user
    for user, strength in ((annotator, 2), (other, 3)):
        lease = assignment_next(project=project, annotator=user)
        assert lease.pair_id == first.pk
        side = "left" if lease.left_is_a else "right"  # both prefer candidate a
        judgment_record(
            project=project, assignment_id=lease.pk, annotator=user, side=side, strength=strength
        )
    lease = assignment_next(project=project, annotator=annotator)
    judgment_record(project=project, assignment_id=lease.pk, annotator=annotator, side="tie")
    return first


def test_it_downloads_one_row_per_judgment(project, manager, judged):
    response = client_for(manager).get(_url(project))
    assert response["Content-Disposition"] == (
        f'attachment; filename="{project.slug}-trl-all.jsonl"'
    )
    rows = _rows(response)
    expected = {
        "prompt": judged.prompt.messages[0]["content"],
        "chosen": judged.candidate_a.text,
        "rejected": judged.candidate_b.text,
    }
    assert rows == [expected, expected]


def test_it_downloads_the_majority_with_a_margin(project, manager, judged):
    rows = _rows(client_for(manager).get(_url(project), {"aggregate": "majority", "margin": "on"}))
    assert len(rows) == 1
    assert rows[0]["margin"] == 2.5


def test_it_downloads_conversational_rows(project, manager, judged):
    rows = _rows(client_for(manager).get(_url(project), {"conversational": "on"}))
    assert rows[0]["prompt"] == judged.prompt.messages
    assert rows[0]["chosen"] == [{"role": "assistant", "content": judged.candidate_a.text}]


# Raw judgments on PostgreSQL are read over connections of their own: the data is committed.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_it_downloads_raw_judgments_under_pseudonyms(
    project, manager, annotator, judged, file_format
):
    response = client_for(manager).get(
        _url(project), {"kind": "judgments", "file_format": file_format}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="{project.slug}-judgments.{file_format}"'
    )
    data = b"".join(response.streaming_content)
    if file_format == "parquet":
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
    else:
        rows = [json.loads(line) for line in data.decode().splitlines()]
    assert len(rows) == 3 and list(rows[0]) == list(JUDGMENT_COLUMNS)
    assert [row["choice"] for row in rows] == ["a", "a", "tie"]
    assert [row["strength"] for row in rows] == [2, 3, None]
    mine = annotator_pseudonym(project_id=project.pk, user_id=annotator.pk)
    assert [row["annotator"] == mine for row in rows] == [True, False, True]
    assert {row["annotator"] for row in rows}.isdisjoint({annotator.username, manager.username})


def test_it_refuses_an_unknown_aggregate(project, manager):
    response = client_for(manager).get(_url(project), {"aggregate": "median"})
    assert response.status_code == 400
    assert "aggregate" in response.content.decode()


def test_it_names_the_file_after_what_it_holds(project, manager, judged):
    query = {
        "aggregate": "majority",
        "conversational": "on",
        "margin": "on",
        "since": "2026-01-02",
        "annotators": ["annotator"],
        "exclude_gold": "on",
    }
    response = client_for(manager).get(_url(project), query)
    assert response["Content-Disposition"] == (
        f'attachment; filename="{project.slug}-trl-majority-conversational-margin-'
        'since-2026-01-02-annotator-annotator-no-gold.jsonl"'
    )


def test_it_refuses_an_aggregate_that_does_not_apply_to_the_kind(project, manager, judged):
    query = {"kind": "judgments", "aggregate": "majority"}
    response = client_for(manager).get(_url(project), query)
    assert response.status_code == 400
    assert "does not apply to raw judgments" in response.content.decode()
    response = client_for(manager).get(_url(project), {"kind": "hh-rlhf", "margin": "on"})
    assert response.status_code == 400
    assert "margin only apply to TRL preference rows" in response.content.decode()
    response = client_for(manager).get(_url(project), {"confidence": "on"})
    assert response.status_code == 400 and "confidence" in response.content.decode()


def test_it_says_why_an_export_is_empty_instead_of_sending_an_empty_file(
    project, manager, annotator, judged
):
    client = client_for(manager)
    Membership.objects.filter(project=project).update(excluded_from_exports=True)
    response = client.get(_url(project))
    assert response.status_code == 200 and "Content-Disposition" not in response
    body = response.content.decode()
    assert "Nothing to export" in body and "excluded from exports" in body
    assert not AuditEvent.objects.filter(action="data_exported").exists()  # nothing was sent
    manage = client.get(reverse("manage", args=[project.slug])).content.decode()
    assert 'id="exclusion-warning"' in manage
    # Kept on request, the same judgments export again.
    assert len(_rows(client.get(_url(project), {"include_excluded": "on"}))) == 2
    assert AuditEvent.objects.filter(action="data_exported").count() == 1
    Membership.objects.filter(project=project).update(excluded_from_exports=False)
    body = client.get(_url(project), {"since": "2099-01-01"}).content.decode()
    assert "No judgment matches these filters" in body


def test_it_offers_a_searchable_annotator_filter(project, manager, annotator):
    body = client_for(manager).get(reverse("manage", args=[project.slug])).content.decode()
    assert "data-filter-input" in body and 'type="checkbox" name="annotators"' in body
    assert "prefapp/manage.js" in body and "<script>" not in body


def test_it_serves_managers_only(project):
    assert_managers_only(project, ("get", _url(project)))
