"""schemathesis against the API's own schema, as a manager's token: generated requests to every
endpoint never answer 500, and every answer matches the status codes, content types and
bodies the schema declares. A few examples per endpoint keep it to about a minute."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services.tokens import token_create
from tests.factories import make_pairs

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _served_schema():  # type: ignore[no-untyped-def]
    """The schema as the app serves it; requests go to the app through WSGI in this process."""
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


schema = _served_schema()


@pytest.fixture(autouse=True)
def _one_connection():
    """Inside the test's transaction, as Django's test client does: the end of a request must
    not close the connection that holds it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def manager_secret(manager, project):
    make_pairs(project, 3)
    return token_create(user=manager, name="schemathesis").secret


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_it_answers_within_its_schema(case, manager_secret, project):
    if "slug" in (case.path_parameters or {}):
        case.path_parameters["slug"] = project.slug  # the manager's project, not a random one
    case.call_and_validate(headers={"Authorization": f"Bearer {manager_secret}"}, checks=CHECKS)
