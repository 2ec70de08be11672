import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from labeling.selectors import preference_rows
from labeling.services.exporting import EXPORT_FORMATS, export_write


class Command(BaseCommand):
    help = "Export a project's judgments as a preference dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", default="trl", choices=EXPORT_FORMATS)
        parser.add_argument("--output", required=True, type=Path)
        parser.add_argument("--aggregate", default="all", choices=["all", "majority"])
        parser.add_argument("--conversational", action="store_true",
                            help="prompt/chosen/rejected as lists of {role, content} messages")
        parser.add_argument("--margin", action="store_true",
                            help="add a margin column from the judgments' strength")

    def handle(self, *args, project: str, output: Path, aggregate: str, conversational: bool,
               margin: bool, **options) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}")
        rows = preference_rows(project=target, aggregate=aggregate,
                               conversational=conversational, with_margin=margin)
        # Write beside the target and rename, so a failed export never leaves half a file.
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fileobj:
                count = export_write(rows=rows, fileobj=fileobj)
            os.replace(tmp, output)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stdout.write(f"Wrote {count} rows to {output}")
