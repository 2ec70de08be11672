"""Reads: how far each annotator's judgments can be trusted, and how well the crowd agrees.

Per annotator: accuracy on gold pairs, agreement with the majority of the other annotators
on the same pairs, position bias (how often they pick the side shown on the left), median
time per judgment, tie rate, and flags for numbers that stand out from the crowd.
Per project: Krippendorff's alpha (nominal, from the `krippendorff` package) and its trend.
Only people's judgments count: imported ones have no annotator to judge, and simulated
annotators are no people (labeling/services/simulation.py). Nothing here
writes: excluding annotators is labeling.services.quality.
"""

import math
import warnings
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from labeling.models import Choice, Judgment, Membership, Project
from labeling.pseudonyms import annotator_pseudonym

LABELS = [Choice.A, Choice.B, Choice.TIE, Choice.BOTH_BAD]
MIN_GOLD = 5  # gold judgments before gold accuracy is the annotator's score
# Agreement with one other person says nothing about who is right: with two annotators,
# "agreement" excluded the better one as often as the worse. A judgment is compared only on
# a pair that at least MIN_OTHERS other people judged, with one most frequent answer among
# them; agreement becomes a score after MIN_COMPARED such judgments. So a project needs three
# annotators on shared pairs before anyone can be scored (and excluded) by agreement.
MIN_OTHERS = 2
MIN_COMPARED = 10
MIN_FOR_FLAGS = 10  # judgments before an annotator can be flagged against the crowd
# Reading a prompt and two answers takes longer than this: a median under it is flagged
# whatever the crowd does (with few annotators there is no crowd to compare with).
FAST_FLOOR_SECONDS = 2.0
MIN_TIMED = 5  # timed judgments before the floor applies
TREND_POINTS = 30


@dataclass(frozen=True)
class AnnotatorQuality:
    user_id: int
    username: str
    judgments: int
    gold_judgments: int
    gold_accuracy: float | None
    compared: int  # judgments on pairs where the other annotators had a clear majority
    agreement: float | None
    left_picks: int  # judgments that preferred a side, with the side shown known
    left_rate: float | None
    median_seconds: float | None
    timed: int  # judgments with a time spent
    tie_rate: float
    both_bad_rate: float
    excluded: bool
    flags: tuple[str, ...] = ()
    export_id: str = ""  # the pseudonym raw exports carry (labeling/pseudonyms.py)

    @property
    def score(self) -> float | None:
        """Gold accuracy when there is enough gold, else agreement with the others."""
        if self.gold_accuracy is not None and self.gold_judgments >= MIN_GOLD:
            return self.gold_accuracy
        if self.agreement is not None and self.compared >= MIN_COMPARED:
            return self.agreement
        return None


@dataclass(frozen=True)
class AlphaPoint:
    day: date
    alpha: float | None
    judgments: int


@dataclass(frozen=True)
class ProjectQuality:
    annotators: list[AnnotatorQuality]
    alpha: float | None
    trend: list[AlphaPoint]
    judgments: int


def project_quality(*, project: Project) -> ProjectQuality:
    rows = list(
        Judgment.objects.filter(project=project, source=Judgment.Source.ANNOTATOR)
        .order_by("created_at", "id")
        .values_list(
            "pair_id",
            "annotator_id",
            "choice",
            "left_is_a",
            "time_spent_ms",
            "created_at",
            "pair__is_gold",
            "pair__gold_choice",
        )
    )
    excluded = set(
        Membership.objects.filter(project=project, excluded_from_exports=True).values_list(
            "user_id", flat=True
        )
    )
    if not rows:
        return ProjectQuality(annotators=[], alpha=None, trend=[], judgments=0)
    pair_ids, user_ids, choices, left_is_a, times, stamps, is_gold, gold = zip(*rows, strict=True)
    pairs = np.unique(np.array(pair_ids), return_inverse=True)[1]
    users = np.array(user_ids)
    label = np.array([LABELS.index(c) for c in choices])
    onehot = np.eye(len(LABELS), dtype=np.int64)[label]
    votes = np.zeros((pairs.max() + 1, len(LABELS)), dtype=np.int64)
    np.add.at(votes, pairs, onehot)
    agree, compared = _agreement_with_others(votes[pairs] - onehot, label)
    usernames = dict(
        get_user_model().objects.filter(pk__in=set(user_ids)).values_list("pk", "username")
    )
    annotators = []
    for uid in sorted(set(user_ids), key=lambda u: usernames.get(u, "")):
        mine = users == uid
        annotators.append(
            _annotator(
                project.pk,
                uid,
                usernames.get(uid, "?"),
                mine,
                label,
                agree,
                compared,
                [left_is_a[i] for i in np.flatnonzero(mine)],
                [times[i] for i in np.flatnonzero(mine)],
                [(is_gold[i], gold[i], choices[i]) for i in np.flatnonzero(mine)],
                uid in excluded,
            )
        )
    annotators = _flag_outliers(annotators)
    trend = _alpha_trend(pairs, label, stamps)
    return ProjectQuality(
        annotators=annotators, alpha=_alpha(pairs, label), trend=trend, judgments=len(rows)
    )


