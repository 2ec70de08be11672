"""The loop: rounds of labelling → snapshot → reward model → policy update → evaluation →
generation of the next round's candidates → scoring of the open pairs.

A project's rounds follow its LoopSettings. A round labels until its budget of judgments is
reached (or a manager asks for the next round); then its steps run in order, each an ordinary
run on the dashboard (or, for the snapshot, a write done here). `loop_advance` moves a round
on: it starts the first step not yet done, records the outcome of a finished run, and after the
last step makes the round's models current and opens the next round. It is called when a run
finishes (training.tasks.run_training), by beat (loops_advance) and by a manager's buttons.

Idempotence: every advance holds the round's row lock, and a step attempt is unique per
(round, name, attempt), so a duplicate message starts nothing twice. A step that fails stops
the round with the step's error; its models do not become current (nothing of a failed round
is applied); `loop_resume` starts the failed step again as a new attempt.

The steps are data (STEPS); generation and scoring go through their own services
(generation_launch, scoring_launch) like every other caller.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from labeling.models import Judgment, Project
from training.ml.config import KINDS_NEEDING_REWARD, ConfigError, validate_config
from training.models import (
    LoopSettings,
    ModelArtifact,
    PolicyMethod,
    Round,
    RoundStep,
    TrainingKind,
    TrainingRun,
    TrainingSchedule,
)
from training.selectors import artifact_current
from training.selectors_rounds import (
    heldout_prompts,
    loop_settings_get,
    next_round_prompt_ids,
    round_judgments_count,
    round_steps_latest,
)
from training.services.artifacts import artifact_make_current
from training.services.evaluation import EvaluationRefused
from training.services.generation import generation_launch
from training.services.runs import TrainingRefused, base_resolve, reference_text, run_create
from training.services.scoring import scoring_launch
from training.services.snapshots import SnapshotRefused, snapshot_create

logger = logging.getLogger(__name__)


class LoopRefused(ValueError):
    """The loop cannot do what was asked; the message says why and what to change."""


# ----------------------------------------------------------------------------- settings

_CONFIG_KINDS = {"reward_config": "reward", "evaluation_config": "evaluate"}


def loop_settings_set(*, project: Project, **fields: Any) -> LoopSettings:
    """Create or change a project's loop settings; LoopRefused naming the field, nothing saved.

    Opens round 1 when the project has no round yet (it counts every judgment so far).
    """
    allowed = {f.name for f in LoopSettings._meta.concrete_fields} - {
        "id",
        "project",
        "last_message",
    }
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise LoopRefused(f"{unknown[0]}: not a loop setting")
    current = loop_settings_get(project=project)
    merged = {
        name: fields.get(name, getattr(current, name) if current else None)
        for name in ("policy_method", "policy_config", "reward_config", "evaluation_config")
    }
    method = merged["policy_method"] or PolicyMethod.DPO
    if method not in PolicyMethod.values:
        raise LoopRefused(f"policy_method: must be one of {', '.join(PolicyMethod.values)}")
    checks = {"policy_config": method, **_CONFIG_KINDS}
    for name, kind in checks.items():
        if name in fields or name == "policy_config":
            try:
                validate_config(kind, merged[name] or {})
            except ConfigError as error:
                raise LoopRefused(f"{name}: {error}") from None
    if {"sampling", "pairing", "k"} & set(fields):
        _generation_check(fields, current)
    for name in ("reward_base_model", "start_policy"):
        if fields.get(name):
            try:
                base_resolve(project=project, text=fields[name], field=name)
            except TrainingRefused as error:
                raise LoopRefused(str(error)) from None
    if fields.get("enabled"):
        if not fields.get("reward_base_model", current.reward_base_model if current else ""):
            raise LoopRefused("reward_base_model: required while the loop is on")
        if TrainingSchedule.objects.filter(project=project, enabled=True).exists():
            raise LoopRefused(
                "enabled: the project's training schedule is on; turn it off first (both would "
                "train a reward model on the same judgments)"
            )
    with transaction.atomic():
        settings, _ = LoopSettings.objects.update_or_create(project=project, defaults=fields)
        if not Round.objects.filter(project=project).exists():
            Round.objects.create(project=project, number=1)
    return settings


def _generation_check(fields: dict[str, Any], current: LoopSettings | None) -> None:
    """The generation step's settings, checked by the generate kind's config as the job is."""
    values = {
        name: fields.get(name, getattr(current, name) if current else None)
        for name in ("sampling", "pairing", "k")
    }
    sampling = values["sampling"] or {}
    fixed = sorted(set(sampling) & {"prompt_set", "k", "pairing", "seed"})
    if fixed:
        raise LoopRefused(f"sampling: {', '.join(fixed)} are set by the loop, not here")
    config = {**sampling, "k": values["k"] or 2, "pairing": values["pairing"] or "all"}
    try:
        validate_config(TrainingKind.GENERATE, config)
    except ConfigError as error:
        name, _, text = str(error).partition(": ")
        field = name if name in ("k", "pairing") else "sampling"
        raise LoopRefused(f"{field}: {error if field == 'sampling' else text}") from None


# ----------------------------------------------------------------------------- steps


@dataclass
class StepContext:
    round: Round
    settings: LoopSettings
    done: dict[str, RoundStep]  # the latest attempt of every step before this one

    def artifact_of(self, step: str) -> ModelArtifact:
        run = self.done[step].run
        artifact = ModelArtifact.objects.filter(run=run).first() if run else None
        if artifact is None:
            raise LoopRefused(f"the {step} step left no model")
        return artifact


# A step's start returns the run to wait for, None when it finished at once, or a text when it
# was skipped (the text says why). It raises LoopRefused (or a service's refusal) to fail.
StepStart = Callable[[StepContext], TrainingRun | str | None]


def _snapshot(ctx: StepContext) -> None:
    round = ctx.round
    snapshot = snapshot_create(project=round.project, seed=round.number)
    judgments = Judgment.objects.filter(project_id=round.project_id)
    if round.after_judgment_id is not None:
        judgments = judgments.filter(id__gt=round.after_judgment_id)
    if snapshot.last_judgment_id is not None:
        judgments = judgments.filter(id__lte=snapshot.last_judgment_id)
    round.snapshot, round.judgments = snapshot, judgments.count()
    round.save(update_fields=["snapshot", "judgments"])
    return None


def _reward(ctx: StepContext) -> TrainingRun:
    settings = ctx.settings
    return run_create(
        project=ctx.round.project,
        kind=TrainingKind.REWARD,
        base=settings.reward_base_model,
        config_values=settings.reward_config,
        snapshot=ctx.round.snapshot,
        created_by=None,
    )


def _policy(ctx: StepContext) -> TrainingRun:
    method = ctx.settings.policy_method
    return run_create(
        project=ctx.round.project,
        kind=method,
        base=ctx.round.policy_before,
        config_values=ctx.settings.policy_config,
        snapshot=ctx.round.snapshot,
        reward_artifact=ctx.artifact_of("reward") if method in KINDS_NEEDING_REWARD else None,
        created_by=None,
    )


def _evaluate(ctx: StepContext) -> TrainingRun | str:
    if not heldout_prompts(project=ctx.round.project).exists():
        return "The project has no held-out evaluation prompts."
    return run_create(
        project=ctx.round.project,
        kind=TrainingKind.EVALUATE,
        base=ctx.artifact_of("policy"),
        config_values=ctx.settings.evaluation_config,
        snapshot=ctx.round.snapshot,
        reward_artifact=ctx.artifact_of("reward"),
        reference=ctx.round.reference_policy,
        created_by=None,
    )


def _generate(ctx: StepContext) -> TrainingRun | str:
    settings = ctx.settings
    ids = next_round_prompt_ids(project=ctx.round.project, count=settings.prompts_per_round)
    if not ids:
        return "The project has no prompts to answer (all are held out)."
    # The next round's candidates: its pairs reach the annotators when the job succeeds.
    return generation_launch(
        project=ctx.round.project,
        policy=ctx.artifact_of("policy"),
        prompt_set="prompts:" + ",".join(str(pk) for pk in ids),
        k=settings.k,
        sampling=settings.sampling,
        pairing=settings.pairing,
        seed=ctx.round.number,
    )


def _score(ctx: StepContext) -> TrainingRun:
    # The open pairs, the new ones included, ordered by the project's selection strategy with
    # this round's reward model.
    return scoring_launch(project=ctx.round.project, reward=ctx.artifact_of("reward"))


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    start: StepStart


STEPS: tuple[Step, ...] = (
    Step("snapshot", "Snapshot of the judgments", _snapshot),
    Step("reward", "Reward model", _reward),
    Step("policy", "Policy update", _policy),
    Step("evaluate", "Evaluation on held-out prompts", _evaluate),
    Step("generate", "Candidates for the next round", _generate),
    Step("score", "Scoring of the open pairs", _score),
)
STEP_NAMES = tuple(step.name for step in STEPS)

_REFUSALS = (LoopRefused, TrainingRefused, SnapshotRefused, EvaluationRefused)


# ----------------------------------------------------------------------------- advancing


def _note(settings: LoopSettings | None, message: str) -> None:
    logger.info(message)
    if settings is not None:
        LoopSettings.objects.filter(pk=settings.pk).update(last_message=message)


def _fail(round: Round, step: RoundStep, error: str) -> None:
    now = timezone.now()
    step.status, step.note, step.finished_at = RoundStep.Status.FAILED, error, now
    step.save(update_fields=["status", "note", "finished_at"])
    round.status, round.error = Round.Status.FAILED, f"{step.name}: {error}"
    round.save(update_fields=["status", "error"])


def _begin(round: Round, settings: LoopSettings) -> None:
    """Close the round's labelling: fix the policy it trains from and the round-0 policy."""
    if not settings.reward_base_model:
        raise LoopRefused("reward_base_model: name the model each round's reward model starts from")
    current = artifact_current(project=round.project, kind=ModelArtifact.Kind.POLICY)
    if current is not None:
        before = f"artifact:{current.pk}"
    elif settings.start_policy:
        before = reference_text(project=round.project, model=settings.start_policy, field="start")
    else:
        raise LoopRefused(
            "start_policy: the project has no current policy; name the policy the loop starts "
            "from in the loop settings"
        )
    first = Round.objects.filter(project=round.project, number=1).first()
    reference = first.reference_policy if first and first.reference_policy else before
    round.status, round.policy_before, round.reference_policy = (
        Round.Status.RUNNING,
        before,
        reference,
    )
    round.steps_started_at = timezone.now()
    round.save(update_fields=["status", "policy_before", "reference_policy", "steps_started_at"])


