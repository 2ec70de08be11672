"""The database side of bench/labeling_load.py, run as its own process against the bench database.

    python bench/labeling_setup.py seed --slug S --pairs N --annotators K --overlap O
    python bench/labeling_setup.py check --slug S --answers FILE.json
    python bench/labeling_setup.py rescore --slug S --strategy uncertainty   # until stopped

`seed` bulk-creates a project (prompts with 4 responses each, so 6 pairs per prompt) and its
annotators and prints them as JSON; `check` compares what the load generator was answered with
the rows (the same invariants as tests/labeling/test_concurrency.py) and prints the problems;
`rescore` stores new predictions (random margins) for every open pair and rewrites the
priorities by a strategy, as a scoring run does (labeling.services.selection.selection_apply),
round after round until it is stopped, printing one JSON line per round.
The load generator itself never imports Django, so its CPU goes to sending requests.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-annotator-pass"
_CHUNK_PROMPTS = 5000

_OPENINGS = [
    "Here is a short answer.",
    "Good question!",
    "Let me explain step by step.",
    "There are a few things to consider.",
    "In short: it depends.",
]
_BODY = [
    "The main idea is that **each step** builds on the previous one.",
    "You can check the result by running it on a small example first.",
    "- first, read the input\n- then, validate it\n- finally, write the output",
    "```python\ndef total(xs):\n    return sum(x for x in xs if x > 0)\n```",
    "A common mistake is to forget the edge case where the list is *empty*.",
    "See the documentation for the details of the `timeout` option.",
    "| option | meaning |\n|---|---|\n| `-v` | verbose |\n| `-q` | quiet |",
    "This works in most cases, but not when the data does not fit in memory.",
]


def _response_text(rng: random.Random, prompt_no: int, k: int) -> str:
    body = "\n\n".join(rng.sample(_BODY, rng.randint(2, 4)))
    return f"{rng.choice(_OPENINGS)} (answer {k} to question {prompt_no})\n\n{body}"


def seed(*, slug: str, pairs: int, annotators: int, overlap: int) -> dict:
    from django.db import connection, transaction

    from labeling.models import Candidate, Pair, Project, Prompt

    existing = Project.objects.filter(slug=slug).first()
    if existing is not None:  # --reuse-db: the project of an earlier run, as it was left
        users = _annotators(existing, annotators)
        return {
            "slug": slug,
            "pairs": Pair.objects.filter(project=existing).count(),
            "password": PASSWORD,
            "users": {u.username: u.pk for u in users},
            "tokens": _tokens(users),
            "seed_seconds": 0.0,
        }
    rng = random.Random(slug)
    started = time.monotonic()
    project = Project.objects.create(
        name=f"Bench {slug}",
        slug=slug,
        overlap=overlap,
        instructions="Pick the **more helpful** response. Ties are fine when neither is better.",
    )
    prompts_needed = -(-pairs // 6)
    made = 0
    for first in range(0, prompts_needed, _CHUNK_PROMPTS):
        numbers = range(first, min(first + _CHUNK_PROMPTS, prompts_needed))
        with transaction.atomic():
            prompts = Prompt.objects.bulk_create(
                Prompt(
                    project=project,
                    external_id=f"q{n}",
                    messages=[
                        {
                            "role": "user",
                            "content": f"Question {n}: how do I sum "
                            f"the positive numbers of a list, and why?",
                        }
                    ],
                )
                for n in numbers
            )
            candidates = Candidate.objects.bulk_create(
                Candidate(prompt=p, text=_response_text(rng, n, k), source=f"model-{k}")
                for p, n in zip(prompts, numbers, strict=True)
                for k in range(4)
            )
            batch = []
            for i in range(len(prompts)):
                four = candidates[4 * i : 4 * i + 4]
                for a, b in itertools.combinations(four, 2):
                    if made < pairs:
                        batch.append(
                            Pair(
                                project=project,
                                prompt_id=prompts[i].pk,
                                candidate_a=a,
                                candidate_b=b,
                            )
                        )
                        made += 1
            Pair.objects.bulk_create(batch, batch_size=5000)
    users = _annotators(project, annotators)
    # Statistics as a running server would have them (autovacuum would get there later, and
    # compete with the measurement meanwhile).
    with connection.cursor() as cursor:
        for model in (Prompt, Candidate, Pair):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return {
        "slug": slug,
        "pairs": made,
        "password": PASSWORD,
        "users": {u.username: u.pk for u in users},
        "tokens": _tokens(users),
        "seed_seconds": round(time.monotonic() - started, 1),
    }


def _tokens(users: list) -> dict[str, str]:
    """A fresh API token per annotator (--flow api), by username."""
    from api.services.tokens import token_create

    return {u.username: token_create(user=u, name="bench").secret for u in users}


def _annotators(project, count: int) -> list:
    """The project's first `count` bench annotators, made if missing."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from labeling.models import Membership

    users = list(get_user_model().objects.filter(membership__project=project).order_by("pk"))
    if len(users) < count:
        hashed = make_password(PASSWORD)  # once: hashing is slow on purpose
        made = get_user_model().objects.bulk_create(
            get_user_model()(username=f"{project.slug}-annotator-{i}", password=hashed)
            for i in range(len(users), count)
        )
        Membership.objects.bulk_create(Membership(user=u, project=project) for u in made)
        users += made
    return users[:count]


