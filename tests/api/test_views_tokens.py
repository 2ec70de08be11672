"""/account/tokens/: make a token (shown once), list, revoke; only one's own."""

from django.test import Client

from api.models import ApiToken
from api.services.tokens import secret_hash, token_create
from tests.conftest import client_for


def test_it_makes_a_token_shown_once_and_stored_hashed(project, annotator):
    browser = client_for(annotator)
    page = browser.post("/account/tokens/new/", {"name": "front end", "project": project.pk})
    secret = page.context["new_secret"]
    token = ApiToken.objects.get(user=annotator)
    assert token.key_hash == secret_hash(secret) and token.project == project
    assert secret.encode() in page.content
    assert secret.encode() not in browser.get("/account/tokens/").content


def test_it_refuses_a_project_the_user_is_not_in(outsider, project):
    client_for(outsider).post("/account/tokens/new/", {"name": "x", "project": project.pk})
    assert not ApiToken.objects.exists()


def test_it_revokes_only_ones_own_tokens(manager, outsider):
    token = token_create(user=manager, name="mine").token
    url = f"/account/tokens/{token.pk}/revoke/"
    assert client_for(outsider).post(url).status_code == 404
    assert client_for(manager).post(url).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_it_sends_anonymous_users_to_log_in_and_checks_csrf(manager):
    assert Client().get("/account/tokens/").status_code == 302
    assert Client().post("/account/tokens/new/", {"name": "x"}).status_code == 302
    strict = client_for(manager, enforce_csrf_checks=True)
    assert strict.post("/account/tokens/new/", {"name": "x"}).status_code == 403
