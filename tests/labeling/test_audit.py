"""A person's imports, exports, exclusions and queue changes land in the project's audit log;
the same services called without a person (commands, the demo) record nothing."""

import pytest

from labeling.formats.exports import ExportOptions
from labeling.models import AuditEvent
from labeling.selectors_projects import audit_events
from labeling.services.exporting import export_spooled, export_text_pieces
from labeling.services.quality import membership_set_excluded
from labeling.services.selection import selection_set
from tests.labeling.datafiles import TRL_STANDARD, import_bytes, jsonl

pytestmark = pytest.mark.django_db


def test_it_records_what_a_manager_did_and_nothing_for_commands(project, manager, annotator):
    import_bytes(project, jsonl(TRL_STANDARD), format="trl")
    list(export_text_pieces(project=project, options=ExportOptions()))
    assert not AuditEvent.objects.exists()

    import_bytes(project, jsonl(TRL_STANDARD), format="trl", actor=manager, filename="prefs.jsonl")
    list(export_text_pieces(project=project, options=ExportOptions(), actor=manager))
    export_spooled(project=project, options=ExportOptions(file_format="csv"), actor=manager).close()
    membership_set_excluded(project=project, user_id=annotator.pk, excluded=True, actor=manager)
    membership_set_excluded(project=project, user_id=annotator.pk, excluded=False, actor=manager)
    selection_set(
        project=project,
        strategy="random",
        exploration_share=0.0,
        score_after="never",
        actor=manager,
    )

    events = audit_events(project=project)[::-1]
    assert [e.action for e in events] == [
        "data_imported",
        "data_exported",
        "data_exported",
        "annotators_excluded",
        "annotator_included",
        "queue_order_changed",
    ]
    assert {e.actor_name for e in events} == {"manager"}
    assert events[0].details["file"] == "prefs.jsonl"
    assert events[2].details["format"] == "csv"
    assert events[3].details["annotators"] == ["annotator"]
