"""Webhooks: a manager registers URLs for a project's events; deliveries are signed and retried.

Events are found by a periodic check (beat, `api.tasks.check_webhooks`) rather than hooks in
the training and labelling code: a run that finished, judgments past the next multiple of the
hook's N, a project whose every pair has its judgments. Each becomes a WebhookDelivery row in
the same transaction that moves the hook's marks on, so an event is announced once; the
default worker posts it (api.tasks.deliver_webhook), retrying with backoff.

The body is JSON; `X-Prefapp-Signature: sha256=<hex HMAC-SHA256 of the body under the hook's
secret>` lets the receiver check it came from here.
"""

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import urllib.error
import urllib.request
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from api.models import Webhook, WebhookDelivery, WebhookEvent
from labeling.models import Judgment, Project
from labeling.selectors import project_progress
from training.models import TrainingRun

# A delivery is tried this many times in all, waiting BACKOFF_SECONDS * 4**n before try n+1.
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 10
TIMEOUT_SECONDS = 10


class WebhookRefused(ValueError):
    """The hook cannot be registered; the message names the field."""


def url_refusal(url: str) -> str | None:
    """Why the server must not POST to `url`, or None. Every address the host resolves to must
    be public unless PREFAPP_WEBHOOK_PRIVATE_ADDRESSES: a hook is not a way into the server's
    own network (the check runs again at each delivery, as DNS answers change)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url: must start with http:// or https:// and name a host"
    if settings.PREFAPP_WEBHOOK_PRIVATE_ADDRESSES:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None  # nothing to reach yet; a delivery checks again and fails to connect
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"url: {parts.hostname} is a private or local address ({address})"
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new target: following it would skip url_refusal."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def webhook_create(
    *, project: Project, url: str, events: list[str], every_judgments: int, user: User | None
) -> Webhook:
    """Register `url` for `events`; only what happens from now on is announced."""
    unknown = sorted(set(events) - set(WebhookEvent.values))
    if unknown or not events:
        raise WebhookRefused(
            f"events: choose among {', '.join(WebhookEvent.values)}"
            + (f" ({', '.join(unknown)} is not one)" if unknown else "")
        )
    refusal = url_refusal(url)
    if refusal:
        raise WebhookRefused(refusal)
    if every_judgments < 1:
        raise WebhookRefused("every_judgments: must be at least 1")
    last = Judgment.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0
    return Webhook.objects.create(
        project=project,
        url=url,
        events=sorted(set(events)),
        every_judgments=every_judgments,
        secret=secrets.token_hex(32),
        created_by=user,
        runs_seen_until=timezone.now(),
        judgments_seen_until_id=last,
    )


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def signature(*, secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _run_payload(run: TrainingRun) -> dict[str, Any]:
    return {
        "run_id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "error": run.error,
        "final_metrics": run.final_metrics,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _due(hook: Webhook, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The hook's events since its marks, moving the marks on (the caller saves the hook)."""
    found: list[tuple[str, dict[str, Any]]] = []
    project = hook.project
    if WebhookEvent.RUN_FINISHED in hook.events or WebhookEvent.RUN_FAILED in hook.events:
        finished = TrainingRun.objects.filter(
            project=project,
            finished_at__gt=hook.runs_seen_until,
            finished_at__lte=now,
            status__in=[TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED],
        ).order_by("finished_at")
        for run in finished:
            event = (
                WebhookEvent.RUN_FINISHED
                if run.status == TrainingRun.Status.SUCCEEDED
                else WebhookEvent.RUN_FAILED
            )
            if event in hook.events:
                found.append((event, _run_payload(run)))
        hook.runs_seen_until = now
    if WebhookEvent.JUDGMENTS in hook.events:
        new = Judgment.objects.filter(project=project, id__gt=hook.judgments_seen_until_id)
        ids = list(new.order_by("id").values_list("id", flat=True)[: hook.every_judgments])
        if len(ids) >= hook.every_judgments:
            found.append(
                (
                    WebhookEvent.JUDGMENTS,
                    {
                        "count": len(ids),
                        "since_id": hook.judgments_seen_until_id,
                        "last_id": ids[-1],
                    },
                )
            )
            hook.judgments_seen_until_id = ids[-1]
    if WebhookEvent.PROJECT_COMPLETE in hook.events:
        progress = project_progress(project=project)
        complete = progress.pairs > 0 and progress.done == progress.pairs
        if complete and not hook.complete_announced:
            found.append(
                (
                    WebhookEvent.PROJECT_COMPLETE,
                    {"pairs": progress.pairs, "judgments": progress.judgments},
                )
            )
        hook.complete_announced = complete
    return found


def webhooks_check(*, now: datetime | None = None) -> list[int]:
    """Record every due event as a delivery and queue it; returns the deliveries' ids."""
    from api.tasks import deliver_webhook

    now = now or timezone.now()
    made: list[int] = []
    for hook_id in Webhook.objects.values_list("pk", flat=True):
        with transaction.atomic():
            hook = (
                Webhook.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("project")
                .filter(pk=hook_id)
                .first()
            )
            if hook is None:
                continue  # another check holds it
            due = _due(hook, now)
            hook.save(
                update_fields=["runs_seen_until", "judgments_seen_until_id", "complete_announced"]
            )
            for event, data in due:
                payload = {
                    "event": event,
                    "project": hook.project.slug,
                    "data": data,
                    "sent_for": now.isoformat(),
                }
                delivery = WebhookDelivery.objects.create(
                    webhook=hook, event=event, payload=payload
                )
                transaction.on_commit(partial(deliver_webhook.delay, delivery.pk))
                made.append(delivery.pk)
    return made


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery:
    """POST the delivery once and record the outcome (PENDING while tries are left)."""
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    if delivery.status != WebhookDelivery.Status.PENDING:
        return delivery
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    request = urllib.request.Request(
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "prefapp-webhooks",
            "X-Prefapp-Event": delivery.event,
            "X-Prefapp-Delivery": str(delivery.pk),
            "X-Prefapp-Signature": signature(secret=delivery.webhook.secret, body=body),
        },
    )
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    refusal = url_refusal(delivery.webhook.url)
    try:
        if refusal:
            raise OSError(refusal)
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            delivery.response_status, delivery.error = answer.status, ""
            delivery.status = WebhookDelivery.Status.DELIVERED
    except urllib.error.HTTPError as error:
        delivery.response_status, delivery.error = error.code, f"answered {error.code}"
    except (urllib.error.URLError, OSError) as error:
        delivery.response_status, delivery.error = None, str(error)[:500]
    if delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    delivery.save()
    return delivery


def retry_delay(attempts: int) -> int:
    """Seconds before the next try after `attempts` tries: 10, 40, 160, 640 s."""
    return BACKOFF_SECONDS * 4 ** max(attempts - 1, 0)
