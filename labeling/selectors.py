"""Reads: progress, work lists and preference rows. Nothing here writes."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from labeling.models import Assignment, Choice, Judgment, Membership, Pair, Project


def membership_get(*, user: AbstractBaseUser, project_slug: str) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("project")
        .filter(user=user, project__slug=project_slug)
        .first()
    )


@dataclass(frozen=True)
class ProjectProgress:
    pairs: int
    done: int  # pairs with `overlap` judgments
    in_progress: int  # pairs with a live lease or some judgments, not yet done
    open: int
    judgments: int

    @property
    def percent_done(self) -> int:
        return round(100 * self.done / self.pairs) if self.pairs else 0


def project_progress(*, project: Project) -> ProjectProgress:
    ordinary = Pair.objects.filter(project=project, is_gold=False)
    counts = ordinary.aggregate(
        pairs=Count("id"),
        done=Count("id", filter=Q(judgment_count__gte=project.overlap)),
        started=Count("id", filter=Q(taken__gt=0)),
    )
    judgments = Judgment.objects.filter(project=project).count()
    in_progress = counts["started"] - counts["done"]
    return ProjectProgress(
        pairs=counts["pairs"],
        done=counts["done"],
        in_progress=in_progress,
        open=counts["pairs"] - counts["started"],
        judgments=judgments,
    )


@dataclass(frozen=True)
class MyProject:
    membership: Membership
    judged: int


def projects_for_user(*, user: AbstractBaseUser) -> list[MyProject]:
    memberships = Membership.objects.filter(user=user).select_related("project")
    judged = dict(
        Judgment.objects.filter(annotator=user)
        .values_list("project")
        .annotate(n=Count("id"))
        .values_list("project", "n")
    )
    return [MyProject(membership=m, judged=judged.get(m.project_id, 0)) for m in memberships]


def judged_count(*, project: Project, annotator: AbstractBaseUser) -> int:
    """How many pairs this annotator has judged in the project (their own progress only)."""
    return Judgment.objects.filter(project=project, annotator=annotator).count()


def judgments_per_annotator(*, project: Project) -> QuerySet:
    return (
        Judgment.objects.filter(project=project, annotator__isnull=False)
        .values("annotator__username")
        .annotate(
            judgments=Count("id"),
            ties=Count("id", filter=Q(choice=Choice.TIE)),
            both_bad=Count("id", filter=Q(choice=Choice.BOTH_BAD)),
        )
        .order_by("-judgments")
    )


def live_leases_count(*, project: Project) -> int:
    return Assignment.objects.filter(
        project=project, status=Assignment.Status.LEASED, expires_at__gt=timezone.now()
    ).count()


def _message_list(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _prompt_text(messages: list[dict[str, str]]) -> str:
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def preference_row(
    messages: list[dict[str, str]],
    chosen: str,
    rejected: str,
    *,
    conversational: bool,
    margin: float | None = None,
    with_margin: bool = False,
) -> dict[str, Any]:
    """One TRL preference row, standard (strings) or conversational (message lists)."""
    if conversational:
        row: dict[str, Any] = {
            "prompt": _message_list(messages),
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }
    else:
        row = {"prompt": _prompt_text(messages), "chosen": chosen, "rejected": rejected}
    if with_margin:
        row["margin"] = float(margin) if margin is not None else 0.0
    return row


def preference_rows(
    *,
    project: Project,
    aggregate: str = "all",
    conversational: bool = False,
    with_margin: bool = False,
    include_gold: bool = True,
    chunk_size: int = 2000,
) -> Iterator[dict[str, Any]]:
    """(prompt, chosen, rejected[, margin]) rows from the project's judgments, streamed.

    aggregate="all": one row per judgment that prefers a side; ties and both-bad are left out.
    aggregate="majority": one row per pair whose most frequent answer is a or b, alone at the top;
    its margin is the mean strength of the judgments that agree.
    """
    if aggregate == "all":
        judgments = (
            Judgment.objects.filter(project=project, choice__in=[Choice.A, Choice.B])
            .select_related("pair__prompt", "pair__candidate_a", "pair__candidate_b")
            .order_by("id")
        )
        if not include_gold:
            judgments = judgments.filter(pair__is_gold=False)
        for j in judgments.iterator(chunk_size=chunk_size):
            a, b = j.pair.candidate_a.text, j.pair.candidate_b.text
            chosen, rejected = (a, b) if j.choice == Choice.A else (b, a)
            yield preference_row(
                j.pair.prompt.messages, chosen, rejected, conversational=conversational,
                margin=j.strength, with_margin=with_margin,
            )
        return
    if aggregate != "majority":
        raise ValueError(f"unknown aggregate {aggregate!r}: use 'all' or 'majority'")
    pairs = (
        Pair.objects.filter(project=project, judgment_count__gt=0)
        .select_related("prompt", "candidate_a", "candidate_b")
        .annotate(
            votes_a=Count("judgments", filter=Q(judgments__choice=Choice.A)),
            votes_b=Count("judgments", filter=Q(judgments__choice=Choice.B)),
            votes_other=Count(
                "judgments", filter=Q(judgments__choice__in=[Choice.TIE, Choice.BOTH_BAD])
            ),
        )
        .order_by("id")
    )
    if not include_gold:
        pairs = pairs.filter(is_gold=False)
    for pair in pairs.iterator(chunk_size=chunk_size):
        top = max(pair.votes_a, pair.votes_b, pair.votes_other)
        winners = [c for c, v in (("a", pair.votes_a), ("b", pair.votes_b),
                                  ("other", pair.votes_other)) if v == top]
        if len(winners) != 1 or winners[0] == "other":
            continue
        a, b = pair.candidate_a.text, pair.candidate_b.text
        chosen, rejected = (a, b) if winners[0] == "a" else (b, a)
        margin = None
        if with_margin:
            strengths = list(
                Judgment.objects.filter(pair=pair, choice=winners[0], strength__isnull=False)
                .values_list("strength", flat=True)
            )
            margin = sum(strengths) / len(strengths) if strengths else None
        yield preference_row(
            pair.prompt.messages, chosen, rejected, conversational=conversational,
            margin=margin, with_margin=with_margin,
        )
