"""What an export is: its kinds, file formats and aggregates (with the words the export form
shows), which judgments it takes, its options and which of them go together (ExportOptions
refuses the rest), the name of its file, the raw-judgment columns and the Arrow schema.

Plain data, below everything that exports: the selectors that read the rows
(labeling.selectors_export), the services that write them (labeling.services.exporting and
export_copy), the export form, the download, the command and training snapshots all import it
from here, so a rule about an export's options is written once.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

KIND_LABELS = {
    "trl": "TRL preference rows",
    "hh-rlhf": "HH-RLHF transcripts",
    "judgments": "raw judgments",
}
KINDS = tuple(KIND_LABELS)
FILE_FORMAT_LABELS = {
    "jsonl": "JSONL",
    "csv": "CSV",
    "parquet": "Parquet",
    "hf": "Hugging Face datasets directory (zip)",
}
FILE_FORMATS = tuple(FILE_FORMAT_LABELS)
AGGREGATE_LABELS = {
    "all": "every judgment",
    "majority": "majority per pair",
    "dawid-skene": "crowd model (Dawid-Skene), with confidence",
}
AGGREGATES = tuple(AGGREGATE_LABELS)
# Aggregates that fit a model of every annotator to the whole project (rather than count each
# pair's own votes); their rows carry the model's confidence unless asked not to.
CROWD_MODELS = ("dawid-skene",)

# The raw-judgment export's columns, in file order, with their Arrow types (export_schema).
JUDGMENT_COLUMN_TYPES = {
    "judgment_id": "int64",
    "pair_id": "int64",
    "prompt_id": "string",
    "candidate_a_id": "int64",
    "candidate_b_id": "int64",
    "annotator": "string",
    "source": "string",
    "choice": "string",
    "strength": "int64",
    "rationale": "string",
    "shown_left": "string",
    "time_spent_ms": "int64",
    "is_gold": "bool",
    "created_at": "timestamp",
}
JUDGMENT_COLUMNS = tuple(JUDGMENT_COLUMN_TYPES)


# A spreadsheet reads a CSV cell starting with one of these as a formula (OWASP, "CSV
# Injection"); the CSV writers put a single quote before such a text, so a rationale or an
# imported text cannot run one. JSONL and Parquet keep texts as they are.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A CSV cell's text that a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class ExportOptionsInvalid(ValueError):
    """Options that cannot make one file (an aggregate for raw judgments, ...); the message
    says which and what to choose instead."""


@dataclass(frozen=True)
class ExportFilters:
    """Which judgments an export (or a training snapshot) is made of."""

    since: datetime | None = None
    """Only judgments made at or after this time."""
    until: datetime | None = None
    """Only judgments made before this time."""
    annotators: tuple[str, ...] = ()
    """Only these annotators (usernames); empty: everyone, and imported judgments."""
    include_imported: bool = True
    """Keep judgments imported from existing datasets (no annotator)."""
    include_gold: bool = True
    """Keep judgments on gold pairs (pairs with a known answer, used to check annotators)."""
    min_agreement: float | None = None
    """Only pairs whose most frequent answer has at least this share of the pair's judgments."""
    min_quality: float | None = None
    """Leave out annotators whose quality score (labeling.selectors_quality) is below this."""
    include_excluded: bool = False
    """Keep annotators a manager excluded from exports (their judgments are always stored)."""
    after_id: int | None = None
    """Only judgments with a larger id: an incremental pull from where the last one ended."""


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how; the same class serves the command, the form and snapshots."""

    kind: str = "trl"
    """trl (prompt, chosen, rejected), hh-rlhf (two transcripts) or judgments (one row each)."""
    file_format: str = "jsonl"
    """jsonl, csv, parquet, or hf (a `datasets.Dataset.save_to_disk` directory)."""
    aggregate: str = "all"
    """all (one row per judgment), majority, or dawid-skene (crowd model, with confidence)."""
    conversational: bool = False
    """TRL rows with lists of {role, content} messages instead of strings."""
    implicit_prompt: bool = False
    """TRL rows without a prompt column: the prompt is written into chosen and rejected."""
    with_margin: bool = False
    """Add a margin column from the judgments' strength (1-3)."""
    with_confidence: bool | None = None
    """Add a per-pair confidence column (share of votes for majority, the model's
    probability for dawid-skene); None: only for the crowd models."""
    filters: ExportFilters = field(default_factory=ExportFilters)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ExportOptionsInvalid(
                f"unknown export kind {self.kind!r}: use one of {', '.join(KINDS)}"
            )
        if self.file_format not in FILE_FORMATS:
            raise ExportOptionsInvalid(
                f"unknown file format {self.file_format!r}: use one of {', '.join(FILE_FORMATS)}"
            )
        if self.aggregate not in AGGREGATES:
            raise ExportOptionsInvalid(
                f"unknown aggregate {self.aggregate!r}: use one of {', '.join(AGGREGATES)}"
            )
        # An option that does not apply is refused, never silently dropped: the file would
        # not be what its name and the request say.
        if self.kind == "judgments" and self.aggregate != "all":
            raise ExportOptionsInvalid(
                f"aggregate {self.aggregate!r} does not apply to raw judgments (one row per "
                "judgment, every judgment): choose TRL rows or HH-RLHF transcripts to aggregate"
            )
        trl_only = [
            name
            for name, wanted in (
                ("conversational", self.conversational),
                ("implicit prompt", self.implicit_prompt),
                ("margin", self.with_margin),
            )
            if wanted
        ]
        if trl_only and self.kind != "trl":
            raise ExportOptionsInvalid(
                f"{' and '.join(trl_only)} only apply to TRL preference rows, not to "
                f"{KIND_LABELS[self.kind]}"
            )
        since, until = self.filters.since, self.filters.until
        if since is not None and until is not None and since >= until:
            raise ExportOptionsInvalid(
                f"the period is empty: judgments made at or after {since:%Y-%m-%d %H:%M} and "
                f"before {until:%Y-%m-%d %H:%M}"
            )
        if self.with_confidence and self.aggregate == "all":
            raise ExportOptionsInvalid(
                "confidence is a per-pair number: choose the majority or the crowd-model "
                "aggregate (every judgment has no confidence)"
            )

    @property
    def confidence(self) -> bool:
        if self.with_confidence is None:
            return self.aggregate in CROWD_MODELS
        return self.with_confidence

    @property
    def extension(self) -> str:
        return {"hf": "zip"}.get(self.file_format, self.file_format)


