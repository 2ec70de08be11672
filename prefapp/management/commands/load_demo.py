"""The demo: a project with logins and data from both apps, so it lives in the wiring layer."""

import io
import json
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from labeling.models import Membership, Project
from labeling.services.importing import data_import
from labeling.services.projects import (
    membership_set,
    project_create,
    prompts_hold_out,
    user_ensure,
)
from training.ml import toy
from training.models import TrainingKind, TrainingRun
from training.selectors import schedule_get
from training.selectors_rounds import loop_settings_get
from training.services.demo import tiny_models_ensure, toy_models_ensure
from training.services.generation import generation_launch
from training.services.loop import loop_settings_set
from training.services.schedule import schedule_set

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "candidates.jsonl"
LOGINS = [
    ("manager", "manager-demo-pass", Membership.Role.MANAGER),
    ("alice", "alice-demo-pass", Membership.Role.ANNOTATOR),
    ("bob", "bob-demo-pass", Membership.Role.ANNOTATOR),
]
INSTRUCTIONS = """Compare the two responses to the conversation and pick the **better** one.

- Prefer responses that are *correct*, *helpful* and *safe*.
- Choose **tie** when they are equally good, **both bad** when neither is acceptable.
- Don't reward length for its own sake.
"""
LOOP_SLUG = "loop-demo"
LOOP_INSTRUCTIONS = """A toy task, for watching the loop train a policy on your judgments.

A good answer opens with **Sure.**, talks about the topic the prompt names, has no
*Blah blah.* filler and closes with **Hope this helps!**. Pick the answer that gets more of
these four right; **tie** when both get as many right.
"""
LOOP_PROMPTS, LOOP_HELD_OUT = 96, 32


class Command(BaseCommand):
    help = "Create the demo project, its logins and data (safe to run again)."

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug="demo").first() or project_create(
            name="Demo: helpful answers",
            slug="demo",
            instructions=INSTRUCTIONS,
            overlap=2,
            ask_strength=True,
            ask_rationale=True,
        )
        for username, password, role in LOGINS:
            user = user_ensure(
                username=username, password=password, is_staff=role == Membership.Role.MANAGER
            )
            membership_set(project=project, user=user, role=role)
        with DEMO_FILE.open("rb") as fileobj:
            result = data_import(project=project, fileobj=fileobj, filename=DEMO_FILE.name)
        self.stdout.write(f"Demo project '{project.slug}': {result.pairs} new pairs")
        # Tiny offline models, so the demo can train with no model hub; the (disabled) schedule
        # names them as the starting points of reward and policy runs.
        models = tiny_models_ensure()
        if schedule_get(project=project) is None:
            schedule_set(
                project=project,
                reward_base_model=str(models["reward"]),
                policy_base_model=str(models["policy"]),
                min_new_judgments=20,
            )
        self.stdout.write(f"  tiny models for training: {models['policy'].parent}")
        self._loop_demo()
        for username, password, role in LOGINS:
            self.stdout.write(f"  login {username} / {password}  ({role})")

    def _loop_demo(self) -> None:
        """The toy-task project: prompts (a third held out for evaluation), a tiny policy SFT'd
        offline, and a generation job that writes the first candidates (the worker runs it)."""
        project = Project.objects.filter(slug=LOOP_SLUG).first() or project_create(
            name="Loop demo: a toy task", slug=LOOP_SLUG, instructions=LOOP_INSTRUCTIONS
        )
        for username, _, role in LOGINS:
            membership_set(project=project, user=User.objects.get(username=username), role=role)
        texts = toy.prompts(LOOP_PROMPTS, seed=2026)
        rows = "\n".join(json.dumps({"id": f"toy-{n}", "prompt": t}) for n, t in enumerate(texts))
        data_import(
            project=project,
            fileobj=io.BytesIO(rows.encode()),
            filename="toy-prompts.jsonl",
            format="prompts",
        )
        prompts_hold_out(
            project=project,
            external_ids=[f"toy-{n}" for n in range(LOOP_PROMPTS - LOOP_HELD_OUT, LOOP_PROMPTS)],
        )
        models = toy_models_ensure()
        if not TrainingRun.objects.filter(project=project, kind=TrainingKind.GENERATE).exists():
            generation_launch(
                project=project,
                policy=str(models["policy"]),
                prompt_set="all",
                k=4,
                sampling={"temperature": 1.0, "max_new_tokens": 40},
                pairing="all",
            )
        if loop_settings_get(project=project) is None:
            # A round per 300 judgments (four answers a prompt make 6 pairs of each of its 64
            # prompts). DPO with β 0.3 and an NLL term on the chosen answer (rpo_alpha 1.0):
            # with β 0.1, or a higher lr without the term, a round's update drove the toy policy
            # into malformed answers; with it lr 1e-3 ended three rounds at 0.88-0.90 against
            # the start (three seeds), lr 1e-4 without it at 0.75, in as many steps
            # (bench/README.md, loop).
            loop_settings_set(
                project=project,
                enabled=True,
                label_budget=300,
                prompts_per_round=LOOP_PROMPTS - LOOP_HELD_OUT,
                k=4,
                sampling={"temperature": 1.0, "max_new_tokens": 40},
                policy_method="dpo",
                policy_config={
                    "learning_rate": 1e-3,
                    "beta": 0.3,
                    "rpo_alpha": 1.0,
                    "max_steps": 60,
                    "per_device_train_batch_size": 16,
                    "max_length": 128,
                },
                reward_base_model=str(models["reward"]),
                reward_config={"learning_rate": 1e-3, "max_steps": 60, "max_length": 128},
                start_policy=str(models["policy"]),
            )
        self.stdout.write(
            f"Loop demo '{project.slug}': {LOOP_PROMPTS - LOOP_HELD_OUT} prompts to label, "
            f"{LOOP_HELD_OUT} held out; the start policy's answers are being generated. Label "
            f"them yourself or: python manage.py simulate_annotators --project {project.slug} "
            "--oracle training.ml.toy:oracle_prefers --noise 0.1"
        )
