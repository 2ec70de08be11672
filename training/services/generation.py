"""Generation jobs: a policy's sampled answers become candidates and pairs.

A job is a TrainingRun of kind "generate" and runs like any run (execution.py): queued on the
training queue, a child process (`python -m training.ml`, training/ml/generate.py) that writes
`samples.jsonl` into the run's directory, progress, log, cancellation, heartbeat and the same
failure states. Which prompts it answers is decided when it starts (`generation_prompts_write`).
Only when the child succeeded does `generation_ingest` turn the samples into candidates and
pairs, in the transaction that marks the run succeeded: annotators see all of a job's pairs or
none, and a cancelled or failed job adds nothing.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

from labeling.models import Candidate, Pair, Project, Prompt
from labeling.services.importing import pair_indices
from training.ml.artifact import SAMPLES_FILE
from training.ml.config import ConfigError, GenerateRunConfig, config_to_dict, validate_config
from training.models import ModelArtifact, TrainingKind, TrainingRun
from training.selectors_generation import (
    RUN_KEY,
    anchor_candidates,
    prompt_set_ids,
    prompts_for_set,
)
from training.services.runs import TrainingRefused, run_create

# The sampling settings a candidate's source and metadata name.
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "max_new_tokens", "seed")


def generation_launch(
    *,
    project: Project,
    policy: str | ModelArtifact,
    prompt_set: str,
    k: int,
    sampling: dict[str, Any],
    pairing: str,
    user: Any = None,
    seed: int = 0,
    base_projects: Collection[int] = (),
) -> TrainingRun:
    """Queue a generation job: `k` answers from `policy` (an artifact, "artifact:ID", a hub id or
    a model directory, as runs.base_resolve allows) to each prompt of `prompt_set` ("all",
    "fewer_than_k", "heldout" or "prompts:ID,ID,..."), paired by `pairing` ("all", "previous"
    or "best"). `sampling` holds the other GenerateRunConfig fields (temperature, top_p, top_k,
    max_new_tokens, batch_size, ...). `base_projects`: other projects whose policy artifacts
    `policy` may be (an arena's). TrainingRefused names what is wrong; nothing is written."""
    fixed = {"prompt_set": prompt_set, "k": k, "pairing": pairing, "seed": seed}
    repeated = sorted(set(sampling) & set(fixed))
    if repeated:
        raise TrainingRefused(f"sampling: {', '.join(repeated)} are arguments of their own")
    values = {**sampling, **fixed}
    try:
        config = validate_config(TrainingKind.GENERATE, values)
    except ConfigError as error:
        raise TrainingRefused(f"config: {error}") from None
    assert isinstance(config, GenerateRunConfig)
    prompts = prompts_for_set(project=project, prompt_set=config.prompt_set, k=config.k)
    named = prompt_set_ids(config.prompt_set)
    if named is not None:
        missing = sorted(set(named) - set(prompts.values_list("pk", flat=True)))
        if missing:
            raise TrainingRefused(
                f"prompt_set: project {project.slug!r} has no prompt "
                + ", ".join(str(pk) for pk in missing)
            )
    if not prompts.exists():
        raise TrainingRefused(f"prompt_set: no prompts in {config.prompt_set!r}")
    return run_create(
        project=project,
        kind=TrainingKind.GENERATE,
        base=policy,
        config_values=config_to_dict(config),
        created_by=user,
        base_projects=base_projects,
    )


def _config(run: TrainingRun) -> GenerateRunConfig:
    config = validate_config(TrainingKind.GENERATE, run.config)
    assert isinstance(config, GenerateRunConfig)
    return config


def generation_prompts_write(*, run: TrainingRun) -> Path:
    """The job's prompts file, chosen now (a prompt that reached k answers meanwhile is left
    out of "fewer_than_k"): one {"prompt_id", "prompt"} per line."""
    config = _config(run)
    path = run.directory / "prompts.jsonl"
    prompts = prompts_for_set(project=run.project, prompt_set=config.prompt_set, k=config.k)
    with path.open("w", encoding="utf-8") as out:
        for prompt_id, messages in prompts.values_list("pk", "messages").iterator():
            out.write(json.dumps({"prompt_id": prompt_id, "prompt": messages}) + "\n")
    return path


def _read_samples(path: Path) -> dict[int, list[dict[str, Any]]]:
    by_prompt: dict[int, list[dict[str, Any]]] = defaultdict(list)
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            sample = json.loads(line)
            by_prompt[int(sample["prompt_id"])].append(sample)
    return by_prompt


def _source(run: TrainingRun, config: GenerateRunConfig) -> str:
    settings = " ".join(f"{name}={getattr(config, name)}" for name in SAMPLING_FIELDS)
    policy = run.base_label
    if len(policy) > 80:
        policy = "…" + policy[-79:]
    return f"{policy} {settings}"[:200]


def generation_ingest(*, run: TrainingRun) -> dict[str, int]:
    """Add a succeeded job's samples as candidates and pairs; returns the counts, also merged
    into the run's final metrics. Call it inside the transaction that marks the run succeeded.

    An empty answer, or one whose text a candidate of the prompt already has (from any source,
    this job's other samples included), is dropped and counted: running the same job with the
    same seed again adds nothing. The prompts' rows are locked while their answers are compared,
    so two jobs ending at once cannot both add the same text."""
    config = _config(run)
    samples = _read_samples(run.output_dir / SAMPLES_FILE)
    counts = dict.fromkeys(
        ("samples", "candidates_added", "pairs_added", "dropped_empty", "dropped_duplicate"), 0
    )
    counts["samples"] = sum(len(s) for s in samples.values())
    prompts = list(
        Prompt.objects.select_for_update()
        .filter(project_id=run.project_id, pk__in=list(samples))
        .order_by("pk")
    )
    counts["dropped_prompt_gone"] = sum(
        len(samples[pk]) for pk in set(samples) - {p.pk for p in prompts}
    )
    seen: dict[int, set[str]] = defaultdict(set)
    for prompt_id, text in Candidate.objects.filter(prompt__in=prompts).values_list(
        "prompt_id", "text"
    ):
        seen[prompt_id].add(text.strip())
    source = _source(run, config)
    sampling = {name: getattr(config, name) for name in SAMPLING_FIELDS}
    new: list[Candidate] = []
    for prompt in prompts:
        for sample in sorted(samples[prompt.pk], key=lambda s: s["index"]):
            # PostgreSQL text cannot hold NUL, which a byte-level tokenizer can decode to.
            text = str(sample["text"]).replace("\x00", "").strip()
            if not text:
                counts["dropped_empty"] += 1
                continue
            if text in seen[prompt.pk]:
                counts["dropped_duplicate"] += 1
                continue
            seen[prompt.pk].add(text)
            new.append(
                Candidate(
                    prompt=prompt,
                    text=text,
                    source=source,
                    metadata={
                        RUN_KEY: run.pk,
                        "policy": run.base_label,
                        "sampling": sampling,
                        "sample": sample["index"],
                        "finished": bool(sample.get("finished")),
                        "sha256": hashlib.sha256(text.encode()).hexdigest(),
                    },
                )
            )
    anchors = (
        anchor_candidates(prompt_ids=[p.pk for p in prompts], pairing=config.pairing)
        if config.pairing != "all"
        else {}
    )
    Candidate.objects.bulk_create(new)
    pairs = _pairs(run, config, new, anchors)
    Pair.objects.bulk_create(pairs)
    counts["candidates_added"], counts["pairs_added"] = len(new), len(pairs)
    run.final_metrics = {**run.final_metrics, **counts}
    TrainingRun.objects.filter(pk=run.pk).update(final_metrics=run.final_metrics)
    return counts


def _pairs(
    run: TrainingRun,
    config: GenerateRunConfig,
    new: list[Candidate],
    anchors: dict[int, Candidate],
) -> list[Pair]:
    """The pairing rule: each new answer against the prompt's anchor; where there is none (or
    with pairing "all"), among the prompt's new answers as imports pair a prompt's responses
    (all pairs up to four, a capped sample beyond: importing.pair_indices)."""
    by_prompt: dict[int, list[Candidate]] = defaultdict(list)
    for candidate in new:
        by_prompt[candidate.prompt_id].append(candidate)
    pairs = []
    for prompt_id, mine in by_prompt.items():
        anchor = anchors.get(prompt_id)
        if anchor is not None:
            couples = [(anchor, candidate) for candidate in mine]
        else:
            indices = pair_indices(len(mine), seed=f"{config.seed}:{prompt_id}")
            couples = [(mine[i], mine[j]) for i, j in indices]
        for first, second in couples:
            a, b = sorted((first, second), key=lambda c: c.pk)
            pairs.append(
                Pair(project_id=run.project_id, prompt_id=prompt_id, candidate_a=a, candidate_b=b)
            )
    return pairs
