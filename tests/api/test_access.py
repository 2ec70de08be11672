"""Every endpoint in the schema: anonymous 401, outsider 404, annotator on a manager's endpoint
404, revoked token 401, a token scoped to another project 404."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from api.models import ApiToken
from api.services.tokens import token_create, token_revoke
from tests.api.conftest import bearer
from tests.factories import MembershipFactory, UserFactory, make_pairs

# Endpoints every member reaches; the rest are the managers'.
MEMBER_OPERATIONS = (
    ("get", "/api/v1/projects/{slug}"),
    ("post", "/api/v1/projects/{slug}/labelling/next"),
    ("post", "/api/v1/projects/{slug}/labelling/submit"),
    ("post", "/api/v1/projects/{slug}/labelling/skip"),
    ("post", "/api/v1/projects/{slug}/labelling/extend"),
    ("post", "/api/v1/projects/{slug}/labelling/undo"),
)
# A valid body for each endpoint that takes one: an invalid body would be refused (422)
# before anyone is asked who they are.
BODIES = {
    "/api/v1/projects/{slug}/labelling/submit": {"assignment_id": 1, "side": "left"},
    "/api/v1/projects/{slug}/labelling/skip": {"assignment_id": 1},
    "/api/v1/projects/{slug}/labelling/extend": {"assignment_id": 1},
    "/api/v1/projects/{slug}/labelling/undo": {"judgment_id": 1},
    "/api/v1/projects/{slug}/pairs/priority": {"priorities": []},
    "/api/v1/projects/{slug}/imports/rows": {"rows": []},
    "/api/v1/projects/{slug}/runs": {"kind": "reward", "base": "org/model"},
    "/api/v1/projects": {"name": "New", "slug": "new"},
    "/api/v1/projects/{slug}": {},
    "/api/v1/projects/{slug}/members": {"identifier": "manager", "role": "annotator"},
    "/api/v1/projects/{slug}/members/{membership_id}": {"role": "annotator"},
    "/api/v1/projects/{slug}/webhooks": {"url": "https://example.org/", "events": ["run.failed"]},
    "/api/v1/projects/{slug}/webhooks/{webhook_id}": {},
}

MULTIPART = ("/api/v1/projects/{slug}/imports",)


def operations():
    from api.main import api

    schema = api.get_openapi_schema()
    for path, methods in schema["paths"].items():
        for method in methods:
            yield method, path


def _request(client: Client, method: str, template: str, ids: dict):
    url = template.format(**ids)
    if method == "get":
        return client.get(url)
    if template in MULTIPART:
        upload = SimpleUploadedFile("rows.jsonl", b'{"id": "x"}\n')
        return client.post(url, {"file": upload, "format": "candidates"})
    body = BODIES.get(template)
    return getattr(client, method)(url, body or {}, content_type="application/json")


@pytest.fixture
def ids(project, manager):
    pair = make_pairs(project, 1)[0]
    return {
        "slug": project.slug,
        "prompt_id": pair.prompt_id,
        "candidate_id": pair.candidate_a_id,
        "pair_id": pair.pk,
        "job_id": 1,
        "run_id": 1,
        "artifact_id": 1,
        "webhook_id": 1,
        "membership_id": manager.membership_set.get().pk,
    }


def test_it_covers_every_endpoint_with_a_body():
    for method, path in operations():
        if method != "get":
            without_body = path.endswith(("/next", "/cancel", "/make-current", "/archive"))
            assert path in BODIES or path in MULTIPART or without_body, path


@pytest.mark.parametrize(("method", "path"), list(operations()))
def test_it_refuses_who_may_not(method, path, ids, project, manager, annotator, outsider):
    assert _request(Client(), method, path, ids).status_code == 401
    revoked = token_create(user=manager, name="old")
    token_revoke(token=revoked.token)
    gone = Client(headers={"Authorization": f"Bearer {revoked.secret}"})
    assert _request(gone, method, path, ids).status_code == 401
    assert ApiToken.objects.get(pk=revoked.token.pk).revoked_at is not None
    if "{slug}" not in path:
        return
    answer = _request(bearer(outsider), method, path, ids)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    elsewhere = MembershipFactory(user=manager, role="manager").project
    assert _request(bearer(manager, project=elsewhere), method, path, ids).status_code == 404
    if (method, path) not in MEMBER_OPERATIONS:
        assert _request(bearer(annotator), method, path, ids).status_code == 404
        other_manager = MembershipFactory(user=UserFactory(username="boss-x"), role="manager")
        assert _request(bearer(other_manager.user), method, path, ids).status_code == 404
