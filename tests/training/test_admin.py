"""The admin shows model paths but cannot change them: only the checked forms and services do."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from tests.training.dashboard import make_run


@pytest.fixture
def admin_client_(db) -> Client:
    user = UserFactory(username="root-admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_it_keeps_a_runs_base_model_when_the_admin_posts_another(admin_client_, project):
    run = make_run(project, base_model="org/model")
    url = reverse("admin:training_trainingrun_change", args=[run.pk])
    page = admin_client_.get(url)
    assert page.status_code == 200
    assert 'name="base_model"' not in page.content.decode()
    assert 'name="reward_model"' not in page.content.decode()
    admin_client_.post(
        url, {"base_model": "/root/.ssh", "reward_model": "/root/.ssh", "project": project.pk}
    )
    run.refresh_from_db()
    assert run.base_model == "org/model" and run.reward_model == ""


def test_it_offers_no_way_to_add_runs_or_artifacts(admin_client_):
    assert admin_client_.get(reverse("admin:training_trainingrun_add")).status_code == 403
    assert admin_client_.get(reverse("admin:training_modelartifact_add")).status_code == 403
