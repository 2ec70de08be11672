"""Reads of the API's own rows."""

from django.contrib.auth.models import User
from django.db.models import QuerySet

from api.models import ApiToken, ImportJob, Webhook, WebhookDelivery
from api.services.tokens import SECRET_PREFIX, secret_hash
from labeling.models import Project


def token_for_secret(*, secret: str) -> ApiToken | None:
    """The live token with this secret, with its user; None if unknown, revoked or inactive."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(key_hash=secret_hash(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def tokens_for_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("project")


def token_of(*, user: User, token_id: int) -> ApiToken | None:
    return ApiToken.objects.filter(user=user, pk=token_id).first()


def import_job_of(*, project: Project, job_id: int) -> ImportJob | None:
    return ImportJob.objects.filter(project=project, pk=job_id).first()


def webhooks_of(*, project: Project) -> QuerySet[Webhook]:
    return Webhook.objects.filter(project=project).order_by("id")


def webhook_in(*, project: Project, webhook_id: int) -> Webhook | None:
    return Webhook.objects.filter(project=project, pk=webhook_id).first()


def deliveries_of(*, project: Project) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(webhook__project=project).select_related("webhook")
