"""Reads of generation jobs: which prompts a job answers, what its new answers are paired with,
and what a finished job added. Nothing here writes."""

from collections.abc import Iterable

from django.db.models import Count, QuerySet

from labeling.models import Candidate, Choice, Judgment, Project, Prompt
from training.models import TrainingRun

# Candidate.metadata keys: the generation run that sampled a candidate (its provenance, and how
# a job's own output is found) and a score a reward model may have stored for a candidate.
RUN_KEY = "generation_run"
REWARD_SCORE_KEY = "reward_score"


def prompt_set_ids(prompt_set: str) -> list[int] | None:
    """The ids a "prompts:ID,ID" set names; None for the named sets (all, heldout, ...)."""
    kind, _, ids = prompt_set.partition(":")
    return [int(i) for i in ids.split(",")] if kind == "prompts" else None


def prompts_for_set(*, project: Project, prompt_set: str, k: int) -> QuerySet[Prompt]:
    """The prompts of `prompt_set` (a validated GenerateRunConfig.prompt_set), by id."""
    prompts = Prompt.objects.filter(project=project).order_by("pk")
    ids = prompt_set_ids(prompt_set)
    if ids is not None:
        return prompts.filter(pk__in=ids)
    if prompt_set == "heldout":
        return prompts.filter(heldout=True)
    # Held-out prompts measure the policy; answers to them that people label would train the
    # next reward model on them. Only the "heldout" set or their ids reach them.
    labelled = prompts.filter(heldout=False)
    if prompt_set == "fewer_than_k":
        return labelled.annotate(answers=Count("candidates")).filter(answers__lt=k)
    if prompt_set == "all":
        return labelled
    raise ValueError(f"unknown prompt set {prompt_set!r}")


def _judged_record(prompt_ids: Iterable[int]) -> dict[int, int]:
    """Each candidate's wins minus losses in the judgments of its prompt's pairs."""
    record: dict[int, int] = {}
    judged = Judgment.objects.filter(
        pair__prompt_id__in=prompt_ids, choice__in=(Choice.A, Choice.B)
    ).values_list("pair__candidate_a_id", "pair__candidate_b_id", "choice")
    for a, b, choice in judged:
        winner, loser = (a, b) if choice == Choice.A else (b, a)
        record[winner] = record.get(winner, 0) + 1
        record[loser] = record.get(loser, 0) - 1
    return record


def _score(candidate: Candidate) -> float | None:
    value = candidate.metadata.get(REWARD_SCORE_KEY) if candidate.metadata else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def anchor_candidates(*, prompt_ids: list[int], pairing: str) -> dict[int, Candidate]:
    """For each prompt, the existing answer new answers are paired with under `pairing`:

    - "previous": the newest answer sampled by an earlier generation job (the previous policy),
      else the prompt's first answer (the reference, as imported);
    - "best": the answer with the highest stored reward-model score (metadata "reward_score")
      when any answer of the prompt has one, else the best judged record (wins minus losses),
      the older answer on a tie.

    Prompts without any answer are left out.
    """
    by_prompt: dict[int, list[Candidate]] = {}
    for candidate in Candidate.objects.filter(prompt_id__in=prompt_ids).order_by("pk"):
        by_prompt.setdefault(candidate.prompt_id, []).append(candidate)
    anchors: dict[int, Candidate] = {}
    if pairing == "previous":
        for prompt_id, candidates in by_prompt.items():
            generated = [c for c in candidates if RUN_KEY in (c.metadata or {})]
            anchors[prompt_id] = generated[-1] if generated else candidates[0]
        return anchors
    if pairing != "best":
        raise ValueError(f"no anchor for pairing {pairing!r}")
    record = _judged_record(by_prompt)
    for prompt_id, candidates in by_prompt.items():
        if any(_score(c) is not None for c in candidates):
            scored = [c for c in candidates if _score(c) is not None]
            anchors[prompt_id] = max(scored, key=lambda c: (_score(c), -c.pk))
        else:
            anchors[prompt_id] = max(candidates, key=lambda c: (record.get(c.pk, 0), -c.pk))
    return anchors


def generation_outputs(run: TrainingRun) -> list[Candidate]:
    """The candidates a generation job added (none unless it succeeded), by prompt and order."""
    made_by_run = {f"metadata__{RUN_KEY}": run.pk}
    return list(
        Candidate.objects.filter(prompt__project_id=run.project_id, **made_by_run)
        .select_related("prompt")
        .order_by("prompt_id", "pk")
    )
