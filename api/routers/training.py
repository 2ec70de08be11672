"""Training runs and artifacts: the dashboard's actions, for scripts (managers only)."""

from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, StreamingHttpResponse
from ninja import Field, Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from api.access import manager_project_or_404
from api.auth import caller
from api.errors import ApiError
from api.schemas import Id, answers
from labeling.models import Project
from training.archive import artifact_download_response
from training.forms import RunFilterForm
from training.ml.config import KINDS
from training.models import ModelArtifact, TrainingRun
from training.selectors import snapshots_for_project
from training.selectors_dashboard import (
    artifacts_listed,
    run_for_page,
    run_points_after,
    runs_filtered,
)
from training.services.artifacts import artifact_make_current
from training.services.runs import TrainingRefused, run_cancel, run_create

router = Router(tags=["training"])

# A metric point id, or 0 for the first page.
PointId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class RunIn(Schema):
    """A run as `manage.py train` makes it; everything is checked by the same service."""

    kind: str
    base: str  # a hub id, a model directory under the model roots, or "artifact:ID"
    config: dict[str, Any] = {}  # the kind's config fields (training/ml/config.py)
    reward_artifact: str | None = None  # ppo, rloo, grpo, evaluate: "artifact:ID" or a path
    reference: str | None = None  # evaluate: the policy compared against
    snapshot_id: Id | None = None  # default: a new snapshot of the judgments
    aggregate: str = "all"  # the new snapshot's aggregation
    eval_fraction: float = 0.1
    seed: int = 0
    follow_up_kind: str = ""  # reward runs: "dpo" or "ppo" after it succeeds


class RunOut(Schema):
    id: int
    kind: str
    status: str
    step: int
    total_steps: int | None
    progress_percent: int
    base_model: str
    base_artifact_id: int | None
    reward_artifact_id: int | None
    snapshot_id: int | None
    config: dict[str, Any]
    error: str
    final_metrics: dict[str, Any]
    artifact_id: int | None
    created_at: Any
    started_at: Any | None
    finished_at: Any | None

    @staticmethod
    def resolve_artifact_id(run: TrainingRun) -> int | None:
        artifact = getattr(run, "artifact", None) if run.pk else None
        return artifact.pk if artifact is not None else None


class MetricPointOut(Schema):
    id: int
    name: str
    step: int
    value: float


class MetricsOut(Schema):
    status: str
    points: list[MetricPointOut]
    # Ask again with `after` = this id for the points logged since.
    last_point_id: int


class CancelOut(Schema):
    cancelled: bool
    status: str


class ArtifactOut(Schema):
    id: int
    kind: str
    run_id: int
    metrics: dict[str, Any]
    is_current: bool
    created_at: Any


def _run(project: Project, run_id: int) -> TrainingRun:
    run = run_for_page(project=project, run_id=run_id)
    if run is None:
        raise Http404("No such run")
    return run


def _artifact(project: Project, artifact_id: int) -> ModelArtifact:
    artifact = artifacts_listed(project=project).filter(pk=artifact_id).first()
    if artifact is None:
        raise Http404("No such artifact")
    return artifact


def _refused(refused: TrainingRefused) -> ApiError:
    """The service names the field first ("config: lr: ..."), as the run form shows it."""
    text = str(refused)
    field, _, _rest = text.partition(":")
    return ApiError(400, text, field=field if field.isidentifier() else None)


@router.post(
    "/projects/{slug}/runs",
    response={**answers(RunOut, extra=(400,)), 201: RunOut},
    description=f"Create and queue a run of any kind ({', '.join(KINDS)}) with its config: the "
    "same checks and messages as the run form and `manage.py train`.",
)
def run_new(request: HttpRequest, slug: str, payload: RunIn) -> Status:
    project = manager_project_or_404(request, slug)
    snapshot = None
    if payload.snapshot_id is not None:
        snapshot = snapshots_for_project(project=project).filter(pk=payload.snapshot_id).first()
        if snapshot is None:
            raise ApiError(400, "snapshot: no such snapshot in this project", field="snapshot")
    try:
        run = run_create(
            project=project,
            kind=payload.kind,
            base=payload.base,
            config_values=payload.config,
            snapshot=snapshot,
            reward_artifact=payload.reward_artifact,
            reference=payload.reference,
            snapshot_filters={"aggregate": payload.aggregate},
            eval_fraction=payload.eval_fraction,
            seed=payload.seed,
            follow_up_kind=payload.follow_up_kind,
            created_by=caller(request),
        )
    except TrainingRefused as refused:
        raise _refused(refused) from None
    return Status(201, run)


