from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.importers import PARSERS
from labeling.models import Project
from labeling.services.importing import ImportFailed, data_import


class Command(BaseCommand):
    help = "Import a JSONL or CSV file into a project. All rows are validated before any is written."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", default="candidates", choices=sorted(PARSERS))

    def handle(self, *args, file: Path, project: str, format: str, **options) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}")
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        with file.open("rb") as fileobj:
            try:
                result = data_import(
                    project=target, fileobj=fileobj, filename=file.name, format=format
                )
            except ImportFailed as failed:
                for error in failed.errors:
                    self.stderr.write(f"{file}: {error}")
                raise CommandError(f"{file} was not imported; nothing was changed") from None
        self.stdout.write(
            f"Imported {result.prompts} prompts, {result.candidates} responses and "
            f"{result.pairs} pairs into {target.slug}; {result.skipped_existing} rows already there"
        )
