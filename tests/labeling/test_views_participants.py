"""The manager's participants page, its study settings form and the participants CSV."""

import csv
import io

import pytest
from django.urls import reverse

from labeling.models import AuditAction, AuditEvent, CrowdStudy, Participant
from labeling.selectors_export import annotator_pseudonym
from labeling.services.judgment import judgment_record
from labeling.services.participants import participant_enter, participant_work_next
from tests.conftest import assert_managers_only, client_for
from tests.factories import CrowdStudyFactory, make_pairs

pytestmark = pytest.mark.django_db

PID = "60a1b2c3d4e5f6a7b8c9d0e1"
SETTINGS = {
    "platform": "prolific",
    "is_open": "on",
    "batch_size": "10",
    "completion_code": "C0MPLETE",
    "screened_out_code": "SCREENED",
    "completion_url": "https://app.prolific.com/submissions/complete?cc={code}",
}


@pytest.fixture
def worked(project):
    """A participant who judged one pair (2.5 s) and holds the next."""
    make_pairs(project, 3)
    study = CrowdStudyFactory(project=project)
    participant = participant_enter(
        study=study, params={"PROLIFIC_PID": PID, "STUDY_ID": "st", "SESSION_ID": "se"}
    )
    work = participant_work_next(
        participant_id=participant.pk, project=project, annotator=participant.user
    )
    judgment_record(
        project=project,
        assignment_id=work.assignment.pk,
        annotator=participant.user,
        side="left",
        time_spent_ms=2500,
    )
    return participant


def test_it_lists_participants_and_the_study_link_to_a_manager(project, manager, worked):
    response = client_for(manager).get(reverse("participants", args=[project.slug]))
    assert response.status_code == 200
    content = response.content.decode()
    assert f'data-participant="{PID}"' in content
    study = CrowdStudy.objects.get()
    link = f"/study/{study.token}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&amp;STUDY_ID="
    assert link in content


def test_it_downloads_the_participants_for_paying(project, manager, worked):
    response = client_for(manager).get(reverse("participants_export", args=[project.slug]))
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'"{project.slug}-participants.csv"')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["platform"], row["participant_id"], row["study_id"], row["session_id"]) == (
        "prolific",
        PID,
        "st",
        "se",
    )
    assert row["annotator"] == annotator_pseudonym(project_id=project.pk, user_id=worked.user_id)
    assert (row["status"], row["code"], row["judgments"]) == ("active", "", "1")
    assert row["seconds_judging"] == "2.5" and row["gold_accuracy"] == ""
    event = AuditEvent.objects.get(action=AuditAction.DATA_EXPORTED)
    assert (event.actor, event.details["kind"]) == (manager, "participants")


# Raw judgments on PostgreSQL are read over connections of their own: the data is committed.
@pytest.mark.django_db(transaction=True)
def test_it_keeps_platform_ids_out_of_the_preference_export(project, manager, worked):
    response = client_for(manager).get(
        reverse("export_download", args=[project.slug]), {"kind": "judgments"}
    )
    content = b"".join(response.streaming_content).decode()
    assert annotator_pseudonym(project_id=project.pk, user_id=worked.user_id) in content
    assert PID not in content and worked.user.username not in content


def test_it_saves_the_study_settings_with_the_platform_defaults(project, manager):
    client = client_for(manager)
    response = client.post(reverse("study_settings", args=[project.slug]), SETTINGS)
    assert response.status_code == 302
    study = CrowdStudy.objects.get(project=project)
    assert (study.batch_size, study.completion_code, study.participant_param) == (
        10,
        "C0MPLETE",
        "PROLIFIC_PID",
    )
    token = study.token
    client.post(
        reverse("study_settings", args=[project.slug]),
        {**SETTINGS, "platform": "mturk", "participant_param": ""},
    )
    study.refresh_from_db()
    assert (study.platform, study.participant_param, study.token) == ("mturk", "workerId", token)
    changes = [e.details["crowd study"] for e in AuditEvent.objects.filter(project=project)]
    assert changes[0]["platform"] == ["prolific", "mturk"]  # newest first, old and new
    assert changes[1]["batch_size"] == ["None", "10"]
    assert {e.actor for e in AuditEvent.objects.all()} == {manager}


def test_it_refuses_bad_settings_and_says_which(project, manager):
    client = client_for(manager)
    bad = {**SETTINGS, "batch_size": "0", "completion_code": "two words"}
    response = client.post(reverse("study_settings", args=[project.slug]), bad, follow=True)
    content = response.content.decode()
    assert "batch_size:" in content and "completion_code: A code is one word" in content
    assert not CrowdStudy.objects.exists()


def test_it_refuses_the_settings_without_a_csrf_token(project, manager):
    client = client_for(manager, enforce_csrf_checks=True)
    response = client.post(reverse("study_settings", args=[project.slug]), SETTINGS)
    assert response.status_code == 403
    assert not CrowdStudy.objects.exists()


def test_it_serves_managers_only(project, worked):
    assert_managers_only(
        project,
        ("get", reverse("participants", args=[project.slug])),
        ("get", reverse("participants_export", args=[project.slug])),
        ("post", reverse("study_settings", args=[project.slug]), SETTINGS),
    )
    assert Participant.objects.get().participant_id == PID
    assert CrowdStudy.objects.get().batch_size == 3  # nobody changed it
