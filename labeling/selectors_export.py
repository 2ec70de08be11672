"""Reads for exports and training snapshots: which judgments, and the rows made of them.

Everything here streams: judgments come from chunked queries (`.iterator()`, a server-side
cursor on PostgreSQL) and rows are yielded one at a time, so memory stays flat however many
judgments a project has. The crowd model is the exception: it needs every (pair, annotator,
choice) triple at once, a few dozen bytes per judgment.
"""

import dataclasses
import itertools
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import Greatest

from labeling.formats.exports import AGGREGATES, JUDGMENT_COLUMNS, ExportFilters, ExportOptions
from labeling.formats.transcripts import hh_transcript
from labeling.models import Choice, Judgment, Membership, Pair, Project
from labeling.pseudonyms import annotator_pseudonym
from labeling.selectors_quality import annotators_below
from prefcore.conversation import implicit_prompt_text, prompt_text

PREFERRED = (Choice.A, Choice.B)


def excluded_annotator_ids(*, project: Project) -> list[int]:
    return list(
        Membership.objects.filter(project=project, excluded_from_exports=True).values_list(
            "user_id", flat=True
        )
    )


def judgments_for_export(*, project: Project, filters: ExportFilters) -> QuerySet[Judgment]:
    judgments = Judgment.objects.filter(project=project)
    if filters.after_id is not None:
        judgments = judgments.filter(id__gt=filters.after_id)
    if filters.since is not None:
        judgments = judgments.filter(created_at__gte=filters.since)
    if filters.until is not None:
        judgments = judgments.filter(created_at__lt=filters.until)
    if filters.annotators:
        judgments = judgments.filter(annotator__username__in=filters.annotators)
    elif not filters.include_imported:
        judgments = judgments.filter(annotator__isnull=False)
    if not filters.include_gold:
        judgments = judgments.filter(pair__is_gold=False)
    left_out = _left_out_annotators(project, filters)
    if left_out:
        judgments = judgments.exclude(annotator_id__in=left_out)
    if filters.min_agreement is not None:
        judgments = judgments.filter(
            pair_id__in=_agreeing_pairs(project, filters.min_agreement, left_out).values("id")
        )
    return judgments


def _left_out_annotators(project: Project, filters: ExportFilters) -> list[int]:
    left_out = [] if filters.include_excluded else excluded_annotator_ids(project=project)
    if filters.min_quality is not None:
        left_out += annotators_below(project=project, threshold=filters.min_quality)
    return sorted(set(left_out))


def _agreeing_pairs(project: Project, share: float, left_out: list[int]) -> QuerySet[Pair]:
    """Pairs whose modal answer has at least `share` of their judgments (left-out annotators
    not counted). A pair judged once agrees with itself (share 1)."""
    counted = ~Q(judgments__annotator_id__in=left_out) if left_out else Q()
    votes = {
        choice: Count("judgments", filter=counted & Q(judgments__choice=choice))
        for choice in Choice.values
    }
    return (
        Pair.objects.filter(project=project)
        .annotate(n_votes=Count("judgments", filter=counted), top_votes=Greatest(*votes.values()))
        .filter(n_votes__gt=0, top_votes__gte=share * F("n_votes"))
    )


def export_empty_reason(*, project: Project, options: ExportOptions) -> str:
    """Why an export has no row, in words a manager can act on (an empty file says nothing)."""
    filters = options.filters
    if not Judgment.objects.filter(project=project).exists():
        return "The project has no judgments yet."
    matching = judgments_for_export(project=project, filters=filters)
    if not matching.exists():
        with_excluded = dataclasses.replace(filters, include_excluded=True, min_quality=None)
        left_out = judgments_for_export(project=project, filters=with_excluded).count()
        if left_out:
            return (
                f"All {left_out} judgment{'s' if left_out != 1 else ''} that match are by "
                "annotators excluded from exports (on the quality page, or by the minimum "
                "quality asked): take annotators back there, or lower the minimum quality."
            )
        return "No judgment matches these filters (dates, annotators, agreement, gold, imported)."
    if options.kind == "judgments":
        return ""
    if options.aggregate == "all":
        return (
            "The matching judgments are all ties or both bad, which preference rows leave out; "
            "raw judgments keep them."
        )
    return (
        "No pair has a single most frequent answer that prefers one side (ties, both bad, or "
        "even votes), so the aggregate has no row; every judgment, or raw judgments, keep them."
    )