def _finish(round: Round, done: dict[str, RoundStep]) -> Round:
    """Every step succeeded: the round's models become current together; the next round opens."""
    for name in ("reward", "policy"):
        run = done[name].run if name in done else None
        artifact = ModelArtifact.objects.filter(run=run).first() if run else None
        if artifact is not None:
            artifact_make_current(artifact=artifact)
    round.status, round.finished_at = Round.Status.DONE, timezone.now()
    round.save(update_fields=["status", "finished_at"])
    after = round.snapshot.last_judgment_id if round.snapshot else None
    return Round.objects.create(
        project=round.project, number=round.number + 1, after_judgment_id=after
    )


def _advance_steps(round: Round, settings: LoopSettings) -> str:
    """Move a running round as far as it goes now; returns what happened, in words."""
    latest = round_steps_latest(round=round)
    for step in STEPS:
        attempt = latest.get(step.name)
        if attempt is not None and attempt.status in (
            RoundStep.Status.SUCCEEDED,
            RoundStep.Status.SKIPPED,
        ):
            continue
        if attempt is not None and attempt.status == RoundStep.Status.RUNNING:
            run = attempt.run
            assert run is not None  # only steps with a run stay running
            run.refresh_from_db(fields=["status", "error"])
            if not run.is_finished:
                return f"Round {round.number}: waiting for {step.name} run {run.pk}."
            if run.status != TrainingRun.Status.SUCCEEDED:
                _fail(round, attempt, run.error or f"run {run.pk} was {run.status}")
                return f"Round {round.number}: the {step.name} step failed."
            attempt.status, attempt.finished_at = RoundStep.Status.SUCCEEDED, timezone.now()
            attempt.save(update_fields=["status", "finished_at"])
            continue
        # Not started, or failed before and the round was resumed: a new attempt.
        number = attempt.attempt + 1 if attempt is not None else 1
        ctx = StepContext(round=round, settings=settings, done=latest)
        try:
            with transaction.atomic():  # a refused step leaves nothing of itself behind
                outcome = step.start(ctx)
        except _REFUSALS as error:
            failed = RoundStep.objects.create(round=round, name=step.name, attempt=number)
            _fail(round, failed, str(error))
            return f"Round {round.number}: the {step.name} step failed: {error}"
        latest[step.name] = RoundStep.objects.create(
            round=round,
            name=step.name,
            attempt=number,
            run=outcome if isinstance(outcome, TrainingRun) else None,
            note=outcome if isinstance(outcome, str) else "",
            status=RoundStep.Status.RUNNING
            if isinstance(outcome, TrainingRun)
            else RoundStep.Status.SKIPPED
            if isinstance(outcome, str)
            else RoundStep.Status.SUCCEEDED,
            finished_at=None if isinstance(outcome, TrainingRun) else timezone.now(),
        )
        if isinstance(outcome, TrainingRun):
            return f"Round {round.number}: started the {step.name} step (run {outcome.pk})."
    following = _finish(round, latest)
    return f"Round {round.number} is done; round {following.number} is labelling."


