"""`manage.py train --project SLUG --kind reward [--base PATH_OR_ID] [--set k=v ...] [--wait]`"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from training.management.follow import follow_run
from training.ml.config import KINDS_NEEDING_REWARD, ConfigError, parse_set_options
from training.models import DatasetSnapshot, ModelArtifact, TrainingKind, TrainingRun
from training.selectors import artifact_current, run_base_default
from training.services.runs import TrainingRefused, base_resolve, run_create


class Command(BaseCommand):
    help = "Queue a training run on a project's judgments (and with --wait, follow it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        # A generation job has its own command (`manage.py generate`).
        kinds = [kind for kind in TrainingKind.values if kind != TrainingKind.GENERATE]
        parser.add_argument("--kind", required=True, choices=kinds)
        parser.add_argument(
            "--base",
            help="artifact id, hub id (organisation/name) or a model directory under "
            "PREFAPP_MODEL_ROOTS (default: the current policy, else the schedule's base models)",
        )
        parser.add_argument(
            "--reward-artifact",
            help="reward model for ppo/rloo/grpo: an artifact id, or a model directory under "
            "PREFAPP_MODEL_ROOTS or hub id (default: the current reward artifact)",
        )
        parser.add_argument(
            "--snapshot",
            type=int,
            help="train on this snapshot (default: a new one of all judgments)",
        )
        parser.add_argument(
            "--eval-fraction",
            type=float,
            default=0.1,
            help="share of prompts held out, for a new snapshot",
        )
        parser.add_argument("--seed", type=int, default=0, help="split seed, for a new snapshot")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a config field (repeatable), e.g. --set max_steps=50",
        )
        parser.add_argument(
            "--queue",
            default="",
            help="the worker pool (Celery queue) to run on, e.g. training-gpu "
            "(default: the project's, else the kind's, else PREFAPP_TRAINING_QUEUE)",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="follow the run, printing progress; fail unless it succeeds",
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
        kind = options["kind"]
        try:
            config_values = parse_set_options(options["set"])
            run = run_create(
                project=project,
                kind=kind,
                base=self._base(project, options["base"], kind),
                config_values=config_values,
                snapshot=self._snapshot(project, options["snapshot"]),
                reward_artifact=self._reward_artifact(project, kind, options["reward_artifact"]),
                created_by=None,
                eval_fraction=options["eval_fraction"],
                seed=options["seed"],
                queue=options["queue"],
            )
        except (TrainingRefused, ConfigError) as error:
            raise CommandError(str(error)) from None
        snapshot = run.snapshot
        self.stdout.write(
            f"Queued {kind} run {run.pk} (pool {run.queue}) on snapshot {run.snapshot_id} "
            f"({snapshot.train_rows} train + {snapshot.eval_rows} eval rows)"
            if snapshot is not None
            else f"Queued {kind} run {run.pk} (pool {run.queue}) of the project's open pairs"
        )
        if options["wait"]:
            try:
                self._follow(run, timeout=options["timeout"])
            except KeyboardInterrupt:
                # Ctrl-C stops the following, not the run (cancel it from the dashboard).
                raise CommandError(f"stopped following run {run.pk}; it goes on") from None

    def _base(self, project: Project, text: str | None, kind: str) -> str | ModelArtifact:
        if text:
            return text  # run_create checks it (runs.base_resolve), as it does the form's
        base = run_base_default(project=project, kind=kind)
        if base is not None:
            return base
        if kind == TrainingKind.REWARD:
            raise TrainingRefused(
                "--base: required (the project's training schedule names no reward base model)"
            )
        if kind == TrainingKind.SCORE:
            raise TrainingRefused("--base: required (the project has no current reward model)")
        raise TrainingRefused(
            "--base: required (the project has no current policy and its "
            "schedule names no policy base model)"
        )

    def _reward_artifact(
        self, project: Project, kind: str, text: str | None
    ) -> str | ModelArtifact | None:
        if kind not in KINDS_NEEDING_REWARD:
            if text is not None:
                raise TrainingRefused(f"--reward-artifact: a {kind} run does not use one")
            return None
        if text is None:
            current = artifact_current(project=project, kind="reward")
            if current is None:
                raise TrainingRefused(
                    "--reward-artifact: required, the project has no current reward model"
                )
            return current
        # An artifact id, a directory under PREFAPP_MODEL_ROOTS or a hub id: the rule of a base.
        return base_resolve(project=project, text=text, field="--reward-artifact")

    def _snapshot(self, project: Project, snapshot_id: int | None) -> DatasetSnapshot | None:
        if snapshot_id is None:
            return None
        snapshot = DatasetSnapshot.objects.filter(project=project, pk=snapshot_id).first()
        if snapshot is None:
            raise TrainingRefused(
                f"--snapshot: project {project.slug!r} has no snapshot {snapshot_id}"
            )
        return snapshot

    def _follow(self, run: TrainingRun, *, timeout: float) -> None:
        run = follow_run(run, timeout=timeout, write=self.stdout.write)
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error or 'cancelled'}")
        metrics = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(run.final_metrics.items())
        )
        self.stdout.write(
            f"run {run.pk} succeeded: artifact {run.artifact.pk} at "
            f"{run.artifact.path}" + (f"\n  {metrics}" if metrics else "")
        )
