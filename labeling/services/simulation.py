"""Simulated annotators: label a project through the same leases and judgments as people.

An oracle (a function of the prompt text and the two answers, `'a'`, `'b'` or `'tie'`) stands
in for a person; noise flips its answer and a left bias picks the left side regardless. They
take pairs with `assignment_next` and answer with `judgment_record`, so overlap, gold, the
one-judgment-per-pair rule and every other labelling rule hold for them as for people. Their
judgments carry the source `simulated`: quality statistics about people leave them out.

A manager starts them from the dashboard (`simulation_launch`, run by a task of the default
worker); there the oracle is one of PREFAPP_SIMULATION_ORACLES, never a path from a form.
`manage.py simulate_annotators` (the server's operator) may name any module:function.
"""

import importlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from labeling.models import Judgment, Membership, Project
from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from labeling.services.projects import membership_set
from prefcore.conversation import prompt_text

Oracle = Callable[[str, str, str], str]  # (prompt, answer a, answer b) -> 'a' | 'b' | 'tie'


class OracleError(ValueError):
    """The oracle could not be loaded; the message says what is wrong."""


class SimulationRefused(ValueError):
    """A dashboard start of simulated annotators was refused; "field: why"."""


# A dashboard start labels at most this many judgments with at most this many annotators: a
# default-queue task must not hold its worker for hours.
MAX_ANNOTATORS = 50
MAX_BUDGET = 100_000


@dataclass(frozen=True)
class SimulationResult:
    judgments: int
    per_annotator: dict[str, int]


def oracle_from_path(path: str) -> Oracle:
    """`package.module:function`, imported by name (the labelling side imports no model code)."""
    module_name, _, function_name = path.partition(":")
    if not module_name or not function_name:
        raise OracleError(f"--oracle {path!r}: expected module:function")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise OracleError(f"--oracle {path!r}: {error}") from error
    if not callable(function):
        raise OracleError(f"--oracle {path!r}: not a function")
    return function


def oracle_from_labels(path: Path) -> Oracle:
    """An oracle that knows the preferences in a JSONL file of `{prompt, chosen, rejected}`
    strings; pairs the file does not name are ties."""
    known: dict[tuple[str, str, str], str] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
            except (ValueError, KeyError, TypeError) as error:
                raise OracleError(f"{path.name}, line {number}: {error!r}") from error
            known[(prompt, chosen, rejected)] = "a"
            known[(prompt, rejected, chosen)] = "b"

    def oracle(prompt: str, answer_a: str, answer_b: str) -> str:
        return known.get((prompt, answer_a, answer_b), "tie")

    return oracle


def simulated_annotators_ensure(*, project: Project, count: int) -> list[User]:
    """Members `sim-<slug>-<i>` of the project, with no usable password."""
    users = []
    for number in range(1, count + 1):
        user, created = User.objects.get_or_create(username=f"sim-{project.slug}-{number}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
        users.append(user)
    return users


def annotators_simulate(
    *,
    project: Project,
    oracle: Oracle,
    annotators: int = 5,
    noise: float = 0.0,
    left_bias: float = 0.0,
    budget: int | None = None,
    seed: int = 0,
) -> SimulationResult:
    """Label until no simulated annotator gets another pair, or `budget` judgments are made."""
    rng = random.Random(seed)
    users = simulated_annotators_ensure(project=project, count=annotators)
    counts = {user.username: 0 for user in users}
    active = list(users)
    while active and (budget is None or sum(counts.values()) < budget):
        for user in list(active):
            if budget is not None and sum(counts.values()) >= budget:
                break
            assignment = assignment_next(project=project, annotator=user, rng=rng)
            if assignment is None:
                active.remove(user)
                continue
            prompt = prompt_text(assignment.pair.prompt.messages)
            side = _side(
                oracle(prompt, assignment.left.text, assignment.right.text),
                noise=noise,
                left_bias=left_bias,
                allow_tie=project.allow_tie,
                rng=rng,
            )
            judgment_record(
                project=project,
                assignment_id=assignment.pk,
                annotator=user,
                side=side,
                source=Judgment.Source.SIMULATED,
            )
            counts[user.username] += 1
    return SimulationResult(judgments=sum(counts.values()), per_annotator=counts)


def _side(
    preferred: str, *, noise: float, left_bias: float, allow_tie: bool, rng: random.Random
) -> str:
    """The oracle's answer about (left, right) as a person's click, with their errors."""
    if rng.random() < left_bias:
        return "left"
    side = {"a": "left", "b": "right"}.get(preferred, "tie")
    if side == "tie" and not allow_tie:
        side = rng.choice(("left", "right"))
    elif side != "tie" and rng.random() < noise:
        side = "right" if side == "left" else "left"
    return side


def simulation_oracles() -> list[str]:
    """The oracles a manager may choose from (PREFAPP_SIMULATION_ORACLES)."""
    return list(settings.PREFAPP_SIMULATION_ORACLES)


def _launch_check(oracle: str, annotators: int, noise: float, budget: int | None) -> None:
    if oracle not in simulation_oracles():
        raise SimulationRefused(f"oracle: {oracle!r} is not one of PREFAPP_SIMULATION_ORACLES")
    if not 1 <= annotators <= MAX_ANNOTATORS:
        raise SimulationRefused(f"annotators: must be between 1 and {MAX_ANNOTATORS}")
    if not 0.0 <= noise <= 1.0:
        raise SimulationRefused("noise: must be between 0 and 1")
    if budget is not None and not 1 <= budget <= MAX_BUDGET:
        raise SimulationRefused(f"budget: must be between 1 and {MAX_BUDGET}")


def simulation_launch(
    *,
    project: Project,
    oracle: str,
    annotators: int,
    noise: float,
    budget: int | None,
    seed: int = 0,
) -> None:
    """A manager's start of simulated annotators: checked now (SimulationRefused names the
    field), labelled by a task of the default worker once the request's transaction commits."""
    _launch_check(oracle, annotators, noise, budget)
    from labeling.tasks import simulate_annotators  # tasks import services; import late

    args = (project.pk, oracle, annotators, noise, budget, seed)
    transaction.on_commit(lambda: simulate_annotators.delay(*args))


def simulation_run(
    *,
    project_id: int,
    oracle: str,
    annotators: int,
    noise: float,
    budget: int | None,
    seed: int = 0,
) -> int:
    """The task's work: the oracle checked against the allow-list again (a message only names
    it), then `annotators_simulate`; returns the judgments made (0: the project is gone)."""
    _launch_check(oracle, annotators, noise, budget)
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    return annotators_simulate(
        project=project,
        oracle=oracle_from_path(oracle),
        annotators=annotators,
        noise=noise,
        budget=budget,
        seed=seed,
    ).judgments
