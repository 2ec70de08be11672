import pytest
from django.test import Client

from api.services.tokens import token_create


def bearer(user, project=None) -> Client:
    """A client that sends a fresh personal token of `user` (no session, no cookies)."""
    secret = token_create(user=user, name="test", project=project).secret
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def manager_api(manager):
    return bearer(manager)


@pytest.fixture
def annotator_api(annotator):
    return bearer(annotator)
