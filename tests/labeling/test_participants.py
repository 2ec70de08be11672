"""labeling/services/participants.py: from the study link to the completion code."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from labeling.formats.exports import ExportFilters, ExportOptions
from labeling.models import Assignment, Choice, Judgment, Membership, Pair, Participant, Platform
from labeling.services.exporting import export_rows
from labeling.services.judgment import JudgmentRefused, judgment_record
from labeling.services.participants import (
    StudyRefused,
    crowd_study_save,
    participant_enter,
    participant_judgment_record,
    participant_work_next,
    study_link_is_preview,
)
from labeling.services.projects import project_archive
from tests.factories import CrowdStudyFactory, make_pairs

pytestmark = pytest.mark.django_db

PID = "5f1a2b3c4d5e6f7a8b9c0d1e"


def _params(pid=PID, **more):
    return {"PROLIFIC_PID": pid, "STUDY_ID": "study-1", "SESSION_ID": "sess-1", **more}


def _judge_next(participant, side="left"):
    """Ask for the next pair as the label page does, and answer it; None when the batch ended."""
    work = participant_work_next(
        participant_id=participant.pk, project=participant.project, annotator=participant.user
    )
    if work.assignment is None:
        return None
    judgment_record(
        project=participant.project,
        assignment_id=work.assignment.pk,
        annotator=participant.user,
        side=side,
    )
    return work.assignment


def test_it_binds_a_participant_to_one_pseudonymous_annotator_of_the_project(project):
    study = CrowdStudyFactory(project=project)
    participant = participant_enter(study=study, params=_params())
    again = participant_enter(study=study, params=_params(SESSION_ID="sess-2"))
    assert again.pk == participant.pk and again.user_id == participant.user_id
    assert again.session_id == "sess-2"  # a new session while active: the code goes there
    user = participant.user
    assert not user.has_usable_password() and not user.is_staff
    assert PID not in user.username
    assert list(Membership.objects.filter(user=user).values_list("project", "role")) == [
        (project.pk, Membership.Role.ANNOTATOR)
    ]
    assert Participant.objects.count() == 1


@pytest.mark.parametrize(
    "params, reason",
    [
        ({}, r"no valid participant id \(URL parameter PROLIFIC_PID\)"),
        (_params(pid="{{%PROLIFIC_PID%}}"), "no valid participant id"),
        (_params(pid="a b"), "no valid participant id"),
        (_params(STUDY_ID="<script>"), "study id is not valid"),
    ],
)
def test_it_refuses_a_link_without_valid_ids(project, params, reason):
    study = CrowdStudyFactory(project=project)
    with pytest.raises(StudyRefused, match=reason):
        participant_enter(study=study, params=params)
    assert not Participant.objects.exists()


def test_it_lets_a_closed_study_resume_its_participants_but_take_no_new_ones(project):
    study = CrowdStudyFactory(project=project)
    participant = participant_enter(study=study, params=_params())
    study.is_open = False
    study.save()
    assert participant_enter(study=study, params=_params()).pk == participant.pk
    with pytest.raises(StudyRefused, match="not taking new participants"):
        participant_enter(study=study, params=_params(pid="other"))


def test_it_takes_no_new_participants_into_an_archived_project(project):
    study = CrowdStudyFactory(project=project)
    project_archive(project=project, actor=None)
    study.refresh_from_db()
    with pytest.raises(StudyRefused, match="not taking new participants"):
        participant_enter(study=study, params=_params())


def test_it_ends_the_batch_after_n_judgments_with_the_completion_code(project):
    make_pairs(project, 5)
    study = CrowdStudyFactory(project=project, batch_size=3)
    participant = participant_enter(study=study, params=_params())
    assert [_judge_next(participant) is not None for _ in range(4)] == [True, True, True, False]
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    assert participant.code == "DONE1234" and not participant.ran_out_of_work
    assert participant.finished_at is not None
    assert Judgment.objects.filter(annotator=participant.user).count() == 3


def test_it_gives_the_code_when_the_project_runs_out_of_work(project):
    make_pairs(project, 2)
    study = CrowdStudyFactory(project=project, batch_size=5)
    participant = participant_enter(study=study, params=_params())
    while _judge_next(participant):
        pass
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    assert participant.ran_out_of_work and participant.code == "DONE1234"


def test_it_ends_the_batch_when_the_time_is_up_and_gives_the_pair_back(project):
    make_pairs(project, 3)
    study = CrowdStudyFactory(project=project, time_limit_minutes=10)
    participant = participant_enter(study=study, params=_params())
    work = participant_work_next(
        participant_id=participant.pk, project=project, annotator=participant.user
    )
    Participant.objects.filter(pk=participant.pk).update(
        started_at=F("started_at") - timedelta(minutes=11)
    )
    assert _judge_next(participant) is None
    participant.refresh_from_db()
    assert participant.status == Participant.Status.TIMED_OUT and participant.code == "DONE1234"
    pair = Pair.objects.get(pk=work.assignment.pair_id)
    assert pair.taken == 0  # the live lease went back to the pool


def test_it_screens_out_after_too_many_failed_gold_pairs_and_keeps_their_judgments(project):
    make_pairs(project, 2)
    make_pairs(project, 3, is_gold=True, gold_choice=Choice.A)
    study = CrowdStudyFactory(project=project, batch_size=6, max_gold_failures=1)
    participant = participant_enter(study=study, params=_params())
    assert _judge_next(participant).pair.is_gold is False  # gold_rate 0: ordinary work
    project.gold_rate = 1.0  # from now on every pair served is gold while gold is left
    project.save()
    for _ in range(2):  # both answered b where the known answer is a: two failures
        work = participant_work_next(
            participant_id=participant.pk, project=project, annotator=participant.user
        )
        assert work.assignment.pair.is_gold
        wrong = "right" if work.assignment.left_is_a else "left"
        judgment_record(
            project=project,
            assignment_id=work.assignment.pk,
            annotator=participant.user,
            side=wrong,
        )
    assert _judge_next(participant) is None
    participant.refresh_from_db()
    assert participant.status == Participant.Status.SCREENED_OUT
    assert participant.code == "SCREEN99"
    assert Membership.objects.get(user=participant.user, project=project).excluded_from_exports
    # Kept, not deleted; left out of exports (and snapshots: the same filter) by default.
    assert Judgment.objects.filter(annotator=participant.user).count() == 3
    raw = ExportOptions(kind="judgments")
    assert list(export_rows(project=project, options=raw)) == []
    everyone = ExportOptions(kind="judgments", filters=ExportFilters(include_excluded=True))
    assert len(list(export_rows(project=project, options=everyone))) == 3


def test_it_fills_in_each_platforms_parameter_names(project):
    study = crowd_study_save(project=project, platform=Platform.MTURK, batch_size=2)
    assert (study.participant_param, study.study_param, study.session_param) == (
        "workerId",
        "hitId",
        "assignmentId",
    )
    assert study.submit_to_param == "turkSubmitTo"
    study = crowd_study_save(project=project, platform=Platform.PROLIFIC, participant_param="pid")
    assert (study.participant_param, study.study_param) == ("pid", "STUDY_ID")


def test_it_takes_an_mturk_worker_and_posts_only_to_mturk(project):
    study = crowd_study_save(project=project, platform=Platform.MTURK)
    params = {"workerId": "A1B2C3D4E5F6G7", "hitId": "H1", "assignmentId": "AS1"}
    preview = {**params, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}
    assert study_link_is_preview(study=study, params=preview)
    assert not study_link_is_preview(study=study, params=params)
    for bad in ("", "https://evil.example", "https://www.mturk.com.evil.example"):
        with pytest.raises(StudyRefused, match="turkSubmitTo is not Mechanical Turk"):
            participant_enter(study=study, params={**params, "turkSubmitTo": bad})
    sandbox = "https://workersandbox.mturk.com"
    participant = participant_enter(study=study, params={**params, "turkSubmitTo": sandbox})
    assert (participant.participant_id, participant.study_id, participant.session_id) == (
        "A1B2C3D4E5F6G7",
        "H1",
        "AS1",
    )
    assert participant.submit_to == sandbox


def test_it_never_stores_past_the_batch_even_from_a_lease_left_over(project):
    """A lease that ran out just as its judgment arrived can leave a second live lease."""
    make_pairs(project, 4)
    study = CrowdStudyFactory(project=project, batch_size=2)
    participant = participant_enter(study=study, params=_params())
    _judge_next(participant)
    args = {"participant_id": participant.pk, "project": project, "annotator": participant.user}
    first = participant_work_next(**args).assignment
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(1))
    second = participant_work_next(**args).assignment
    assert second.pk != first.pk
    # The first one's judgment got in while it was still live.
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() + timedelta(1))
    participant_judgment_record(**args, assignment_id=first.pk, side="left")
    with pytest.raises(JudgmentRefused, match="batch is complete"):
        participant_judgment_record(**args, assignment_id=second.pk, side="left")
    again = participant_judgment_record(**args, assignment_id=first.pk, side="left")
    assert not again.created
    assert Judgment.objects.filter(annotator=participant.user).count() == 2


def test_it_ends_the_batch_at_the_projects_cap_when_that_is_smaller(project):
    project.judgments_per_annotator = 2
    project.save()
    make_pairs(project, 5)
    study = CrowdStudyFactory(project=project, batch_size=4)
    participant = participant_enter(study=study, params=_params())
    assert [_judge_next(participant) is not None for _ in range(3)] == [True, True, False]
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    assert not participant.ran_out_of_work  # the cap ended it, not a lack of work
