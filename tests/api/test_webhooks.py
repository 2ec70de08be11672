"""Webhooks: events found by the periodic check, POSTed signed to a real local HTTP server,
retried after a failure; the page lists them for managers only."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone

from api.models import Webhook, WebhookDelivery
from api.services.webhooks import delivery_attempt, webhooks_check
from api.tasks import deliver_webhook
from tests.conftest import client_for
from tests.factories import make_pairs
from tests.training.dashboard import make_run

JSON = "application/json"


@pytest.fixture
def receiver(settings):
    """An HTTP server on loopback (allowed for these tests) that answers 500 to the first POST
    and 204 to the others."""
    settings.PREFAPP_WEBHOOK_PRIVATE_ADDRESSES = True
    received: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(500 if len(received) == 1 else 204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_it_signs_delivers_and_retries_each_event_once(
    project, manager_api, annotator_api, receiver
):
    url, received = receiver
    made = manager_api.post(
        f"/api/v1/projects/{project.slug}/webhooks",
        {
            "url": url,
            "events": ["judgments.new", "project.complete", "run.finished"],
            "every_judgments": 2,
        },
        content_type=JSON,
    )
    assert made.status_code == 201
    secret = made.json()["secret"]
    make_pairs(project, 2)
    base = f"/api/v1/projects/{project.slug}/labelling"
    for _ in range(2):
        lease = annotator_api.post(f"{base}/next").json()["lease"]
        annotator_api.post(
            f"{base}/submit",
            {"assignment_id": lease["assignment_id"], "side": "left"},
            content_type=JSON,
        )
    make_run(project, status="succeeded", finished_at=timezone.now())

    later = timezone.now() + timedelta(seconds=1)
    made_ids = webhooks_check(now=later)
    assert webhooks_check(now=later) == []  # announced once
    events = set(WebhookDelivery.objects.values_list("event", flat=True))
    assert events == {"judgments.new", "project.complete", "run.finished"}
    for delivery_id in made_ids:
        deliver_webhook.apply(args=[delivery_id])  # as the default worker runs it, with retries
    first = WebhookDelivery.objects.get(pk=made_ids[0])
    assert first.status == "delivered" and first.attempts == 2  # a 500, then a 204
    assert WebhookDelivery.objects.filter(status="delivered").count() == 3
    for headers, body in received:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Prefapp-Signature"] == expected
    payloads = {json.loads(body)["event"]: json.loads(body) for _h, body in received}
    assert payloads["judgments.new"]["data"]["count"] == 2
    listed = manager_api.get(f"/api/v1/projects/{project.slug}/webhooks/deliveries").json()
    assert {d["status"] for d in listed["results"]} == {"delivered"}


def test_it_refuses_unknown_events(project, manager_api):
    refused = manager_api.post(
        f"/api/v1/projects/{project.slug}/webhooks",
        {"url": "https://example.org/h", "events": ["run.exploded"]},
        content_type=JSON,
    )
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "events"


def test_the_page_registers_and_lists_for_managers_only(project, manager, annotator, outsider):
    url = f"/p/{project.slug}/webhooks/"
    page = client_for(manager).post(
        url, {"url": "https://example.org/h", "events": ["run.failed"], "every_judgments": 5}
    )
    assert page.status_code == 200 and b"new-webhook-secret" in page.content
    for user in (annotator, outsider):
        assert client_for(user).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    strict = client_for(manager, enforce_csrf_checks=True)
    assert strict.post(url, {"url": "https://example.org/x"}).status_code == 403


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "http://[::1]/hook", "ftp://x.org/"]
)
def test_it_refuses_hooks_into_the_servers_own_network(project, manager_api, url):
    answer = manager_api.post(
        f"/api/v1/projects/{project.slug}/webhooks",
        {"url": url, "events": ["run.finished"], "every_judgments": 1},
        content_type=JSON,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("url: ")
    assert not Webhook.objects.filter(project=project).exists()


def test_it_does_not_deliver_to_an_address_that_became_private(
    project, manager_api, receiver, settings
):
    url, received = receiver
    manager_api.post(
        f"/api/v1/projects/{project.slug}/webhooks",
        {"url": url, "events": ["judgments.new"], "every_judgments": 1},
        content_type=JSON,
    )
    settings.PREFAPP_WEBHOOK_PRIVATE_ADDRESSES = False
    hook = Webhook.objects.get(project=project)
    delivery = WebhookDelivery.objects.create(webhook=hook, event="judgments.new", payload={})
    delivery = delivery_attempt(delivery_id=delivery.pk)
    assert received == [] and "private or local address" in delivery.error