def export_schema(options: ExportOptions) -> Any:  # a pyarrow.Schema
    """The columns and Arrow types of the export's rows, as Parquet and CSV write them."""
    import pyarrow as pa

    if options.kind == "judgments":
        types = {
            "int64": pa.int64(),
            "string": pa.string(),
            "bool": pa.bool_(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }
        return pa.schema([(name, types[kind]) for name, kind in JUDGMENT_COLUMN_TYPES.items()])
    if options.kind == "hh-rlhf":
        text = pa.string()
        fields = [("chosen", text), ("rejected", text)]
    else:
        message = pa.struct([("role", pa.string()), ("content", pa.string())])
        text = pa.list_(message) if options.conversational else pa.string()
        fields = [] if options.implicit_prompt else [("prompt", text)]
        fields += [("chosen", text), ("rejected", text)]
        if options.with_margin:
            fields.append(("margin", pa.float64()))
    if options.confidence:
        fields.append(("confidence", pa.float64()))
    return pa.schema(fields)


def export_filename(*, project_slug: str, options: ExportOptions) -> str:
    """A download's name that says what is in it: kind, aggregate, the row shape and every
    filter, e.g. `demo-trl-majority-conversational-margin-since-2026-01-02-no-gold.jsonl`."""
    parts = [project_slug, options.kind]
    if options.kind != "judgments":
        parts.append(options.aggregate)
    flags = (
        ("conversational", options.conversational),
        ("implicit-prompt", options.implicit_prompt),
        ("margin", options.with_margin),
        ("confidence", options.with_confidence and options.aggregate not in CROWD_MODELS),
        ("no-confidence", options.with_confidence is False and options.aggregate in CROWD_MODELS),
    )
    parts += [name for name, on in flags if on]
    filters = options.filters
    if filters.since is not None:
        parts.append(f"since-{filters.since.date().isoformat()}")
    if filters.until is not None:
        parts.append(f"before-{filters.until.date().isoformat()}")
    if len(filters.annotators) == 1:
        parts.append(f"annotator-{filters.annotators[0]}")
    elif filters.annotators:
        parts.append(f"{len(filters.annotators)}-annotators")
    if filters.min_agreement is not None:
        parts.append(f"agreement-{filters.min_agreement:g}")
    if filters.min_quality is not None:
        parts.append(f"quality-{filters.min_quality:g}")
    parts += [
        name
        for name, on in (
            ("no-gold", not filters.include_gold),
            ("no-imported", not filters.include_imported),
            ("with-excluded", filters.include_excluded),
        )
        if on
    ]
    # Only characters every file system and the Content-Disposition header take as they are.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))
    return f"{stem}.{options.extension}"