def loop_advance(*, project: Project, force: bool = False) -> Round | None:
    """Move the project's open round on as far as it goes now; returns it (None: no round).

    A labelling round starts its steps when its budget is reached and the loop is on, or when
    `force` (a manager's "next round"); LoopRefused if it cannot (then nothing changed).
    """
    with transaction.atomic():
        round = (
            Round.objects.select_for_update(of=("self",))
            .select_related("project", "snapshot")
            .filter(project=project)
            .exclude(status=Round.Status.DONE)
            .first()
        )
        settings = loop_settings_get(project=project)
        if round is None or settings is None:
            return round
        if round.status == Round.Status.LABELLING:
            count = round_judgments_count(round=round)
            if not force and not (settings.enabled and count >= settings.label_budget):
                _note(
                    settings, f"Round {round.number}: {count} of {settings.label_budget} judgments."
                )
                return round
            _begin(round, settings)
        if round.status == Round.Status.RUNNING:
            _note(settings, _advance_steps(round, settings))
        return round


def loop_round_next(*, project: Project) -> Round:
    """A manager's "next round": close the labelling round now, whatever its budget."""
    round = _open_round(project)
    if round.status != Round.Status.LABELLING:
        raise LoopRefused(f"round {round.number} is {round.status}, not labelling")
    advanced = loop_advance(project=project, force=True)
    assert advanced is not None
    return advanced


