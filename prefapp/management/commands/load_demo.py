"""The demo: a project with logins and data from both apps, so it lives in the wiring layer."""

from pathlib import Path

from django.core.management.base import BaseCommand

from labeling.models import Membership, Project
from labeling.services.importing import data_import
from labeling.services.projects import membership_set, project_create, user_ensure
from training.selectors import schedule_get
from training.services.demo import tiny_models_ensure
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
        for username, password, role in LOGINS:
            self.stdout.write(f"  login {username} / {password}  ({role})")
