"""Webhooks of a project (managers only): register, list, delete, and the deliveries' outcomes."""

from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import CursorPagination, paginate

from api.access import manager_project_or_404
from api.auth import caller
from api.errors import ApiError
from api.models import Webhook, WebhookDelivery
from api.schemas import answers
from api.selectors import deliveries_of, webhook_in, webhooks_of
from api.services.webhooks import WebhookRefused, webhook_create, webhook_delete

router = Router(tags=["webhooks"])


class WebhookIn(Schema):
    url: str
    events: list[str]  # run.finished, run.failed, judgments.new, project.complete
    every_judgments: int = 100


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    every_judgments: int
    created_at: datetime


class WebhookMadeOut(WebhookOut):
    # Shown once: check each delivery's X-Prefapp-Signature with it.
    secret: str


class DeliveryOut(Schema):
    id: int
    webhook_id: int
    event: str
    payload: dict
    status: str
    attempts: int
    response_status: int | None
    error: str
    created_at: datetime
    last_attempt_at: datetime | None


class DeletedOut(Schema):
    deleted: bool


@router.get("/projects/{slug}/webhooks", response=answers(list[WebhookOut]))
@paginate(CursorPagination, ordering=("id",))
def webhooks_list(request: HttpRequest, slug: str) -> QuerySet[Webhook]:
    return webhooks_of(project=manager_project_or_404(request, slug))


@router.post(
    "/projects/{slug}/webhooks",
    response={**answers(WebhookMadeOut, extra=(400,)), 201: WebhookMadeOut},
)
def webhook_new(request: HttpRequest, slug: str, payload: WebhookIn) -> Status:
    """Register a URL for events; deliveries are signed with the secret in the answer."""
    project = manager_project_or_404(request, slug)
    try:
        hook = webhook_create(project=project, user=caller(request), **payload.dict())
    except WebhookRefused as refused:
        field = str(refused).partition(":")[0]
        raise ApiError(400, str(refused), field=field) from None
    return Status(201, hook)


@router.delete("/projects/{slug}/webhooks/{int:webhook_id}", response=answers(DeletedOut))
def webhook_remove(request: HttpRequest, slug: str, webhook_id: int) -> DeletedOut:
    hook = webhook_in(project=manager_project_or_404(request, slug), webhook_id=webhook_id)
    if hook is None:
        raise Http404("No such webhook")
    webhook_delete(webhook=hook)
    return DeletedOut(deleted=True)


@router.get("/projects/{slug}/webhooks/deliveries", response=answers(list[DeliveryOut]))
@paginate(CursorPagination, ordering=("-id",))
def deliveries_list(request: HttpRequest, slug: str) -> QuerySet[WebhookDelivery]:
    """What was sent, and how each delivery went (newest first)."""
    return deliveries_of(project=manager_project_or_404(request, slug))