def loop_resume(*, project: Project) -> Round:
    """Start a failed round again from its failed step (a new attempt of that step)."""
    round = _open_round(project)
    with transaction.atomic():
        updated = Round.objects.filter(pk=round.pk, status=Round.Status.FAILED).update(
            status=Round.Status.RUNNING, error=""
        )
    if not updated:
        raise LoopRefused(f"round {round.number} has not failed; nothing to resume")
    advanced = loop_advance(project=project)
    assert advanced is not None
    return advanced


def _open_round(project: Project) -> Round:
    if loop_settings_get(project=project) is None:
        raise LoopRefused("the project has no loop settings yet")
    round = Round.objects.filter(project=project).exclude(status=Round.Status.DONE).first()
    if round is None:
        raise LoopRefused("the project has no open round")
    return round


def loop_run_finished(*, run_id: int) -> Round | None:
    """After a run ended: if it is a round's step, move that round on."""
    step = RoundStep.objects.filter(run_id=run_id).select_related("round__project").first()
    if step is None:
        return None
    return loop_advance(project=step.round.project)


def loops_advance() -> list[int]:
    """Beat: advance every running round and every labelling round of a loop that is on (a run
    finished while no hook ran, a dead run, a budget reached). Returns the rounds' ids."""
    rounds = Round.objects.filter(status=Round.Status.RUNNING) | Round.objects.filter(
        status=Round.Status.LABELLING, project__loop_settings__enabled=True
    )
    rounds = rounds.filter(project__archived_at__isnull=True)  # an archived project rests
    advanced = []
    for project_id in rounds.values_list("project_id", flat=True).distinct():
        try:
            round = loop_advance(project=Project.objects.get(pk=project_id))
        except LoopRefused as error:
            _note(loop_settings_get(project=Project(pk=project_id)), str(error))
            continue
        if round is not None:
            advanced.append(round.pk)
    return advanced
