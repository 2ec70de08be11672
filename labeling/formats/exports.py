"""What an export is: its kinds, file formats and aggregates (with the words the export form
shows), which judgments it takes, its options, the raw-judgment columns and the Arrow schema.

Plain data, below everything that exports: the selectors that read the rows
(labeling.selectors_export), the services that write them (labeling.services.exporting and
export_copy), the export form and command, and training snapshots all import it from here.
"""

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
            raise ValueError(f"unknown export kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.file_format not in FILE_FORMATS:
            raise ValueError(f"unknown file format {self.file_format!r}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(
                f"unknown aggregate {self.aggregate!r}: use one of {', '.join(AGGREGATES)}"
            )

    @property
    def confidence(self) -> bool:
        if self.with_confidence is None:
            return self.aggregate in CROWD_MODELS
        return self.with_confidence and self.aggregate != "all"

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
