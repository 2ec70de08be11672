import os

import pytest
from django.test import Client

from labeling.models import Membership
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def manager(project):
    """The project's manager (the owner in healthchecks' terms)."""
    return MembershipFactory(project=project, role=Membership.Role.MANAGER,
                             user=UserFactory(username="manager")).user


@pytest.fixture
def annotator(project):
    return MembershipFactory(project=project, user=UserFactory(username="annotator")).user


@pytest.fixture
def outsider(db):
    """A logged-in user who belongs to another project only."""
    return MembershipFactory(user=UserFactory(username="outsider")).user


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client
