"""Arenas: contenders answer the arena's prompts (a generation job each, or a file), battles
are pairs of two contenders' answers to one prompt, and a worker job fits the Bradley–Terry
leaderboard (training/ml/arena.py) from every judged battle.

Battle sampling: uniform over contender pairs, or adaptive: the first batch covers the pairs
evenly, and after each fit the next batch draws pairs in proportion to the bootstrap standard
deviation of their rating difference (the least certain first), until the budget is spent.
"""

import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from labeling.models import Candidate, Membership, Pair, Project, Prompt
from training.ml.arena import leaderboard
from training.models import (
    Arena,
    ArenaContender,
    ArenaFit,
    ModelArtifact,
    TrainingRun,
)
from training.models_arena import ArenaSampling
from training.selectors_arena import arena_battle_counts, arena_fit_latest
from training.selectors_generation import RUN_KEY, prompts_for_set
from training.services.generation import generation_launch
from training.services.runs import TrainingRefused, base_resolve

logger = logging.getLogger(__name__)

ARENA_SETTINGS = (
    "prompt_set",
    "battle_budget",
    "sampling",
    "both_bad",
    "length_control",
    "max_new_tokens",
    "temperature",
    "seed",
)
CONTENDER_KEY = "arena_contender"  # Candidate.metadata: the contender an imported answer is of


class ArenaRefused(Exception):
    """What is wrong with an arena request, in words for the manager."""


def managed_project_ids(*, user: Any) -> list[int]:
    return list(
        Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values_list(
            "project_id", flat=True
        )
    )


@transaction.atomic
def arena_set(
    *,
    project: Project,
    user: Any,
    reveal_sources: bool,
    extra_projects: Iterable[Project] = (),
    **values: Any,
) -> Arena:
    """Make the project an arena, or change its settings (ARENA_SETTINGS by name)."""
    unknown = sorted(set(values) - set(ARENA_SETTINGS))
    if unknown:
        raise ArenaRefused(f"unknown arena settings: {', '.join(unknown)}")
    extra = [p for p in extra_projects if p.pk != project.pk]
    allowed = set(managed_project_ids(user=user))
    foreign = [p.slug for p in extra if p.pk not in allowed]
    if foreign:
        raise ArenaRefused(f"extra_projects: you do not manage {', '.join(foreign)}")
    arena, _ = Arena.objects.update_or_create(
        project=project, defaults={**values}, create_defaults={**values, "created_by": user}
    )
    arena.extra_projects.set(extra)
    Project.objects.filter(pk=project.pk).update(reveal_sources=reveal_sources)
    project.reveal_sources = reveal_sources
    return arena


def _name_free(arena: Arena, name: str) -> str:
    name = name.strip()
    if not name:
        raise ArenaRefused("name: a contender needs a name")
    if name in ("imported", "human"):
        raise ArenaRefused(f"name: {name!r} names no model; choose another")
    if arena.contenders.filter(name=name).exists():
        raise ArenaRefused(f"name: the arena already has a contender {name!r}")
    return name


def arena_contender_add(
    *,
    arena: Arena,
    user: Any,
    name: str,
    artifact: ModelArtifact | None = None,
    model_path: str = "",
) -> ArenaContender:
    """A contender sampled from a policy artifact of a project the user manages, or from a
    local model directory under the model roots (training's base rule)."""
    name = _name_free(arena, name)
    if artifact is not None:
        if artifact.project_id not in managed_project_ids(user=user):
            raise ArenaRefused(f"artifact: no artifact {artifact.pk} among your projects'")
        if artifact.kind != ModelArtifact.Kind.POLICY:
            raise ArenaRefused(f"artifact: artifact {artifact.pk} is not a policy")
        return ArenaContender.objects.create(
            arena=arena, name=name, kind=ArenaContender.Kind.ARTIFACT, artifact=artifact
        )
    try:
        resolved = base_resolve(project=arena.project, text=model_path, field="model_path")
    except TrainingRefused as refused:
        raise ArenaRefused(str(refused)) from None
    if isinstance(resolved, ModelArtifact):
        return arena_contender_add(arena=arena, user=user, name=name, artifact=resolved)
    return ArenaContender.objects.create(
        arena=arena, name=name, kind=ArenaContender.Kind.LOCAL, model_path=resolved
    )


