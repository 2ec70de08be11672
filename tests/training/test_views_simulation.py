"""The rounds page's form that starts simulated annotators (a task of the default worker)."""

import pytest
from django.urls import reverse

from labeling.models import Judgment
from tests.conftest import assert_managers_only, client_for

pytestmark = pytest.mark.django_db

TOY = "training.ml.toy:oracle_prefers"


def _url(project):
    return reverse("training_simulate", args=[project.slug])


def _form(**overrides):
    return {"oracle": TOY, "annotators": "3", "noise": "0.1", "budget": "20", **overrides}


def test_it_is_for_the_projects_managers_only(project):
    assert_managers_only(project, ("post", _url(project), _form()))


def test_it_needs_the_csrf_token(project, manager, django_capture_on_commit_callbacks):
    client = client_for(manager, enforce_csrf_checks=True)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(_url(project), _form())
    assert response.status_code == 403
    assert not callbacks


def test_it_offers_the_allowed_oracles_on_the_rounds_page(project, manager, settings):
    settings.PREFAPP_SIMULATION_ORACLES = [TOY, "tests.oracles:left"]
    body = client_for(manager).get(reverse("training_rounds", args=[project.slug])).content
    form = body.decode().split('id="simulation"')[1].split("</form>")[0]
    assert f'value="{TOY}"' in form and 'value="tests.oracles:left"' in form
    assert _url(project) in form and 'name="csrfmiddlewaretoken"' in form


def test_it_queues_the_task_once_committed(project, manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(manager).post(_url(project), _form())
    assert response.status_code == 302
    assert response.url == reverse("training_rounds", args=[project.slug])
    assert len(callbacks) == 1  # the task's message, sent after the commit


def test_it_refuses_an_oracle_that_is_not_allowed(
    project, manager, settings, django_capture_on_commit_callbacks
):
    settings.PREFAPP_SIMULATION_ORACLES = [TOY]
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(manager).post(_url(project), _form(oracle="os:system"))
        bad_noise = client_for(manager).post(_url(project), _form(noise="2"))
    assert response.status_code == 400
    assert (
        "os:system is not one of the available choices"
        in (response.context["simulation_form"].errors["oracle"][0])
    )
    assert bad_noise.status_code == 400
    assert "noise" in bad_noise.context["simulation_form"].errors
    assert not callbacks and not Judgment.objects.exists()
