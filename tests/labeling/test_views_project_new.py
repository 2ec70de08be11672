import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from labeling.models import Membership, Project
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def creator():
    user = UserFactory(username="creator")
    user.user_permissions.add(Permission.objects.get(codename="add_project"))
    return user


def test_it_creates_a_project_managed_by_its_creator(creator):
    client = client_for(creator)
    assert 'id="new-project"' in client.get("/").content.decode()

    response = client.post("/projects/new/", {"name": "Study", "slug": "study"})

    assert response.status_code == 302 and response.url == "/p/study/settings/"
    project = Project.objects.get(slug="study")
    assert Membership.objects.get(project=project, user=creator).is_manager


def test_it_names_a_taken_slug(creator, project):
    response = client_for(creator).post("/projects/new/", {"name": "X", "slug": project.slug})
    assert response.status_code == 400
    assert "slug: Project with this Slug already exists" in response.content.decode()


def test_it_refuses_users_without_the_permission_and_anonymous_visitors(outsider):
    client = client_for(outsider)
    assert 'id="new-project"' not in client.get("/").content.decode()
    assert client.get("/projects/new/").status_code == 403
    assert client.post("/projects/new/", {"name": "S", "slug": "s"}).status_code == 403
    response = Client().get("/projects/new/")
    assert response.status_code == 302 and response.url.startswith("/login/")
    assert not Project.objects.filter(slug="s").exists()


def test_it_refuses_a_creation_without_a_csrf_token(creator):
    client = client_for(creator, enforce_csrf_checks=True)
    assert client.post("/projects/new/", {"name": "S", "slug": "s"}).status_code == 403