@transaction.atomic
def arena_contender_import(
    *, arena: Arena, name: str, lines: Iterable[bytes | str]
) -> ArenaContender:
    """A contender whose answers come from a JSON-lines file: {"prompt": external id or
    "prompt_id": id, "answer": text} per line. The whole file is checked first; an error names
    the line and field and writes nothing."""
    name = _name_free(arena, name)
    prompts = {p.pk: p for p in _arena_prompts(arena)}
    by_external = {p.external_id: p for p in prompts.values() if p.external_id}
    answers: dict[int, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ArenaRefused(f"line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise ArenaRefused(f"line {number}: expected an object")
        answer = record.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise ArenaRefused(f"line {number}: answer: a non-empty string is required")
        if "prompt_id" in record:
            prompt = (
                prompts.get(record["prompt_id"]) if isinstance(record["prompt_id"], int) else None
            )
            if prompt is None:
                raise ArenaRefused(f"line {number}: prompt_id: no prompt {record['prompt_id']!r}")
        else:
            prompt = by_external.get(str(record.get("prompt", "")))
            if prompt is None:
                raise ArenaRefused(f"line {number}: prompt: no prompt {record.get('prompt')!r}")
        if prompt.pk in answers:
            raise ArenaRefused(f"line {number}: a second answer to prompt {prompt}")
        answers[prompt.pk] = answer.replace("\x00", "").strip()
    if not answers:
        raise ArenaRefused("the file has no answers")
    contender = ArenaContender.objects.create(
        arena=arena, name=name, kind=ArenaContender.Kind.IMPORTED, answers=len(answers)
    )
    Candidate.objects.bulk_create(
        Candidate(
            prompt=prompts[pk], text=text, source=name, metadata={CONTENDER_KEY: contender.pk}
        )
        for pk, text in answers.items()
    )
    return contender


def _arena_prompts(arena: Arena) -> QuerySet[Prompt]:
    return prompts_for_set(project=arena.project, prompt_set=arena.prompt_set, k=0)


def arena_generate(*, arena: Arena, user: Any) -> list[TrainingRun]:
    """Queue a generation job (one answer a prompt of the arena's set) for each sampled
    contender that has none running or succeeded; with none to queue, make the battles now."""
    launched = []
    base_projects = managed_project_ids(user=user)
    for contender in arena.contenders.select_related("artifact", "run"):
        if contender.kind == ArenaContender.Kind.IMPORTED:
            continue
        retry = (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED)
        if contender.run is not None and contender.run.status not in retry:
            continue
        policy: str | ModelArtifact = (
            contender.artifact if contender.artifact is not None else contender.model_path
        )
        try:
            run = generation_launch(
                project=arena.project,
                policy=policy,
                prompt_set=arena.prompt_set,
                k=1,
                sampling={"temperature": arena.temperature, "max_new_tokens": arena.max_new_tokens},
                pairing="all",
                user=user,
                seed=arena.seed,
                base_projects=base_projects,
            )
        except TrainingRefused as refused:
            raise ArenaRefused(f"{contender.name}: {refused}") from None
        ArenaContender.objects.filter(pk=contender.pk).update(run=run)
        launched.append(run)
    if not launched:
        arena_battles_first(arena=arena)
    return launched


def arena_run_finished(*, run_id: int) -> None:
    """After a generation job: a contender's answers take its name as their source, and once
    every contender has answered, the first battles are made."""
    contender = ArenaContender.objects.filter(run_id=run_id).select_related("arena", "run").first()
    if contender is None or contender.run is None:
        return
    if contender.run.status != TrainingRun.Status.SUCCEEDED:
        return
    with transaction.atomic():
        answers = Candidate.objects.filter(
            prompt__project_id=contender.arena.project_id, **{f"metadata__{RUN_KEY}": run_id}
        ).update(source=contender.name)
        ArenaContender.objects.filter(pk=contender.pk).update(answers=answers)
    arena = contender.arena
    pending = arena.contenders.exclude(kind=ArenaContender.Kind.IMPORTED).exclude(
        run__status=TrainingRun.Status.SUCCEEDED
    )
    if not pending.exists():
        arena_battles_first(arena=arena)


def arena_battles_first(*, arena: Arena) -> int:
    """The first batch: the whole budget (uniform) or an even cover of the pairs (adaptive)."""
    contenders = arena.contenders.count()
    pairs = contenders * (contenders - 1) // 2
    count = (
        arena.battle_budget
        if arena.sampling == ArenaSampling.UNIFORM
        else max(pairs, arena.battle_budget // 4)
    )
    return arena_battles_make(arena=arena, count=count)


def _pair_weights(arena: Arena, names: list[str]) -> dict[tuple[str, str], float]:
    """How likely each contender pair is drawn: equal, or (adaptive, after a fit) the bootstrap
    standard deviation of their rating difference; a pair the fit has not seen gets the largest."""
    couples = list(combinations(sorted(names), 2))
    fit = arena_fit_latest(arena=arena, succeeded=True)
    if (
        arena.sampling != ArenaSampling.ADAPTIVE
        or fit is None
        or not fit.leaderboard.get("difference_sd")
    ):
        return dict.fromkeys(couples, 1.0)
    order = {name: i for i, name in enumerate(fit.leaderboard["models"])}
    sd = fit.leaderboard["difference_sd"]
    known = [sd[order[a]][order[b]] for a, b in couples if a in order and b in order]
    largest = max(known, default=1.0) or 1.0
    return {
        (a, b): (sd[order[a]][order[b]] if a in order and b in order else largest) or 1e-9
        for a, b in couples
    }


@transaction.atomic
def arena_battles_make(*, arena: Arena, count: int) -> int:
    """Add up to `count` battles (within the budget): draw a contender pair by its weight, then
    one of the prompts both answered and that pair has no battle on yet. Returns how many."""
    Arena.objects.select_for_update().filter(pk=arena.pk).first()  # one batch at a time
    names = list(arena.contenders.values_list("name", flat=True))
    answers: dict[int, dict[str, int]] = defaultdict(dict)
    candidates = Candidate.objects.filter(
        prompt__in=_arena_prompts(arena), source__in=names
    ).order_by("pk")
    for prompt_id, source, pk in candidates.values_list("prompt_id", "source", "pk"):
        answers[prompt_id].setdefault(source, pk)
    existing = set(
        Pair.objects.filter(project=arena.project).values_list("candidate_a_id", "candidate_b_id")
    )
    count = min(count, arena.battle_budget - len(existing))
    weights = _pair_weights(arena, names)
    free: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for couple in weights:
        free[couple] = []
        for prompt_id, by_name in sorted(answers.items()):
            if couple[0] in by_name and couple[1] in by_name:
                a, b = sorted((by_name[couple[0]], by_name[couple[1]]))
                if (a, b) not in existing:
                    free[couple].append((prompt_id, a, b))
    rng = random.Random(f"{arena.seed}:{len(existing)}")
    pairs: list[Pair] = []
    while len(pairs) < count:
        open_couples = [c for c in weights if free[c]]
        if not open_couples:
            break
        couple = rng.choices(open_couples, weights=[weights[c] for c in open_couples])[0]
        prompt_id, a, b = free[couple].pop(rng.randrange(len(free[couple])))
        pairs.append(
            Pair(project=arena.project, prompt_id=prompt_id, candidate_a_id=a, candidate_b_id=b)
        )
    Pair.objects.bulk_create(pairs)
    return len(pairs)


def arena_fit_launch(*, arena: Arena, resamples: int = 200, seed: int | None = None) -> ArenaFit:
    """Queue a fit of the leaderboard (a worker job on the default queue)."""
    from training.tasks import fit_arena

    if resamples < 1 or resamples > 10_000:
        raise ArenaRefused("resamples: between 1 and 10000")
    fit = ArenaFit.objects.create(
        arena=arena, resamples=resamples, seed=arena.seed if seed is None else seed
    )
    transaction.on_commit(lambda: fit_arena.delay(fit.pk))
    return fit


def arena_fit_run(*, fit_id: int) -> str:
    """Count the battles, fit the board with its bootstrap (progress on the row), store it;
    an adaptive arena then makes its next batch of battles."""
    claimed = ArenaFit.objects.filter(pk=fit_id, status=ArenaFit.Status.QUEUED).update(
        status=ArenaFit.Status.RUNNING
    )
    if not claimed:
        return "skipped"
    fit = ArenaFit.objects.select_related("arena").get(pk=fit_id)
    arena = fit.arena
    try:
        counts = arena_battle_counts(arena=arena)
        if len(counts.models) < 2 or not counts.battles:
            raise ArenaRefused("no judged battles between two models yet")

        def progress(done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                ArenaFit.objects.filter(pk=fit_id).update(step=done, total_steps=total)

        board = leaderboard(
            counts,
            both_bad=arena.both_bad,
            length_control=arena.length_control,
            resamples=fit.resamples,
            seed=fit.seed,
            progress=progress,
        )
    except Exception as error:  # the job fails with its reason on the page
        logger.exception("arena fit %s failed", fit_id)
        ArenaFit.objects.filter(pk=fit_id).update(
            status=ArenaFit.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        return ArenaFit.Status.FAILED
    ArenaFit.objects.filter(pk=fit_id).update(
        status=ArenaFit.Status.SUCCEEDED,
        leaderboard=board,
        step=F("total_steps"),
        finished_at=timezone.now(),
    )
    if arena.sampling == ArenaSampling.ADAPTIVE:
        arena_battles_make(arena=arena, count=max(1, arena.battle_budget // 4))
    return ArenaFit.Status.SUCCEEDED