@router.get("/projects/{slug}/runs", response=answers(list[RunOut]))
@paginate(CursorPagination, ordering=("-id",))
def runs_list(
    request: HttpRequest, slug: str, kind: str = "", status: str = ""
) -> QuerySet[TrainingRun]:
    project = manager_project_or_404(request, slug)
    filters = RunFilterForm({"kind": kind, "status": status})  # the run list page's filters
    if not filters.is_valid():
        field = next(iter(filters.errors))
        raise ApiError(400, f"{field}: {filters.errors[field].as_text()}", field=field)
    return runs_filtered(project=project, **filters.cleaned_data)


@router.get("/projects/{slug}/runs/{int:run_id}", response=answers(RunOut))
def run_read(request: HttpRequest, slug: str, run_id: int) -> TrainingRun:
    return _run(manager_project_or_404(request, slug), run_id)


@router.get("/projects/{slug}/runs/{int:run_id}/metrics", response=answers(MetricsOut))
def run_metrics(
    request: HttpRequest,
    slug: str,
    run_id: int,
    after: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0,
) -> MetricsOut:
    """The run's metric points after the point id `after`, oldest first (a page at a time:
    ask again with `last_point_id` until the run is over and no point comes)."""
    run = _run(manager_project_or_404(request, slug), run_id)  # status first: no point missed
    points = run_points_after(run=run, after_id=max(after, 0))
    return MetricsOut(
        status=run.status,
        points=[MetricPointOut(id=p, name=n, step=s, value=v) for p, n, s, v in points],
        last_point_id=points[-1][0] if points else max(after, 0),
    )


@router.post("/projects/{slug}/runs/{int:run_id}/cancel", response=answers(CancelOut))
def run_cancel_endpoint(request: HttpRequest, slug: str, run_id: int) -> CancelOut:
    run = _run(manager_project_or_404(request, slug), run_id)
    cancelled = run_cancel(run=run)
    run.refresh_from_db(fields=["status"])
    return CancelOut(cancelled=cancelled, status=run.status)


@router.get("/projects/{slug}/artifacts", response=answers(list[ArtifactOut]))
@paginate(CursorPagination, ordering=("-id",))
def artifacts_list(request: HttpRequest, slug: str, kind: str = "") -> QuerySet[ModelArtifact]:
    artifacts = artifacts_listed(project=manager_project_or_404(request, slug))
    return artifacts.filter(kind=kind) if kind else artifacts


@router.get("/projects/{slug}/artifacts/{int:artifact_id}", response=answers(ArtifactOut))
def artifact_read(request: HttpRequest, slug: str, artifact_id: int) -> ModelArtifact:
    """One artifact with its metrics (evaluation of the run that made it)."""
    return _artifact(manager_project_or_404(request, slug), artifact_id)


@router.post(
    "/projects/{slug}/artifacts/{int:artifact_id}/make-current", response=answers(ArtifactOut)
)
def artifact_current(request: HttpRequest, slug: str, artifact_id: int) -> ModelArtifact:
    artifact = _artifact(manager_project_or_404(request, slug), artifact_id)
    return artifact_make_current(artifact=artifact)


@router.get(
    "/projects/{slug}/artifacts/{int:artifact_id}/download",
    response={**answers(None), 200: None},
    openapi_extra={
        "responses": {
            200: {
                "description": "The model directory as .tar.gz, streamed",
                "content": {"application/gzip": {}},
            }
        }
    },
)
def artifact_download(request: HttpRequest, slug: str, artifact_id: int) -> StreamingHttpResponse:
    artifact = _artifact(manager_project_or_404(request, slug), artifact_id)
    return artifact_download_response(
        path=artifact.path, name=f"{slug}-{artifact.kind}-{artifact.pk}"
    )
