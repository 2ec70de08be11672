"""What the API's endpoints answer (pydantic, through django-ninja): the OpenAPI schema's parts."""

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from api.errors import ErrorOut

# A row id as clients send it: a positive 64-bit integer (PostgreSQL's bigint), so that a
# larger number is refused as invalid input rather than reaching the database.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


def answers(ok: Any, *, status: int = 200, extra: tuple[int, ...] = ()) -> dict[int, Any]:
    """An endpoint's responses: its success, and the error shape for every refusal it can give
    (400 a body that is not JSON or breaks a rule, 401 no or bad credentials, 404 outsider,
    422 invalid input, 429 too many requests)."""
    codes = {400, 401, 404, 422, 429, *extra}
    return {status: ok, **{code: ErrorOut for code in sorted(codes)}}


class Message(Schema):
    role: str
    content: str


class PromptOut(Schema):
    id: int
    external_id: str | None
    messages: list[Message]
    metadata: dict[str, Any]
    heldout: bool
    created_at: datetime


class PromptRow(PromptOut):
    candidate_count: int
    pair_count: int
    judgment_count: int


class CandidateOut(Schema):
    id: int
    prompt_id: int
    text: str
    source: str
    metadata: dict[str, Any]
    created_at: datetime


class CandidateRow(CandidateOut):
    pair_count: int


class PairOut(Schema):
    id: int
    prompt_id: int
    candidate_a_id: int
    candidate_b_id: int
    priority: float
    is_gold: bool
    gold_choice: str | None
    judgment_count: int
    predicted_p_a: float | None
    predicted_margin: float | None
    scored_at: datetime | None
    created_at: datetime


class ShownCandidate(Schema):
    """A response as the annotator sees it: no source, so the comparison stays blind."""

    id: int
    text: str


class LeasePrompt(Schema):
    id: int
    messages: list[Message]


class Lease(Schema):
    assignment_id: int
    expires_at: datetime
    prompt: LeasePrompt
    left: ShownCandidate
    right: ShownCandidate


class AnswerRules(Schema):
    """What a submission may say in this project (the page's buttons)."""

    sides: list[str]
    ask_strength: bool
    ask_rationale: bool
    instructions: str


class NextOut(Schema):
    lease: Lease | None
    judged: int
    rules: AnswerRules


class SubmitIn(Schema):
    assignment_id: Id
    side: str
    strength: int | None = None
    rationale: str = ""
    time_spent_ms: int | None = None


class SubmitOut(Schema):
    judgment_id: int
    assignment_id: int
    pair_id: int
    choice: str
    strength: int | None
    rationale: str
    created_at: datetime
    created: bool


class SkipIn(Schema):
    assignment_id: Id


class SkipOut(Schema):
    skipped: bool


class ExtendOut(Schema):
    expires_at: datetime


class UndoIn(Schema):
    judgment_id: Id


class ProjectProgressOut(Schema):
    """The manage page's counters (labeling.selectors.ProjectProgress)."""

    pairs: int
    overlap: int
    done: int
    started: int
    not_started: int
    judgments: int
    counted: int
    live_leases: int
    wanted: int
    percent: int


class ProjectOut(Schema):
    slug: str
    name: str
    instructions: str
    overlap: int
    lease_minutes: int
    allow_tie: bool
    allow_both_bad: bool
    ask_strength: bool
    ask_rationale: bool
    gold_rate: float
    selection_strategy: str
    exploration_share: float
    score_after_reward: str
    created_at: datetime
    archived_at: datetime | None


class MyProjectOut(Schema):
    role: str
    project: ProjectOut


class ProjectDetailOut(MyProjectOut):
    # Managers only, as on the manage page.
    progress: ProjectProgressOut | None


class PriorityIn(Schema):
    pair_id: Id
    priority: float = Field(allow_inf_nan=False)


class PrioritiesIn(Schema):
    priorities: list[PriorityIn]


class PrioritiesOut(Schema):
    updated: int


class RowErrorOut(Schema):
    line: int | None
    field: str | None
    message: str


class ImportCounts(Schema):
    prompts: int = 0
    candidates: int = 0
    pairs: int = 0
    judgments: int = 0
    gold_pairs: int = 0
    skipped_existing: int = 0


class ImportOut(Schema):
    """An import done at once, or a job (`job_id`) to follow until `status` is final."""

    status: str  # succeeded | queued | running | failed
    job_id: int | None = None
    summary: str = ""
    counts: ImportCounts | None = None
    errors: list[RowErrorOut] = []  # rows left out (skip_invalid) or why nothing was imported


class ImportRowsIn(Schema):
    format: str = "candidates"
    rows: list[dict[str, Any]]
    skip_invalid: bool = False
    as_gold: bool = False


class JudgmentRow(Schema):
    """A raw judgment, with the columns of the `judgments` export."""

    judgment_id: int
    pair_id: int
    prompt_id: str | None
    candidate_a_id: int
    candidate_b_id: int
    annotator: str
    source: str
    choice: str
    strength: int | None
    rationale: str
    shown_left: str | None
    time_spent_ms: int | None
    is_gold: bool
    created_at: datetime


class JudgmentPage(Schema):
    results: list[JudgmentRow]
    # The URL of the next page; when null, keep `since` (the last judgment_id) for later.
    next: str | None
    since: int | None


class ProjectSettingsIn(Schema):
    """Settings of the settings page (labeling/forms.py ProjectSettingsForm); all optional."""

    name: str | None = None
    slug: str | None = None
    instructions: str | None = None
    overlap: int | None = None
    lease_minutes: int | None = None
    allow_tie: bool | None = None
    allow_both_bad: bool | None = None
    ask_strength: bool | None = None
    ask_rationale: bool | None = None
    gold_rate: float | None = None


class ProjectNewIn(ProjectSettingsIn):
    name: str  # type: ignore[assignment]
    slug: str  # type: ignore[assignment]


class MemberOut(Schema):
    id: int
    username: str = Field(..., alias="user.username")
    role: str
    excluded_from_exports: bool


class MemberAddIn(Schema):
    identifier: str  # a username or e-mail address, as on the members page
    role: str = "annotator"


class RoleIn(Schema):
    role: str


class RemovedOut(Schema):
    removed: bool
    leases_released: int
