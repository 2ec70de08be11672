import os

import pytest
from django.test import Client

from labeling.models import Membership
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at production strength costs ~0.3 s per login; tests log in hundreds of times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


def client_for(user, **client_options) -> Client:
    """A logged-in test client; `enforce_csrf_checks=True` makes it check CSRF like a browser."""
    client = Client(**client_options)
    assert client.login(username=user.username, password=PASSWORD)
    return client
