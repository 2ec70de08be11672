"""Redis down or restarting: logging in, labelling and the manager's pages go on.

The test starts its own Redis on a free port (never the shared one), points the cache at it,
stops it in the middle of a labelling session and starts it again.
"""

import logging
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from labeling.models import Judgment
from tests.factories import PASSWORD, make_pairs

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.redis,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

ASSIGNMENT = re.compile(r'name="assignment_id" value="(\d+)"')


class OwnRedis:
    """A throw-away redis-server that the test can stop and start again on the same port."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(settings) -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    # retry_seconds=0: every call during the outage reaches for Redis again, so the test also
    # shows that the outage is logged once however many calls fail.
    settings.CACHES = {
        "default": {
            "BACKEND": "prefapp.cache.OptionalRedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"retry_seconds": 0},
        }
    }
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()


def _log_in(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    assert page.status_code == 200
    response = client.post(
        reverse("login"),
        {
            "username": user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": str(page.context["csrf_token"]),
        },
    )
    assert response.status_code == 302, response.status_code
    return client


def _judge(client: Client, project) -> None:
    """Open the label page and answer the pair it shows, as the page's form does."""
    page = client.get(reverse("label", args=[project.slug]))
    assert page.status_code == 200
    assignment_id = ASSIGNMENT.search(page.content.decode()).group(1)
    response = client.post(
        reverse("label_submit", args=[project.slug]),
        {"assignment_id": assignment_id, "side": "left", "time_spent_ms": "900"},
        headers={"HX-Request": "true", "X-CSRFToken": str(page.context["csrf_token"])},
    )
    assert response.status_code == 200, response.status_code


def _use_the_cache(expect_hit: bool) -> None:
    cache.set("prefapp-outage-test", "kept", 60)
    assert cache.get("prefapp-outage-test") == ("kept" if expect_hit else None)
    assert cache.get_or_set("prefapp-outage-test-2", "fresh", 60) == "fresh"


def test_it_keeps_labelling_while_redis_is_down_and_after_it_restarts(
    own_redis, project, annotator, manager, caplog
):
    make_pairs(project, 10)
    caplog.set_level(logging.WARNING, logger="prefapp.cache")
    client = _log_in(annotator)
    _judge(client, project)
    _use_the_cache(expect_hit=True)

    own_redis.stop()
    for _ in range(3):
        _judge(client, project)
        _use_the_cache(expect_hit=False)
    assert _log_in(annotator).get(reverse("home")).status_code == 200  # a new login, too
    assert _log_in(manager).get(reverse("manage", args=[project.slug])).status_code == 200
    assert Judgment.objects.filter(annotator=annotator).count() == 4
    # Login throttling keeps its count in the database, so it holds too.
    wrong = {"username": "outsider", "password": "wrong-password"}
    answers = [
        Client().post(reverse("login"), wrong).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]

    own_redis.start()  # empty: Redis lost whatever it held
    _judge(client, project)
    _use_the_cache(expect_hit=True)
    assert Judgment.objects.filter(annotator=annotator).count() == 5

    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "cannot be reached" in m]) == 1, messages
    assert len([m for m in messages if "answers again" in m]) == 1, messages


def test_it_logs_a_second_outage_again(own_redis, caplog):
    caplog.set_level(logging.WARNING, logger="prefapp.cache")
    for _ in range(2):
        own_redis.stop()
        _use_the_cache(expect_hit=False)
        own_redis.start()
        _use_the_cache(expect_hit=True)
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "cannot be reached" in m]) == 2, messages
    assert len([m for m in messages if "answers again" in m]) == 2, messages


def test_a_redis_that_never_answers_is_a_miss_too(settings, caplog):
    """A server that accepts connections and says nothing: the socket timeout ends the call."""
    caplog.set_level(logging.WARNING, logger="prefapp.cache")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the connection; nobody ever reads or answers
        settings.CACHES = {
            "default": {
                "BACKEND": "prefapp.cache.OptionalRedisCache",
                "LOCATION": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
                "OPTIONS": {"socket_timeout": 0.2, "socket_connect_timeout": 0.2},
            }
        }
        assert cache.get("prefapp-outage-test", "default") == "default"
        cache.set("prefapp-outage-test", "kept")  # within the retry window: not even tried
        assert cache.get("prefapp-outage-test") is None
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "TimeoutError" in messages[0], messages
