"""Crowd participants: from the study link to their completion code.

A participant opens the project's study link (Prolific, Mechanical Turk or another platform);
`participant_enter` binds their platform id to one pseudonymous annotator of that project
(no password, no other project), the same one when they come back or arrive twice at once.
They label through the ordinary leases; `participant_work_next` is the batch's stop rule,
asked before every pair: the batch is full, the time is up, they failed more attention checks
(gold pairs) than the study allows, or the project has no work left. Then `participant_finish`
gives them a code: the completion code, or the screened-out code, and a screened-out
participant's judgments leave exports and snapshots the way any excluded annotator's do
(`Membership.excluded_from_exports`, labeling/services/quality.py): kept, not deleted.
"""

import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from labeling.models import Assignment, AuditAction, Judgment, Membership, Project
from labeling.models_crowd import PLATFORM_PARAMS, CrowdStudy, Participant, Platform
from labeling.selectors import judged_count, judgment_target
from labeling.selectors_participants import PARTICIPANT_COLUMNS, participant_csv_rows
from labeling.services.assignment import assignment_current, assignment_next, assignment_skip
from labeling.services.audit import audit_record
from labeling.services.exporting import csv_lines
from labeling.services.judgment import JudgmentRefused, Recorded, judgment_record
from labeling.services.quality import membership_set_excluded

# MTurk previews a HIT with this assignment id: a worker who has not accepted it yet.
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
# The only places a finished MTurk assignment is posted to: `turkSubmitTo` comes from the URL,
# so any other address would make the completion page post the code to a stranger.
MTURK_SUBMIT_ORIGINS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
# Platform ids are short tokens (Prolific: 24 hex digits, MTurk: A and capitals); anything else
# is refused rather than stored and later shown on the manager's page.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OTHER_ID = re.compile(r"[A-Za-z0-9_.:-]{0,128}")


class StudyRefused(Exception):
    """The study link cannot start a participant; the message says why, to the participant."""


def crowd_study_save(
    *, project: Project, actor: User | None = None, **fields: object
) -> CrowdStudy:
    """Create or change the project's study; parameter names left empty get the platform's.
    A person's change (`actor`) goes into the project's audit log, old and new values."""
    platform = Platform(str(fields.get("platform") or Platform.PROLIFIC))
    defaults = PLATFORM_PARAMS[platform]
    for name in ("participant", "study", "session", "submit_to"):
        if not fields.get(f"{name}_param"):
            fields[f"{name}_param"] = getattr(defaults, name)
    with transaction.atomic():
        before = CrowdStudy.objects.select_for_update().filter(project=project).first()
        study, created = CrowdStudy.objects.update_or_create(project=project, defaults=fields)
        changed = {
            name: [None if before is None else getattr(before, name), value]
            for name, value in fields.items()
            if before is None or getattr(before, name) != value
        }
        if actor is not None and changed:
            audit_record(
                project=project,
                actor=actor,
                action=AuditAction.SETTINGS_CHANGED,
                details={"crowd study": {k: [str(v) for v in pair] for k, pair in changed.items()}},
            )
    return study


def participants_csv(*, project: Project, actor: User) -> Iterator[str]:
    """The participants CSV (platform ids, work, codes) in pieces; the download is audited."""
    audit_record(
        project=project,
        actor=actor,
        action=AuditAction.DATA_EXPORTED,
        details={"kind": "participants", "format": "csv"},
    )
    return csv_lines(participant_csv_rows(project=project), PARTICIPANT_COLUMNS)


def study_link_is_preview(*, study: CrowdStudy, params: Mapping[str, str]) -> bool:
    """MTurk shows a HIT before a worker accepts it: no account is made for a preview."""
    return study.platform == Platform.MTURK and params.get(study.session_param) == MTURK_PREVIEW


def participant_enter(*, study: CrowdStudy, params: Mapping[str, str]) -> Participant:
    """The participant of this platform id, made on their first visit (one account however
    often or however many times at once they open the link). Raises StudyRefused."""
    participant_id = params.get(study.participant_param, "").strip()
    if not _ID.fullmatch(participant_id):
        raise StudyRefused(
            f"This link has no valid participant id (URL parameter {study.participant_param}). "
            "Please open the study from the platform you came from."
        )
    ids = _other_ids(study, params)
    existing = Participant.objects.filter(project=study.project, participant_id=participant_id)
    participant = existing.select_related("user").first()
    if participant is not None:
        return _resume(participant, study=study, ids=ids)
    if not study.is_open or study.project.is_archived:
        raise StudyRefused("This study is not taking new participants.")
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=f"participant-{secrets.token_hex(6)}", password=None
            )
            Membership.objects.create(
                user=user, project=study.project, role=Membership.Role.ANNOTATOR
            )
            return Participant.objects.create(
                project=study.project,
                user=user,
                platform=study.platform,
                participant_id=participant_id,
                **ids,
            )
    except IntegrityError:
        # The same participant arrived in a parallel request, which made the account first.
        participant = existing.select_related("user").get()
        return _resume(participant, study=study, ids=ids)


def _other_ids(study: CrowdStudy, params: Mapping[str, str]) -> dict[str, str]:
    ids = {
        "study_id": params.get(study.study_param, "").strip() if study.study_param else "",
        "session_id": params.get(study.session_param, "").strip() if study.session_param else "",
    }
    for name, value in ids.items():
        if not _OTHER_ID.fullmatch(value):
            raise StudyRefused(f"This link's {name.replace('_', ' ')} is not valid.")
    submit_to = ""
    if study.platform == Platform.MTURK:
        submit_to = params.get(study.submit_to_param, "").strip().rstrip("/")
        if submit_to not in MTURK_SUBMIT_ORIGINS:
            raise StudyRefused(
                f"This link's {study.submit_to_param} is not Mechanical Turk's address."
            )
    return {**ids, "submit_to": submit_to}


