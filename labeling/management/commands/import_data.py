from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.formats.parsers import PARSERS
from labeling.models import Project
from labeling.services.importing import ImportFailed, data_import, import_summary


class Command(BaseCommand):
    help = (
        "Import a JSONL or CSV file into a project. All rows are validated before any is "
        "written. Formats: prompts, candidates, trl, hh-rlhf, arena (see README)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", default="candidates", choices=sorted(PARSERS))
        parser.add_argument(
            "--as-gold",
            action="store_true",
            help="preference formats: make gold pairs (known answers) instead "
            "of imported judgments",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the valid rows and list the invalid ones "
            "(default: an invalid row stops the whole import)",
        )

    def handle(
        self,
        *args,
        file: Path,
        project: str,
        format: str,
        skip_invalid: bool,
        as_gold: bool,
        **options,
    ) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}")
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        with file.open("rb") as fileobj:
            try:
                result = data_import(
                    project=target,
                    fileobj=fileobj,
                    filename=file.name,
                    format=format,
                    skip_invalid=skip_invalid,
                    as_gold=as_gold,
                )
            except ImportFailed as failed:
                for error in failed.errors:
                    self.stderr.write(f"{file}: {error}")
                raise CommandError(f"{file} was not imported; nothing was changed") from None
        for error in result.errors:
            self.stderr.write(f"{file}: left out {error}")
        self.stdout.write(f"{import_summary(result)} (project {target.slug})")
