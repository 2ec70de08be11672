"""The runs list with its kind and status filters."""

import pytest
from django.urls import reverse

from tests.conftest import assert_managers_only, client_for
from tests.factories import ProjectFactory
from tests.training.dashboard import make_run

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("training_runs", args=[project.slug])


@pytest.fixture
def runs(project):
    return {
        "reward_ok": make_run(
            project,
            kind="reward",
            status="succeeded",
            final_metrics={"loss": 0.3125, "accuracy": 0.9},
        ),
        "reward_failed": make_run(project, kind="reward", status="failed"),
        "dpo_running": make_run(project, kind="dpo", status="running", step=3, total_steps=9),
    }


def test_it_lists_the_projects_runs_newest_first(project, manager, runs):
    make_run(ProjectFactory())  # another project's run
    response = client_for(manager).get(_url(project))

    assert response.status_code == 200
    assert list(response.context["runs"]) == [
        runs["dpo_running"],
        runs["reward_failed"],
        runs["reward_ok"],
    ]
    body = response.content.decode()
    assert "0.3125" in body and "3 / 9" in body
    assert f'name="run" value="{runs["reward_ok"].pk}" form="compare-form"' in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "reward"}, ["reward_failed", "reward_ok"]),
        ({"status": "running"}, ["dpo_running"]),
        ({"kind": "reward", "status": "succeeded"}, ["reward_ok"]),
        ({"kind": "ppo"}, []),
    ],
)
def test_it_filters_by_kind_and_status(project, manager, runs, query, expected):
    response = client_for(manager).get(_url(project), query)
    assert list(response.context["runs"]) == [runs[name] for name in expected]


def test_it_answers_htmx_with_the_table_alone(project, manager, runs):
    response = client_for(manager).get(_url(project), {"kind": "dpo"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<table class="table runs" id="runs-table">')
    assert f"Run {runs['dpo_running'].pk}" in body and f"Run {runs['reward_ok'].pk}<" not in body


def test_it_ignores_an_unknown_filter_value(project, manager, runs):
    response = client_for(manager).get(_url(project), {"kind": "telepathy"})
    assert response.status_code == 200 and len(response.context["runs"]) == 3


def test_it_is_for_the_projects_managers_only(project):
    assert_managers_only(project, ("get", _url(project)))
