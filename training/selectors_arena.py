"""Reads of arenas: battles (judged pairs between two known sources), the latest leaderboard,
and the ratings of policy artifacts. Nothing here writes."""

from collections.abc import Iterator
from typing import Any

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Length

from labeling.formats.parsers import ARENA_WINNERS
from labeling.models import Candidate, Choice, Judgment, Project
from labeling.selectors_export import excluded_annotator_ids
from training.ml.arena import A_WINS, B_WINS, BOTH_BAD, TIE, BattleCounter, BattleCounts, length_bin
from training.models import Arena, ArenaContender, ArenaFit, ModelArtifact

# Candidate sources that name no model: such answers are in no battle.
UNKNOWN_SOURCES = ("", "imported", "human")
OUTCOME_OF_CHOICE: dict[str, int] = {
    Choice.A: A_WINS,
    Choice.B: B_WINS,
    Choice.TIE: TIE,
    Choice.BOTH_BAD: BOTH_BAD,
}
# Chatbot Arena's `winner` of a canonical choice (the import's table, read backwards).
WINNER_OF_CHOICE = {
    Choice.A: "model_a",
    Choice.B: "model_b",
    Choice.TIE: "tie",
    Choice.BOTH_BAD: "tie (bothbad)",
}
assert set(WINNER_OF_CHOICE.values()) == set(ARENA_WINNERS)


def arena_get(*, project: Project) -> Arena | None:
    return Arena.objects.filter(project=project).first()


def arena_contenders(*, arena: Arena) -> list[ArenaContender]:
    return list(arena.contenders.select_related("artifact", "run"))


def arena_projects(*, arena: Arena) -> list[int]:
    """The projects whose battles the board counts: the arena's own and the extra ones."""
    return [arena.project_id, *arena.extra_projects.values_list("pk", flat=True)]


def arena_battles(*, arena: Arena) -> QuerySet[Judgment]:
    """Judgments of pairs between two different known sources in the arena's projects, leaving
    out annotators a manager excluded from exports (as exports and snapshots do)."""
    scope = Q(pk__in=[])
    for project in Project.objects.filter(pk__in=arena_projects(arena=arena)):
        excluded = excluded_annotator_ids(project=project)
        scope |= Q(project=project) & ~Q(annotator_id__in=excluded)
    return Judgment.objects.filter(scope).exclude(
        Q(pair__candidate_a__source__in=UNKNOWN_SOURCES)
        | Q(pair__candidate_b__source__in=UNKNOWN_SOURCES)
        | Q(pair__candidate_a__source=F("pair__candidate_b__source"))
    )


def arena_battle_counts(*, arena: Arena) -> BattleCounts:
    """The arena's battles counted per (model a, model b, outcome, length bin), read in chunks:
    memory grows with the models, not the battles."""
    counter = BattleCounter()
    rows = (
        arena_battles(arena=arena)
        .annotate(
            length_a=Length("pair__candidate_a__text"), length_b=Length("pair__candidate_b__text")
        )
        .values_list(
            "pair__candidate_a__source",
            "pair__candidate_b__source",
            "choice",
            "length_a",
            "length_b",
        )
    )
    for model_a, model_b, choice, length_a, length_b in rows.iterator(chunk_size=5000):
        counter.add(model_a, model_b, OUTCOME_OF_CHOICE[choice], length_bin(length_a, length_b))
    return counter.counts()


def arena_battle_records(*, arena: Arena) -> Iterator[dict[str, Any]]:
    """The battles in Chatbot Arena's format (what `import_data --format arena` reads)."""
    rows = arena_battles(arena=arena).select_related(
        "pair__prompt", "pair__candidate_a", "pair__candidate_b"
    )
    for judgment in rows.order_by("pk").iterator(chunk_size=1000):
        pair = judgment.pair
        prompt = pair.prompt
        messages = prompt.messages if isinstance(prompt.messages, list) else []
        yield {
            "question_id": f"{prompt.external_id or prompt.pk}:{judgment.pk}",
            "model_a": pair.candidate_a.source,
            "model_b": pair.candidate_b.source,
            "winner": WINNER_OF_CHOICE[Choice(judgment.choice)],
            "judge": f"{judgment.source}:{judgment.annotator_id or ''}",
            "conversation_a": [*messages, _assistant(pair.candidate_a)],
            "conversation_b": [*messages, _assistant(pair.candidate_b)],
            "tstamp": judgment.created_at.timestamp(),
        }


def _assistant(candidate: Candidate) -> dict[str, str]:
    return {"role": "assistant", "content": candidate.text}


def arena_fit_latest(*, arena: Arena, succeeded: bool = False) -> ArenaFit | None:
    fits = arena.fits.all()
    if succeeded:
        fits = fits.filter(status=ArenaFit.Status.SUCCEEDED)
    return fits.first()


def arena_fit_for_page(*, arena: Arena, fit_id: int) -> ArenaFit | None:
    return arena.fits.filter(pk=fit_id).first()


def artifact_ratings(*, artifacts: list[ModelArtifact]) -> dict[int, dict[str, Any]]:
    """For each artifact that is a contender of an arena with a fitted board, its row of the
    latest such board (rating, interval, battles) and the arena's project."""
    ratings: dict[int, dict[str, Any]] = {}
    contenders = (
        ArenaContender.objects.filter(artifact__in=[a.pk for a in artifacts])
        .select_related("arena__project")
        .order_by("-arena__created_at")
    )
    for contender in contenders:
        if contender.artifact_id in ratings or contender.artifact_id is None:
            continue
        fit = arena_fit_latest(arena=contender.arena, succeeded=True)
        if fit is None:
            continue
        for row in fit.leaderboard.get("rows", []):
            if row["model"] == contender.name:
                ratings[contender.artifact_id] = {
                    **row,
                    "count": len(fit.leaderboard["rows"]),
                    "project": contender.arena.project,
                }
    return ratings


def leaderboard_plot(board: dict[str, Any], *, width: int = 640) -> dict[str, Any]:
    """Coordinates of the ratings plot (drawn as SVG by the template, no script): one line a
    model from its interval's low to high end, a dot at its rating, and a ring at its
    length-controlled rating when the board has one."""
    rows = board.get("rows", [])
    row_height, left, right, top = 28, 180, 24, 24
    values = [v for row in rows for k, v in row.items() if k.startswith(("lower", "upper"))]
    low, high = (min(values), max(values)) if values else (900.0, 1100.0)
    # A round step that gives at most eight ticks, whatever the range (few battles: wide).
    steps = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
    step = next((s for s in steps if (high - low) / s <= 7), int(high - low) // 7 + 1)
    low, high = step * (low // step), step * (high // step + 1)

    def x(value: float) -> float:
        return round(left + (value - low) / (high - low) * (width - left - right), 1)

    plotted = []
    for index, row in enumerate(rows):
        entry = {
            "y": top + index * row_height + row_height // 2,
            "model": row["model"],
            "x": x(row["rating"]),
            "x_low": x(row["lower"]),
            "x_high": x(row["upper"]),
        }
        if "rating_lc" in row:
            entry["x_lc"] = x(row["rating_lc"])
        plotted.append(entry)
    height = top + len(rows) * row_height + 30
    ticks = [{"x": x(value), "label": int(value)} for value in range(int(low), int(high) + 1, step)]
    return {
        "width": width,
        "height": height,
        "rows": plotted,
        "ticks": ticks,
        "axis_y": height - 24,
        "label_x": left - 8,
        "top": top,
    }
