"""Reads about crowd participants: who they are on their platform, what they did, and where
a finished one goes next. Only managers see these (platform ids never reach annotators or
preference exports, which name annotators by their pseudonym)."""

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from labeling.models import Project
from labeling.models_crowd import PLATFORM_PARAMS, CrowdStudy, Participant, Platform
from labeling.selectors_export import annotator_pseudonym

# The participants CSV, for paying and approving on the platform.
PARTICIPANT_COLUMNS = [
    "platform",
    "participant_id",
    "study_id",
    "session_id",
    "annotator",
    "status",
    "code",
    "ran_out_of_work",
    "judgments",
    "gold_judgments",
    "gold_accuracy",
    "seconds_judging",
    "minutes_in_study",
    "started_at",
    "finished_at",
]


def crowd_study_of(*, project: Project) -> CrowdStudy | None:
    return CrowdStudy.objects.filter(project=project).first()


def crowd_study_by_token(*, token: str) -> CrowdStudy | None:
    return CrowdStudy.objects.select_related("project").filter(token=token).first()


def participant_of(*, project: Project, user: User | AnonymousUser) -> Participant | None:
    if not user.is_authenticated:
        return None
    return Participant.objects.filter(project=project, user_id=user.pk).first()


@dataclass(frozen=True)
class ParticipantRow:
    participant: Participant
    judgments: int
    gold_judgments: int
    gold_correct: int
    seconds_judging: float

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_judgments if self.gold_judgments else None

    @property
    def minutes_in_study(self) -> float:
        end = self.participant.finished_at or timezone.now()
        return (end - self.participant.started_at).total_seconds() / 60


def participant_rows(*, project: Project) -> list[ParticipantRow]:
    """Every participant of the project with their work, newest first."""
    mine = Q(user__judgment__project=project)
    gold = mine & Q(
        user__judgment__pair__is_gold=True, user__judgment__pair__gold_choice__isnull=False
    )
    participants = (
        Participant.objects.filter(project=project)
        .select_related("user")
        .annotate(
            n_judgments=Count("user__judgment", filter=mine),
            n_gold=Count("user__judgment", filter=gold),
            n_gold_correct=Count(
                "user__judgment",
                filter=gold & Q(user__judgment__choice=F("user__judgment__pair__gold_choice")),
            ),
            ms_judging=Sum("user__judgment__time_spent_ms", filter=mine),
        )
        .order_by("-started_at", "-id")
    )
    return [
        ParticipantRow(
            participant=p,
            judgments=p.n_judgments,
            gold_judgments=p.n_gold,
            gold_correct=p.n_gold_correct,
            seconds_judging=(p.ms_judging or 0) / 1000,
        )
        for p in participants
    ]


def participant_csv_rows(*, project: Project) -> Iterator[dict[str, object]]:
    for row in participant_rows(project=project):
        p = row.participant
        yield {
            "platform": p.platform,
            "participant_id": p.participant_id,
            "study_id": p.study_id,
            "session_id": p.session_id,
            "annotator": annotator_pseudonym(project_id=project.pk, user_id=p.user_id),
            "status": p.status,
            "code": p.code,
            "ran_out_of_work": p.ran_out_of_work,
            "judgments": row.judgments,
            "gold_judgments": row.gold_judgments,
            "gold_accuracy": None if row.gold_accuracy is None else round(row.gold_accuracy, 4),
            "seconds_judging": round(row.seconds_judging, 1),
            "minutes_in_study": round(row.minutes_in_study, 1),
            "started_at": p.started_at,
            "finished_at": p.finished_at,
        }


def completion_url(*, participant: Participant, study: CrowdStudy) -> str:
    """Where the finished participant goes next: the study's completion URL with their code,
    or for MTurk the address their assignment is posted to; empty when neither is set."""
    if participant.platform == Platform.MTURK and participant.submit_to:
        return f"{participant.submit_to}/mturk/externalSubmit"
    if study.completion_url:
        return study.completion_url.replace("{code}", quote(participant.code, safe=""))
    return ""


def study_link_query(*, study: CrowdStudy) -> str:
    """The query string to give the platform: its own placeholders where it has them
    (Prolific fills `{{%PROLIFIC_PID%}}`; MTurk appends its parameters by itself)."""
    if study.platform == Platform.MTURK:
        return ""
    names = [study.participant_param, study.study_param, study.session_param]
    defaults = PLATFORM_PARAMS[Platform(study.platform)]
    placeholders = [defaults.participant, defaults.study, defaults.session]
    if study.platform == Platform.PROLIFIC:
        values = {n: f"{{{{%{p}%}}}}" for n, p in zip(names, placeholders, strict=True) if n}
    else:
        values = {n: f"{{{p}}}" for n, p in zip(names, placeholders, strict=True) if n}
    return "?" + urlencode(values, safe="{}%")
