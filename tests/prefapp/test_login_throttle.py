"""Login throttling (django-axes, settings.py): a username + address is locked out after
LOGIN_FAILURE_LIMIT wrong passwords, for LOGIN_COOLOFF_MINUTES after the last attempt."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _attempt(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def _lock_out(client: Client, username: str) -> None:
    for n in range(1, settings.AXES_FAILURE_LIMIT + 1):
        response = _attempt(client, username, "wrong-password")
        if n < settings.AXES_FAILURE_LIMIT:
            assert response.status_code == 200
            assert "match. Please try again" in response.content.decode()
        else:
            assert response.status_code == 429


def test_it_locks_out_after_the_failure_limit_and_refuses_the_right_password(annotator):
    client = Client()
    _lock_out(client, annotator.username)
    response = _attempt(client, annotator.username, PASSWORD)
    assert response.status_code == 429
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"Try again in {minutes} minutes" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert client.get(reverse("home")).status_code == 302  # still not logged in


def test_it_lets_the_user_in_once_the_cooloff_has_passed(annotator):
    client = Client()
    _lock_out(client, annotator.username)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    response = _attempt(client, annotator.username, PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_it_lets_the_user_in_after_a_reset(annotator):
    client = Client()
    _lock_out(client, annotator.username)
    call_command("axes_reset_username", annotator.username)
    assert _attempt(client, annotator.username, PASSWORD).status_code == 302


def test_it_locks_only_that_username_from_that_address(annotator, manager):
    _lock_out(Client(), annotator.username)
    other_address = Client(REMOTE_ADDR="10.0.0.2")
    assert _attempt(other_address, annotator.username, PASSWORD).status_code == 302
    assert _attempt(Client(), manager.username, PASSWORD).status_code == 302


def test_a_successful_login_forgets_earlier_failures(annotator):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _attempt(client, annotator.username, "wrong-password")
    assert _attempt(client, annotator.username, PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _attempt(client, annotator.username, "wrong-password").status_code == 200


def test_behind_a_proxy_it_counts_the_address_the_proxy_saw(annotator, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    attacker = Client(HTTP_X_FORWARDED_FOR="198.51.100.7")  # all come from the proxy's address
    _lock_out(attacker, annotator.username)
    # Whatever the attacker writes in front of the proxy's entry does not free it.
    spoofed = Client(HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7")
    assert _attempt(spoofed, annotator.username, PASSWORD).status_code == 429
    # The real user, elsewhere, through the same proxy, still gets in.
    user = Client(HTTP_X_FORWARDED_FOR="192.0.2.10")
    assert _attempt(user, annotator.username, PASSWORD).status_code == 302
