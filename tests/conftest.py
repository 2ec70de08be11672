import os

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from labeling.models import Membership, Project
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
    return MembershipFactory(
        project=project, role=Membership.Role.MANAGER, user=UserFactory(username="manager")
    ).user


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
    assert login(client, username=user.username, password=PASSWORD)
    return client


def login(client: Client, *, username: str, password: str) -> bool:
    """`Client.login` through the login throttle: django-axes needs the request (its address)."""
    request = RequestFactory().post(reverse("login"), REMOTE_ADDR="127.0.0.1")
    return client.login(request=request, username=username, password=password)


def assert_managers_only(project: Project, *requests: tuple) -> None:
    """Annotators, outsiders and other projects' managers get 404; anonymous users the login.

    Each request is ("get", url) or ("post", url, data).
    """
    annotator = MembershipFactory(project=project, user=UserFactory(username="ann-x")).user
    outsider = MembershipFactory(user=UserFactory(username="outsider-x")).user
    other_manager = MembershipFactory(
        user=UserFactory(username="boss-x"), role=Membership.Role.MANAGER
    ).user
    clients = [client_for(user) for user in (annotator, outsider, other_manager)]
    for method, url, *data in requests:
        for client in clients:
            response = getattr(client, method)(url, *data)
            assert response.status_code == 404, (method, url, response.status_code)
        response = getattr(Client(), method)(url, *data)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.url.startswith(reverse("login"))