def check(*, slug: str, answers: dict) -> dict:
    from django.db.models import Count

    from labeling.models import Assignment, Judgment, Project
    from tests.labeling.concurrency_scenario import Log, problems

    project = Project.objects.get(slug=slug)
    log = Log(
        successes=[tuple(s) for s in answers["successes"]],
        refusals=[tuple(s) for s in answers["refusals"]],
    )
    since = datetime.fromisoformat(answers["since"]) if answers.get("since") else None
    found = problems(log, project.pk, complete=False, since=since)
    statuses = dict(
        Assignment.objects.filter(project=project)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "problems": found[:50],
        "problem_count": len(found),
        "judgments": Judgment.objects.filter(project=project).count(),
        "assignments": statuses,
    }


def rescore(*, slug: str, strategy: str) -> None:
    from django.db import connection
    from django.utils import timezone

    from labeling.models import Pair, Project
    from labeling.services.selection import BATCH_ROWS, p_a_preferred, selection_apply

    project = Project.objects.get(slug=slug)
    project.selection_strategy = strategy
    Project.objects.filter(pk=project.pk).update(selection_strategy=strategy)
    rng = random.Random(slug)

    def batch_written() -> bool:  # asked before each batch: its time is when it is written
        print(json.dumps({"batch_at": time.time(), "rows": BATCH_ROWS}), flush=True)
        return True

    for round_no in itertools.count(1):
        started = time.monotonic()
        ids = Pair.objects.filter(project=project, is_full=False, is_gold=False).values_list(
            "pk", flat=True
        )
        new = {}
        for pk in ids.iterator(chunk_size=10_000):
            margin = rng.gauss(0.0, 2.0)
            new[pk] = (p_a_preferred(margin), margin)
        written = selection_apply(
            project=project, new=new, scored_at=timezone.now(), rng=rng, keep_going=batch_written
        )
        connection.close()
        line = {"round": round_no, "pairs": len(new), "rows_written": written}
        line["seconds"] = round(time.monotonic() - started, 2)
        print(json.dumps(line), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    seeding = sub.add_parser("seed")
    seeding.add_argument("--slug", required=True)
    seeding.add_argument("--pairs", type=int, required=True)
    seeding.add_argument("--annotators", type=int, required=True)
    seeding.add_argument("--overlap", type=int, default=3)
    checking = sub.add_parser("check")
    checking.add_argument("--slug", required=True)
    checking.add_argument("--answers", type=Path, required=True)
    rescoring = sub.add_parser("rescore")
    rescoring.add_argument("--slug", required=True)
    rescoring.add_argument("--strategy", default="uncertainty")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prefapp.settings")
    import django

    django.setup()
    if args.command == "seed":
        result = seed(
            slug=args.slug, pairs=args.pairs, annotators=args.annotators, overlap=args.overlap
        )
    elif args.command == "rescore":
        rescore(slug=args.slug, strategy=args.strategy)
        return 0
    else:
        result = check(slug=args.slug, answers=json.loads(args.answers.read_text()))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