def _resume(participant: Participant, *, study: CrowdStudy, ids: dict[str, str]) -> Participant:
    """A returning participant keeps their account; while they work, a new session (MTurk: an
    assignment accepted again) replaces the old one, so their code goes where they are now."""
    changed = {k: v for k, v in ids.items() if v and getattr(participant, k) != v}
    if participant.is_active and changed:
        Participant.objects.filter(pk=participant.pk, status=Participant.Status.ACTIVE).update(
            **changed
        )
        for name, value in changed.items():
            setattr(participant, name, value)
    return participant


@dataclass(frozen=True)
class ParticipantWork:
    """What the label page shows a participant: a pair, or None when their batch has ended
    (they are then finished, with their code). `participant` is None for anyone else."""

    participant: Participant | None
    assignment: Assignment | None = None
    judged: int = 0  # their judgments in the project, before this pair


def _locked(participant_id: int, project: Project, annotator: User) -> Participant | None:
    """The participant's row, locked, with their study (only the participant row is locked)."""
    participant = (
        Participant.objects.select_for_update(no_key=True, of=("self",))
        .select_related("project__crowd_study")
        .filter(pk=participant_id, project=project, user=annotator)
        .first()
    )
    if participant is not None:
        participant.user = annotator
    return participant


def participant_work_next(
    *, participant_id: int, project: Project, annotator: User
) -> ParticipantWork:
    """The batch's stop rule, then the participant's next pair.

    The participant's row is locked while it decides, so two tabs of one participant never
    lease past the batch: a lease is only made with fewer than N judgments and no live lease
    (a live one is handed back), and a judgment needs a live lease.
    """
    with transaction.atomic():
        participant = _locked(participant_id, project, annotator)
        if participant is None or not participant.is_active:
            return ParticipantWork(participant=participant)
        study = participant.project.crowd_study
        judged = judged_count(project=project, annotator=annotator)
        ending = _ending(participant, study=study, project=project, judged=judged)
        if ending is not None:
            participant_finish(participant=participant, study=study, status=ending)
            return ParticipantWork(participant=participant)
        assignment = assignment_next(project=project, annotator=annotator)
        if assignment is None:
            participant_finish(
                participant=participant,
                study=study,
                status=Participant.Status.COMPLETED,
                ran_out_of_work=True,
            )
        return ParticipantWork(participant, assignment, judged)


def participant_judgment_record(
    *, participant_id: int, project: Project, annotator: User, **answer: Any
) -> Recorded:
    """`judgment_record` for a participant, under the same row lock as their leases: a lease
    that runs out just as its judgment arrives can leave one more live lease behind, and this
    is where the batch still never goes past N (a resubmission of a stored one is answered)."""
    with transaction.atomic():
        participant = _locked(participant_id, project, annotator)
        target = (
            None if participant is None else judgment_target(project=project, annotator=annotator)
        )
        if (
            target is not None
            and judged_count(project=project, annotator=annotator) >= target
            and not Judgment.objects.filter(
                assignment_id=answer["assignment_id"], annotator=annotator
            ).exists()
        ):
            raise JudgmentRefused("Your batch is complete: this answer was not needed.")
        return judgment_record(project=project, annotator=annotator, **answer)


def _ending(
    participant: Participant, *, study: CrowdStudy, project: Project, judged: int
) -> str | None:
    """Why the batch ends now, as the status it ends in; None while it goes on."""
    if study.max_gold_failures is not None and (
        gold_failures(project=project, annotator_id=participant.user_id) > study.max_gold_failures
    ):
        return Participant.Status.SCREENED_OUT
    target = judgment_target(project=project, annotator=participant.user)
    if target is not None and judged >= target:  # the batch, or the project's cap if smaller
        return Participant.Status.COMPLETED
    if study.time_limit_minutes is not None and timezone.now() >= participant.started_at + (
        timedelta(minutes=study.time_limit_minutes)
    ):
        return Participant.Status.TIMED_OUT
    return None


def gold_failures(*, project: Project, annotator_id: int) -> int:
    """Gold pairs (known answer) the annotator answered otherwise."""
    return (
        Judgment.objects.filter(
            project=project,
            annotator_id=annotator_id,
            pair__is_gold=True,
            pair__gold_choice__isnull=False,
        )
        .exclude(choice=F("pair__gold_choice"))
        .count()
    )


def participant_finish(
    *,
    participant: Participant,
    study: CrowdStudy,
    status: str,
    ran_out_of_work: bool = False,
) -> Participant:
    """End the participant's batch with the code for how it ended; their live lease goes back
    to the pool. A screened-out participant's judgments stay stored, left out of exports and
    snapshots like those of any excluded annotator (a manager may take them back)."""
    code = (
        study.screened_out_code
        if status == Participant.Status.SCREENED_OUT
        else study.completion_code
    )
    with transaction.atomic():
        participant.status = status
        participant.code = code
        participant.ran_out_of_work = ran_out_of_work
        participant.finished_at = timezone.now()
        participant.save(update_fields=["status", "code", "ran_out_of_work", "finished_at"])
        live = assignment_current(project=study.project, annotator=participant.user)
        if live is not None:
            assignment_skip(assignment=live)
        if status == Participant.Status.SCREENED_OUT:
            membership_set_excluded(
                project=study.project, user_id=participant.user_id, excluded=True
            )
    return participant
