"""Crowd studies: a project's study link for Prolific, Mechanical Turk or another platform, and
the participants who came through it (labeling/services/participants.py).

Kept apart from `Project` so that a study's settings live in one row of their own; imported at
the end of labeling/models.py, which is where Django finds the app's models.
"""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from labeling.models import Project


class Platform(models.TextChoices):
    PROLIFIC = "prolific", "Prolific"
    MTURK = "mturk", "Amazon Mechanical Turk (external question)"
    GENERIC = "generic", "Another platform"


@dataclass(frozen=True)
class ParamNames:
    participant: str
    study: str
    session: str
    submit_to: str = ""


# The URL parameters each platform fills in by default (a study may rename them).
PLATFORM_PARAMS = {
    Platform.PROLIFIC: ParamNames("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    Platform.MTURK: ParamNames("workerId", "hitId", "assignmentId", "turkSubmitTo"),
    Platform.GENERIC: ParamNames("participant", "study", "session"),
}


def _study_token() -> str:
    return secrets.token_urlsafe(16)


def _code() -> str:
    return secrets.token_hex(4).upper()


class CrowdStudy(models.Model):
    """How a project takes participants from a crowd platform.

    The study link carries the platform's ids in URL parameters whose names are configurable
    (services/participants.py holds each platform's defaults). Its token, not the project's
    slug, is in the link, so that a project's slug alone lets nobody make accounts in it.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="crowd_study")
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.PROLIFIC)
    token = models.CharField(max_length=40, unique=True, default=_study_token)
    is_open = models.BooleanField(default=True, help_text="Whether new participants may start.")
    participant_param = models.CharField(
        max_length=64, help_text="URL parameter of the participant id."
    )
    study_param = models.CharField(
        max_length=64, blank=True, help_text="URL parameter of the study id."
    )
    session_param = models.CharField(
        max_length=64, blank=True, help_text="URL parameter of the session (MTurk: assignment) id."
    )
    submit_to_param = models.CharField(
        max_length=64, blank=True, help_text="MTurk: the URL parameter of the address to post to."
    )
    batch_size = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(1)], help_text="Judgments per participant."
    )
    time_limit_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Optional: the batch ends this long after the start."
    )
    completion_code = models.CharField(max_length=64, default=_code)
    screened_out_code = models.CharField(max_length=64, default=_code)
    completion_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where a finished participant is sent; {code} is replaced by their code.",
    )
    max_gold_failures = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Attention checks: a participant who fails more gold pairs than this is "
        "screened out (empty: never).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.get_platform_display()} study of {self.project}"


class Participant(models.Model):
    """One person from a crowd platform, bound to a pseudonymous account of one project."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        SCREENED_OUT = "screened_out", "Screened out"
        TIMED_OUT = "timed_out", "Timed out"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="participants")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="participant"
    )
    platform = models.CharField(max_length=16, choices=Platform.choices)
    participant_id = models.CharField(max_length=64)
    study_id = models.CharField(max_length=128, blank=True)
    session_id = models.CharField(max_length=128, blank=True)
    # MTurk: where the finished assignment is posted (a checked mturk.com address).
    submit_to = models.URLField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Completed before the batch was full because the project had no more work for them.
    ran_out_of_work = models.BooleanField(default=False)
    code = models.CharField(max_length=64, blank=True, help_text="The code they were given.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A returning participant, or the same one arriving twice at once, is one account.
            models.UniqueConstraint(
                fields=["project", "participant_id"], name="participant_unique_platform_id"
            )
        ]

    def __str__(self) -> str:
        return f"participant {self.pk} of {self.project_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
