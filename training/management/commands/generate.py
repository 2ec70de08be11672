"""`manage.py generate --project SLUG [--policy ID_OR_PATH] [--prompts SET] [--k K]
[--pairing RULE] [--seed N] [--set key=value ...] [--wait]`"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from training.management.follow import follow_run
from training.ml.config import PROMPT_SET_HELP, ConfigError, GenerateRunConfig, parse_set_options
from training.models import ModelArtifact, TrainingKind, TrainingRun
from training.selectors import run_base_default
from training.services.generation import generation_launch
from training.services.runs import TrainingRefused


def _help(name: str) -> str:
    return GenerateRunConfig.model_fields[name].description or ""


class Command(BaseCommand):
    help = "Queue a generation job: a policy's answers become candidates and pairs."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = GenerateRunConfig.model_validate({})
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--policy",
            help="artifact id, hub id (organisation/name) or a model directory under "
            "PREFAPP_MODEL_ROOTS (default: the current policy, else the schedule's)",
        )
        parser.add_argument("--prompts", default=defaults.prompt_set, help=PROMPT_SET_HELP)
        parser.add_argument("--k", type=int, default=defaults.k, help=_help("k"))
        parser.add_argument("--pairing", default=defaults.pairing, help=_help("pairing"))
        parser.add_argument("--seed", type=int, default=defaults.seed, help=_help("seed"))
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a sampling setting (repeatable), e.g. --set temperature=0.9 --set top_p=0.95",
        )
        parser.add_argument(
            "--wait", action="store_true", help="follow the job; fail unless it succeeds"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=0,
            help="with --wait, give up waiting after this many seconds (0: never)",
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project {options['project']!r}")
        try:
            run = generation_launch(
                project=project,
                policy=self._policy(project, options["policy"]),
                prompt_set=options["prompts"],
                k=options["k"],
                pairing=options["pairing"],
                seed=options["seed"],
                sampling=parse_set_options(options["set"]),
            )
        except (TrainingRefused, ConfigError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Queued generation run {run.pk} from {run.base_label}")
        if options["wait"]:
            try:
                self._follow(run, timeout=options["timeout"])
            except KeyboardInterrupt:
                raise CommandError(f"stopped following run {run.pk}; it goes on") from None

    def _policy(self, project: Project, text: str | None) -> str | ModelArtifact:
        if text:
            return text  # generation_launch checks it (runs.base_resolve)
        policy = run_base_default(project=project, kind=TrainingKind.GENERATE)
        if policy is None:
            raise TrainingRefused(
                "--policy: required (the project has no current policy and its schedule "
                "names no policy base model)"
            )
        return policy

    def _follow(self, run: TrainingRun, *, timeout: float) -> None:
        run = follow_run(run, timeout=timeout, write=self.stdout.write)
        counts = ", ".join(f"{k}={v}" for k, v in sorted(run.final_metrics.items()))
        self.stdout.write(f"run {run.pk} succeeded: {counts}")
