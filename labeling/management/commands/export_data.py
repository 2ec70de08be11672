from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from labeling.formats.exports import (
    AGGREGATES,
    FILE_FORMATS,
    KINDS,
    ExportFilters,
    ExportOptions,
    ExportOptionsInvalid,
    export_filename,
)
from labeling.models import Project
from labeling.selectors_export import export_empty_reason
from labeling.services.exporting import export_to_path


def _moment(value: str) -> datetime:
    """An ISO date or date-time; a bare date means its midnight, UTC."""
    moment = parse_datetime(value if "T" in value or " " in value else f"{value}T00:00:00Z")
    if moment is None:
        raise ValueError(value)
    return moment


class Command(BaseCommand):
    help = "Export a project's judgments as a preference dataset or as raw judgments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--format",
            default="trl",
            choices=KINDS,
            help="trl rows, hh-rlhf transcripts, or judgments (one row each)",
        )
        parser.add_argument(
            "--output",
            required=True,
            type=Path,
            help="a file (or a datasets directory), or an existing folder to write into under "
            "a name that says what the export holds",
        )
        parser.add_argument(
            "--file-format",
            choices=FILE_FORMATS,
            help="default: from the output's extension (.csv, .parquet), a "
            "datasets directory for a name without one, else jsonl",
        )
        parser.add_argument("--aggregate", default="all", choices=AGGREGATES)
        parser.add_argument(
            "--conversational",
            action="store_true",
            help="prompt/chosen/rejected as lists of {role, content} messages",
        )
        parser.add_argument(
            "--implicit-prompt",
            action="store_true",
            help="no prompt column: the prompt starts chosen and rejected",
        )
        parser.add_argument(
            "--margin", action="store_true", help="add a margin column from the judgments' strength"
        )
        parser.add_argument(
            "--confidence",
            action="store_true",
            default=None,
            help="add a per-pair confidence column (always with dawid-skene)",
        )
        parser.add_argument("--since", type=_moment, help="judgments made at or after (ISO)")
        parser.add_argument("--until", type=_moment, help="judgments made before (ISO)")
        parser.add_argument(
            "--annotators", default="", help="comma-separated usernames (default: everyone)"
        )
        parser.add_argument("--min-agreement", type=float)
        parser.add_argument(
            "--min-quality",
            type=float,
            help="leave out annotators whose quality score is below this",
        )
        parser.add_argument("--no-gold", action="store_true", help="leave out gold pairs")
        parser.add_argument(
            "--no-imported", action="store_true", help="leave out imported judgments"
        )
        parser.add_argument(
            "--include-excluded",
            action="store_true",
            help="keep annotators a manager excluded from exports",
        )

    def handle(self, *args, project: str, output: Path | str, **o) -> None:
        output = Path(output)
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}")
        into_folder = output.is_dir() and not _is_datasets_dir(output)
        file_format = o["file_format"] or (
            "jsonl"
            if into_folder
            else {".csv": "csv", ".parquet": "parquet", "": "hf"}.get(output.suffix, "jsonl")
        )
        try:
            options = _options(o, file_format)
        except ExportOptionsInvalid as invalid:
            raise CommandError(str(invalid)) from None
        if into_folder:
            # An existing folder: the export goes in it, named as its download would be (never
            # in place of the folder).
            name = export_filename(project_slug=target.slug, options=options)
            output = output / (name.removesuffix(".zip") if file_format == "hf" else name)
        count = export_to_path(project=target, options=options, path=output, empty_ok=False)
        if count == 0:
            # As the download: an empty result says why rather than leave an empty file.
            reason = export_empty_reason(project=target, options=options)
            raise CommandError(f"Nothing to export, no file written: {reason}")
        self.stdout.write(f"Wrote {count} rows to {output} ({options.kind}, {file_format})")


def _is_datasets_dir(path: Path) -> bool:
    """A directory `datasets.save_to_disk` wrote (an earlier hf export, replaced)."""
    return (path / "dataset_info.json").exists() or (path / "state.json").exists()


def _options(o: dict[str, Any], file_format: str) -> ExportOptions:
    """The command's options, validated by ExportOptions as the download form's are."""
    filters = ExportFilters(
        since=o["since"],
        until=o["until"],
        annotators=tuple(name for name in o["annotators"].split(",") if name),
        include_imported=not o["no_imported"],
        include_gold=not o["no_gold"],
        min_agreement=o["min_agreement"],
        min_quality=o["min_quality"],
        include_excluded=o["include_excluded"],
    )
    return ExportOptions(
        kind=o["format"],
        file_format=file_format,
        aggregate=o["aggregate"],
        conversational=o["conversational"],
        implicit_prompt=o["implicit_prompt"],
        with_margin=o["margin"],
        with_confidence=o["confidence"],
        filters=filters,
    )
