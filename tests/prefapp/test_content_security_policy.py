"""The Content-Security-Policy (settings.py) on every page, and pages that live within it."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import make_pairs
from tests.training.dashboard import add_points, make_run

pytestmark = pytest.mark.django_db

# What the policy would block: code or styles written into the page itself.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
INLINE_STYLE = re.compile(r"<style\b|\sstyle=")
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+=", re.IGNORECASE)


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def _assert_within_policy(response) -> None:
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    body = response.content.decode()
    for pattern in (INLINE_SCRIPT, INLINE_STYLE, EVENT_HANDLER):
        assert not pattern.search(body), (response.request["PATH_INFO"], pattern.search(body))


def test_the_login_page_is_served_under_the_policy():
    _assert_within_policy(Client().get(reverse("login")))


def test_the_annotator_pages_are_served_under_the_policy(project, annotator):
    make_pairs(project, 2)
    client = client_for(annotator)
    _assert_within_policy(client.get(reverse("home")))
    _assert_within_policy(client.get(reverse("label", args=[project.slug])))
    partial = client.get(reverse("label", args=[project.slug]), headers={"HX-Request": "true"})
    _assert_within_policy(partial)


def test_the_manager_pages_are_served_under_the_policy(project, manager):
    make_pairs(project, 2)
    running = make_run(project, status="running")
    add_points(running, ("loss",), range(3))
    done = make_run(project, status="succeeded")
    client = client_for(manager)
    urls = [
        reverse("manage", args=[project.slug]),
        reverse("quality", args=[project.slug]),
        reverse("training_overview", args=[project.slug]),
        reverse("training_runs", args=[project.slug]),
        reverse("training_new", args=[project.slug, "reward"]),
        reverse("training_run", args=[project.slug, running.pk]),
        reverse("training_artifacts", args=[project.slug]),
        reverse("training_compare", args=[project.slug]) + f"?run={running.pk}&run={done.pk}",
    ]
    for url in urls:
        _assert_within_policy(client.get(url))