def exclusions_empty_exports(*, project: Project) -> int:
    """How many judgments exclusions leave out when they leave nothing else to export
    (0 when exports have judgments, or the project has none): the manage page warns then."""
    if judgments_for_export(project=project, filters=ExportFilters()).exists():
        return 0
    return judgments_for_export(
        project=project, filters=ExportFilters(include_excluded=True)
    ).count()


# --- preference rows ------------------------------------------------------------------------


def _message_list(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def preference_row(
    messages: list[dict[str, str]],
    chosen: str,
    rejected: str,
    *,
    conversational: bool,
    margin: float | None = None,
    with_margin: bool = False,
    implicit_prompt: bool = False,
) -> dict[str, Any]:
    """One TRL preference row, standard (strings) or conversational (message lists); with
    implicit_prompt the prompt is written into chosen and rejected, as TRL's implicit rows."""
    if conversational:
        prompt: Any = _message_list(messages)
        answers: list[Any] = [
            [{"role": "assistant", "content": text}] for text in (chosen, rejected)
        ]
        if implicit_prompt:
            answers = [prompt + answer for answer in answers]
    else:
        prompt = prompt_text(messages)
        answers = (
            [implicit_prompt_text(prompt, text) for text in (chosen, rejected)]
            if implicit_prompt
            else [chosen, rejected]
        )
    row: dict[str, Any] = {} if implicit_prompt else {"prompt": prompt}
    row["chosen"], row["rejected"] = answers
    if with_margin:
        row["margin"] = float(margin) if margin is not None else 0.0
    return row


def hh_rlhf_row(messages: list[dict[str, str]], chosen: str, rejected: str) -> dict[str, Any]:
    return {
        "chosen": hh_transcript(messages, chosen),
        "rejected": hh_transcript(messages, rejected),
    }


@dataclass(frozen=True)
class Decision:
    """What the judgments of one pair say, for the rows built from them."""

    pair_id: int
    choice: str  # a or b
    margin: float | None
    confidence: float


def preference_rows(
    *,
    project: Project,
    aggregate: str = "all",
    conversational: bool = False,
    with_margin: bool = False,
    include_gold: bool = True,
    chunk_size: int = 2000,
    filters: ExportFilters | None = None,
    implicit_prompt: bool = False,
    style: str = "trl",
    with_confidence: bool = False,
) -> Iterator[dict[str, Any]]:
    """(prompt, chosen, rejected[, margin][, confidence]) rows from the project's judgments,
    streamed; style="hh-rlhf" writes HH-RLHF transcripts instead.

    aggregate="all": one row per judgment that prefers a side; ties and both-bad are left out.
    aggregate="majority": one row per pair whose most frequent answer is a or b, alone at the
    top; its margin is the mean strength of the judgments that agree, its confidence their share.
    aggregate="dawid-skene": one row per pair, the answer of crowd-kit's one-coin Dawid-Skene
    model (each annotator has an accuracy, learned from the data), when it is a or b; the
    confidence is the model's probability of that answer.
    Annotators excluded by a manager are left out (see ExportFilters).
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}: use one of {', '.join(AGGREGATES)}")
    if style not in ("trl", "hh-rlhf"):
        raise ValueError(f"unknown style {style!r}")
    filters = filters or ExportFilters(include_gold=include_gold)
    if not include_gold and filters.include_gold:
        filters = dataclasses.replace(filters, include_gold=False)
    judgments = judgments_for_export(project=project, filters=filters)
    if aggregate == "all":
        decisions: Iterable[Decision] = (
            Decision(pair_id, choice, strength, 1.0)
            for pair_id, choice, strength in judgments.filter(choice__in=PREFERRED)
            .order_by("id")
            .values_list("pair_id", "choice", "strength")
            .iterator(chunk_size)
        )
    elif aggregate == "majority":
        decisions = _majority(judgments, chunk_size)
    else:
        decisions = _crowd_model(project, judgments)

    for chunk in _chunks(decisions, chunk_size):
        pairs = Pair.objects.select_related("prompt", "candidate_a", "candidate_b").in_bulk(
            {d.pair_id for d in chunk}
        )
        for decision in chunk:
            pair = pairs[decision.pair_id]
            a, b = pair.candidate_a.text, pair.candidate_b.text
            chosen, rejected = (a, b) if decision.choice == Choice.A else (b, a)
            row: dict[str, Any]
            if style == "hh-rlhf":
                row = hh_rlhf_row(pair.prompt.messages, chosen, rejected)
            else:
                row = preference_row(
                    pair.prompt.messages,
                    chosen,
                    rejected,
                    conversational=conversational,
                    margin=decision.margin,
                    with_margin=with_margin,
                    implicit_prompt=implicit_prompt,
                )
            if with_confidence:
                row["confidence"] = round(decision.confidence, 6)
            yield row


def _chunks(items: Iterable[Decision], size: int) -> Iterator[list[Decision]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _majority(judgments: QuerySet[Judgment], chunk_size: int) -> Iterator[Decision]:
    """Judgments come ordered by pair, so each pair is decided as soon as its votes are read."""
    votes = judgments.order_by("pair_id", "id").values_list("pair_id", "choice", "strength")
    for pair_id, group in itertools.groupby(votes.iterator(chunk_size), key=lambda v: v[0]):
        cast = [(choice, strength) for _, choice, strength in group]
        counts = Counter("other" if c not in PREFERRED else c for c, _ in cast)
        top = max(counts.values())
        winners = [c for c, n in counts.items() if n == top]
        if len(winners) != 1 or winners[0] == "other":
            continue
        strengths = [s for c, s in cast if c == winners[0] and s is not None]
        margin = sum(strengths) / len(strengths) if strengths else None
        yield Decision(pair_id, winners[0], margin, top / len(cast))


def _crowd_model(project: Project, judgments: QuerySet[Judgment]) -> Iterator[Decision]:
    import pandas as pd
    from crowdkit.aggregation import OneCoinDawidSkene

    triples = list(
        judgments.order_by("pair_id").values_list("pair_id", "annotator_id", "choice", "strength")
    )
    if not triples:
        return
    data = pd.DataFrame(triples, columns=["task", "worker", "label", "strength"])
    # Imported judgments have no annotator: they are one "worker", the source dataset.
    data["worker"] = data["worker"].fillna(-1).astype("int64")
    with warnings.catch_warnings():
        # crowd-kit 1.4.2 still uses pandas arguments that pandas 3 deprecates.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        model = OneCoinDawidSkene(n_iter=100).fit(data[["task", "worker", "label"]])
    probabilities, labels = model.probas_, model.labels_
    assert probabilities is not None and labels is not None  # set by fit()
    strengths = data.dropna(subset=["strength"]).groupby(["task", "label"])["strength"].mean()
    for pair_id, label in labels.items():
        if label not in PREFERRED:
            continue
        margin = strengths.get((pair_id, label))
        yield Decision(
            int(pair_id),
            str(label),
            None if margin is None else float(margin),
            float(probabilities.loc[pair_id, label]),
        )


# --- raw judgments --------------------------------------------------------------------------


def judgment_rows(
    *, project: Project, filters: ExportFilters, chunk_size: int
) -> Iterator[dict[str, Any]]:
    """One row per judgment, in id order, with JUDGMENT_COLUMNS; annotators under their
    pseudonyms (computed once per annotator)."""
    shown_left = Case(
        When(left_is_a=True, then=Value("a")),
        When(left_is_a=False, then=Value("b")),
        default=None,
        output_field=CharField(),
    )
    values = (
        judgments_for_export(project=project, filters=filters)
        .order_by("id")
        .annotate(
            judgment_id=F("id"),
            shown_left=shown_left,
            is_gold=F("pair__is_gold"),
            prompt_id=F("pair__prompt__external_id"),
            candidate_a_id=F("pair__candidate_a_id"),
            candidate_b_id=F("pair__candidate_b_id"),
        )
        .values_list(
            *(name if name != "annotator" else "annotator_id" for name in JUDGMENT_COLUMNS)
        )
    )
    at = JUDGMENT_COLUMNS.index("annotator")
    names: dict[int | None, str] = {}
    for row in values.iterator(chunk_size=chunk_size):
        uid = row[at]
        if uid not in names:
            names[uid] = annotator_pseudonym(project_id=project.pk, user_id=uid)
        yield dict(zip(JUDGMENT_COLUMNS, (*row[:at], names[uid], *row[at + 1 :]), strict=True))
