from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from labeling.services.simulation import (
    OracleError,
    annotators_simulate,
    oracle_from_labels,
    oracle_from_path,
)


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Label a project with simulated annotators who take pairs and answer through the same "
        "leases and judgments as people; an oracle (module:function) or a labels file knows "
        "the right answers. Their judgments are marked simulated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--annotators", type=int, default=5)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--oracle",
            help="module:function taking (prompt, answer_a, answer_b) and returning "
            "'a', 'b' or 'tie', e.g. training.ml.toy:oracle_prefers",
        )
        source.add_argument(
            "--labels", type=Path, help="JSONL of {prompt, chosen, rejected} strings"
        )
        parser.add_argument("--noise", type=_share, default=0.0, help="share of answers flipped")
        parser.add_argument(
            "--left-bias", type=_share, default=0.0, help="share of answers that pick the left"
        )
        parser.add_argument("--budget", type=int, help="stop after this many judgments")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {options['project']!r}")
        if options["annotators"] < 1:
            raise CommandError("--annotators: at least 1")
        try:
            oracle = (
                oracle_from_path(options["oracle"])
                if options["oracle"]
                else oracle_from_labels(options["labels"])
            )
        except (OracleError, OSError) as error:
            raise CommandError(str(error)) from None
        result = annotators_simulate(
            project=project,
            oracle=oracle,
            annotators=options["annotators"],
            noise=options["noise"],
            left_bias=options["left_bias"],
            budget=options["budget"],
            seed=options["seed"],
        )
        self.stdout.write(
            f"{result.judgments} judgments by {len(result.per_annotator)} simulated annotators "
            f"in project {project.slug}"
        )