def _agreement_with_others(others: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per judgment: whether it matches the others' answer, and whether the others had one
    (at least MIN_OTHERS other judgments, and a single most frequent answer)."""
    top = others.max(axis=1)
    enough = others.sum(axis=1) >= MIN_OTHERS
    clear = enough & (top > 0) & ((others == top[:, None]).sum(axis=1) == 1)
    return clear & (others.argmax(axis=1) == label), clear


def _annotator(
    project_id, uid, username, mine, label, agree, compared, left_is_a, times, gold, excluded
):
    n = int(mine.sum())
    mine_labels = label[mine]
    gold_answers = [(g, c) for is_gold, g, c in gold if is_gold and g]
    compared_n = int(compared[mine].sum())
    sided = [
        (lab == 0) == shown_a
        for lab, shown_a in zip(mine_labels, left_is_a, strict=True)
        if lab in (0, 1) and shown_a is not None
    ]
    timed = [t for t in times if t is not None]
    return AnnotatorQuality(
        user_id=uid,
        username=username,
        judgments=n,
        gold_judgments=len(gold_answers),
        gold_accuracy=_share(sum(g == c for g, c in gold_answers), len(gold_answers)),
        compared=compared_n,
        agreement=_share(int(agree[mine].sum()), compared_n),
        left_picks=len(sided),
        left_rate=_share(sum(sided), len(sided)),
        median_seconds=float(np.median(timed)) / 1000 if timed else None,
        timed=len(timed),
        tie_rate=float((mine_labels == 2).mean()),
        both_bad_rate=float((mine_labels == 3).mean()),
        excluded=excluded,
        export_id=annotator_pseudonym(project_id=project_id, user_id=uid),
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _flag_outliers(annotators: list[AnnotatorQuality]) -> list[AnnotatorQuality]:
    """Flag numbers far from the crowd's: beyond 3 robust standard deviations (median and
    MAD) and beyond a minimum gap, so a tight crowd does not flag small differences."""
    eligible = [a for a in annotators if a.judgments >= MIN_FOR_FLAGS]
    lows = {
        "low agreement": _far(
            eligible, lambda a: a.agreement if a.compared >= MIN_COMPARED else None, -1, 0.15
        ),
        "fast": _far(
            eligible,
            lambda a: math.log(a.median_seconds) if a.median_seconds else None,
            -1,
            math.log(3),
        ),
        "many ties": _far(eligible, lambda a: a.tie_rate, +1, 0.15),
    }
    flagged = []
    for a in annotators:
        flags = [name for name, ids in lows.items() if a.user_id in ids]
        if "fast" not in flags and _below_floor(a):
            flags.append("fast")
        if a.gold_accuracy is not None and a.gold_judgments >= MIN_GOLD and a.gold_accuracy < 0.7:
            flags.append("low gold accuracy")
        # Position bias against a fair coin: more than 3 standard errors from one half.
        if (
            a.left_rate is not None
            and a.left_picks >= 20
            and (abs(a.left_rate - 0.5) > 3 * math.sqrt(0.25 / a.left_picks))
        ):
            flags.append("prefers left" if a.left_rate > 0.5 else "prefers right")
        flagged.append(AnnotatorQuality(**{**vars(a), "flags": tuple(flags)}))
    return flagged


def _below_floor(a: AnnotatorQuality) -> bool:
    return (
        a.median_seconds is not None
        and a.timed >= MIN_TIMED
        and a.median_seconds < FAST_FLOOR_SECONDS
    )


def _far(annotators, value, direction: int, min_gap: float) -> set[int]:
    values = {a.user_id: v for a in annotators if (v := value(a)) is not None}
    if len(values) < 3:
        return set()
    middle = float(np.median(list(values.values())))
    spread = 1.4826 * float(np.median([abs(v - middle) for v in values.values()]))
    return {uid for uid, v in values.items() if (v - middle) * direction > max(3 * spread, min_gap)}


def _alpha(pairs: np.ndarray, label: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) over pairs with at least two judgments."""
    import krippendorff

    counts = np.zeros((pairs.max() + 1, len(LABELS)), dtype=np.int64)
    np.add.at(counts, pairs, np.eye(len(LABELS), dtype=np.int64)[label])
    counts = counts[counts.sum(axis=1) >= 2]
    if len(counts) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one category only: alpha undefined
        alpha = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    return None if math.isnan(alpha) else float(alpha)


