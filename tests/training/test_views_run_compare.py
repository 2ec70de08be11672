"""Comparing runs: overlaid curves, final metrics side by side, what differs."""

import json
import re

import pytest
from django.urls import reverse

from tests.conftest import assert_managers_only, client_for
from tests.factories import ProjectFactory
from tests.training.dashboard import add_points, make_run, make_snapshot

pytestmark = pytest.mark.django_db


def _url(project, *runs):
    return (
        reverse("training_compare", args=[project.slug])
        + "?"
        + "&".join(f"run={run.pk}" for run in runs)
    )


@pytest.fixture
def two_runs(project):
    snapshot = make_snapshot(project)
    a = make_run(
        project,
        status="succeeded",
        snapshot=snapshot,
        config={"learning_rate": 1e-5, "max_steps": 4},
        final_metrics={"loss": 0.5, "eval_accuracy": 0.75},
    )
    b = make_run(
        project,
        status="succeeded",
        snapshot=make_snapshot(project, train_rows=20),
        config={"learning_rate": 3e-5, "max_steps": 4},
        final_metrics={"loss": 0.25, "eval_accuracy": 0.875},
    )
    add_points(a, ("loss",), range(1, 5))
    add_points(b, ("loss", "margin"), range(1, 3))
    return a, b


def test_it_overlays_curves_and_lists_finals_and_differences(project, manager, two_runs):
    a, b = two_runs
    response = client_for(manager).get(_url(project, a, b))

    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert comparison.runs == [a, b]
    loss = comparison.charts[0]
    assert loss["name"] == "loss"
    assert [s["label"] for s in loss["series"]] == [f"run {a.pk}", f"run {b.pk}"]
    assert [len(s["points"]) for s in loss["series"]] == [4, 2]
    margin = next(c for c in comparison.charts if c["name"] == "margin")
    assert margin["series"][0]["points"] == []  # run a never logged it
    assert comparison.final_rows == [("loss", [0.5, 0.25]), ("eval_accuracy", [0.75, 0.875])]
    differences = dict(comparison.differences)
    assert differences["config learning_rate"] == [1e-5, 3e-5]
    assert differences["snapshot"] == [a.snapshot_id, b.snapshot_id]
    assert differences["snapshot rows (train + eval)"] == ["8 + 2", "20 + 2"]
    assert "config max_steps" not in differences  # the same in both
    body = response.content.decode()
    data = json.loads(
        re.search(r'id="compare-data" type="application/json">(.*?)</script>', body, re.S)[1]
    )
    assert data == json.loads(json.dumps(comparison.charts))


def test_it_needs_two_runs_of_this_project(project, manager, two_runs):
    a, _ = two_runs
    other = make_run(ProjectFactory())
    response = client_for(manager).get(_url(project, a, other))

    assert response.status_code == 400
    assert response.context["comparison"].runs == [a]
    assert "Choose two or more runs" in response.content.decode()


def test_it_is_for_the_projects_managers_only(project, two_runs):
    assert_managers_only(project, ("get", _url(project, *two_runs)))
