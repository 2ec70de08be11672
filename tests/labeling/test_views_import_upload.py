import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from labeling.models import Pair, Prompt
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ROWS = [
    {
        "id": "q1",
        "prompt": "Name a colour.",
        "responses": [
            {"text": "Blue.", "model": "m1"},
            {"text": "Seven.", "model": "m2"},
            {"text": "Red.", "model": "m3"},
        ],
    },
    {
        "id": "q2",
        "prompt": [{"role": "user", "content": "Hi"}],
        "responses": [{"text": "Hello!", "model": "m1"}, {"text": "Go away.", "model": "m2"}],
    },
]


def _url(project):
    return reverse("import_upload", args=[project.slug])


def _upload(rows, name="rows.jsonl"):
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"
    return SimpleUploadedFile(name, text.encode(), content_type="application/jsonl")


def test_it_imports_a_file_and_says_what_it_added(project, manager):
    client = client_for(manager)
    response = client.post(
        _url(project), {"format": "candidates", "file": _upload(ROWS)}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("manage", args=[project.slug])
    assert Prompt.objects.filter(project=project).count() == 2
    assert Pair.objects.filter(project=project).count() == 3 + 1
    assert "Imported 2 prompts" in response.content.decode()


def test_it_adds_nothing_when_the_same_ids_come_again(project, manager):
    client = client_for(manager)
    client.post(_url(project), {"format": "candidates", "file": _upload(ROWS)})
    client.post(_url(project), {"format": "candidates", "file": _upload(ROWS)})
    assert Pair.objects.filter(project=project).count() == 4


def test_it_refuses_an_invalid_file_naming_the_line_and_changes_nothing(project, manager):
    rows = [ROWS[0], '{"id": "q2", "prompt": "x", "responses": [{"text": "only one"}]}']
    response = client_for(manager).post(
        _url(project), {"format": "candidates", "file": _upload(rows)}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="import-errors"' in body and "2" in body and "responses" in body
    assert not Prompt.objects.exists()


def test_it_names_the_line_of_json_nested_too_deep(project, manager):
    deep = "[" * 200_000 + "]" * 200_000
    rows = [ROWS[0], f'{{"id": "q2", "prompt": "x", "responses": {deep}}}']
    response = client_for(manager).post(
        _url(project), {"format": "candidates", "file": _upload(rows)}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="import-errors"' in body and "line 2" in body and "levels deep" in body
    assert not Prompt.objects.exists()


def test_it_refuses_a_missing_file(project, manager):
    response = client_for(manager).post(_url(project), {"format": "candidates"}, follow=True)
    assert "file" in response.content.decode().lower()
    assert not Prompt.objects.exists()


def test_it_hides_the_form_from_annotators(project, annotator):
    response = client_for(annotator).post(
        _url(project), {"format": "candidates", "file": _upload(ROWS)}
    )
    assert response.status_code == 404
    assert not Prompt.objects.exists()


def test_it_hides_the_project_from_an_outsider(project, outsider):
    response = client_for(outsider).post(
        _url(project), {"format": "candidates", "file": _upload(ROWS)}
    )
    assert response.status_code == 404
    assert not Prompt.objects.exists()


def test_it_redirects_anonymous_to_login(project):
    response = Client().post(_url(project), {"format": "candidates", "file": _upload(ROWS)})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not Prompt.objects.exists()


def test_it_enforces_csrf(project, manager):
    client = client_for(manager, enforce_csrf_checks=True)
    data = {"format": "candidates", "file": _upload(ROWS)}
    assert client.post(_url(project), data).status_code == 403
    assert not Prompt.objects.exists()
    client.get(reverse("manage", args=[project.slug]))
    data = {
        "format": "candidates",
        "file": _upload(ROWS),
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
    }
    assert client.post(_url(project), data).status_code == 302
    assert Prompt.objects.filter(project=project).count() == 2


def test_it_refuses_get(project, manager):
    assert client_for(manager).get(_url(project)).status_code == 405