def _alpha_trend(
    pairs: np.ndarray, label: np.ndarray, stamps: tuple[datetime, ...]
) -> list[AlphaPoint]:
    """Alpha of all judgments made up to the end of each day (at most TREND_POINTS days,
    evenly spread); judgments arrive in time order."""
    days = [stamp.date() for stamp in stamps]
    ends = [i for i in range(len(days)) if i + 1 == len(days) or days[i + 1] != days[i]]
    if len(ends) > TREND_POINTS:
        step = len(ends) / TREND_POINTS
        ends = [ends[min(len(ends) - 1, round((k + 1) * step) - 1)] for k in range(TREND_POINTS)]
    return [AlphaPoint(days[i], _alpha(pairs[: i + 1], label[: i + 1]), i + 1) for i in ends]


def annotators_below(*, project: Project, threshold: float) -> list[int]:
    """Annotators whose score is known and below the threshold."""
    return [
        a.user_id
        for a in project_quality(project=project).annotators
        if a.score is not None and a.score < threshold
    ]


@dataclass(frozen=True)
class ExclusionPreview:
    """Who a threshold would exclude, shown to the manager before anyone is."""

    threshold: float
    below: list[AnnotatorQuality]  # scored below the threshold, not yet excluded
    kept: int  # annotators with judgments left in exports afterwards
    refused: str  # why the exclusion is refused ("" when it may go ahead)


def exclusion_preview(*, project: Project, threshold: float) -> ExclusionPreview:
    """The annotators a threshold would newly exclude. Refused when it would leave no
    annotator's judgments in exports: every export and snapshot would be empty."""
    annotators = project_quality(project=project).annotators
    below = [
        a for a in annotators if not a.excluded and a.score is not None and a.score < threshold
    ]
    kept = sum(1 for a in annotators if not a.excluded) - len(below)
    refused = ""
    if below and kept == 0:
        refused = (
            f"A threshold of {threshold:g} would exclude every annotator, leaving exports and "
            "training snapshots empty; nobody was excluded."
        )
    return ExclusionPreview(threshold=threshold, below=below, kept=kept, refused=refused)


@dataclass(frozen=True)
class AnnotatorWork:
    """One annotator's judgments in a project, for the manager's page about them."""

    user_id: int
    username: str
    membership: Membership | None  # None once removed from the project (judgments stay)
    quality: AnnotatorQuality | None
    judgments: QuerySet[Judgment]  # newest first


def annotator_work(*, project: Project, user_id: int) -> AnnotatorWork | None:
    """None for someone who is neither a member nor has judged in the project."""
    membership = (
        Membership.objects.filter(project=project, user_id=user_id).select_related("user").first()
    )
    judgments = (
        Judgment.objects.filter(project=project, annotator_id=user_id)
        .select_related("pair__prompt", "pair__candidate_a", "pair__candidate_b")
        .order_by("-created_at", "-id")
    )
    if membership is None and not judgments.exists():
        return None
    user = membership.user if membership else get_user_model().objects.get(pk=user_id)
    quality = next(
        (a for a in project_quality(project=project).annotators if a.user_id == user_id), None
    )
    return AnnotatorWork(
        user_id=user_id,
        username=user.get_username(),
        membership=membership,
        quality=quality,
        judgments=judgments,
    )
