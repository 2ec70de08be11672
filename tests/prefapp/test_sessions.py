"""The request's user and session (Django's ModelBackend, prefapp/cache.py): Django's rules hold."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.conftest import client_for, login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _label(client, project):
    return client.get(reverse("label", args=[project.slug]))


def test_it_serves_a_logged_in_member(project, annotator):
    response = _label(client_for(annotator), project)
    assert response.status_code == 200
    assert response.context["user"] == annotator


def test_it_logs_out_other_sessions_when_the_password_changes(project, annotator):
    client = client_for(annotator)
    annotator.set_password("a-new-password-9")
    annotator.save()
    response = _label(client, project)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_it_refuses_a_deactivated_user(project, annotator):
    client = client_for(annotator)
    annotator.is_active = False
    annotator.save()
    assert _label(client, project).status_code == 302


def test_it_refuses_a_session_cookie_replayed_after_logout(project, annotator):
    client = client_for(annotator)
    stolen = client.cookies["sessionid"].value
    client.post(reverse("logout"))
    replay = client_for(annotator)
    replay.cookies["sessionid"] = stolen
    assert _label(replay, project).status_code == 302


def test_it_refuses_a_deleted_user(project, annotator):
    client = client_for(annotator)
    annotator.delete()
    assert _label(client, project).status_code == 302


def test_it_logs_in_with_the_password_and_refuses_a_wrong_one(annotator):
    client = client_for(annotator)  # asserts that the login succeeded
    assert client.get(reverse("home")).context["user"] == annotator
    assert not login(client, username=annotator.username, password=PASSWORD + "x")


def test_the_cache_keeps_and_forgets_values():
    cache.set("prefapp-test-key", {"n": 1}, 30)
    assert cache.get("prefapp-test-key") == {"n": 1}
    cache.delete("prefapp-test-key")
    assert cache.get("prefapp-test-key") is None
