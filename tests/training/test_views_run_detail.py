"""The run page, its polling and its cancel button."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from tests.conftest import assert_managers_only, client_for
from tests.factories import ProjectFactory
from tests.training.dashboard import add_points, make_artifact, make_run
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def _url(run, name="training_run"):
    return reverse(name, args=[run.project.slug, run.pk])


def _points(body: str) -> list:
    match = re.search(r'<script type="application/json">(.*?)</script>', body, re.S)
    return json.loads(match[1])


def _poll_url(body: str) -> str | None:
    match = re.search(r'hx-get="([^"]+)" hx-trigger="every 2s"', body)
    return match[1].replace("&amp;", "&") if match else None


def test_it_shows_a_running_run_with_progress_timing_log_and_its_points(project, manager):
    run = make_run(
        project,
        status="running",
        step=25,
        total_steps=100,
        log_tail="step 25: loss 0.61",
        config={"learning_rate": 1e-5},
    )
    points = add_points(run, ("loss", "accuracy"), range(1, 4))

    response = client_for(manager).get(_url(run))

    assert response.status_code == 200
    body = response.content.decode()
    assert '<progress id="run-progress" max="100" value="25"' in body
    assert re.search(r'id="run-elapsed">3\d s<', body)
    timing = response.context["timing"]
    # 25 of 100 steps took `elapsed`: 75 more take three times as long.
    assert abs(timing.eta - timing.elapsed * 3) < timedelta(milliseconds=1)
    assert "step 25: loss 0.61" in body
    assert _points(body) == [[p.pk, p.name, p.step, p.value] for p in points]
    assert _poll_url(body) == f"{_url(run, 'training_run_poll')}?after={points[-1].pk}"
    assert 'id="cancel-run"' in body
    assert "uPlot-1.6.32.iife.min.js" in body


def test_its_poll_sends_only_the_points_after_the_last_one_the_page_has(project, manager):
    run = make_run(project, status="running", step=1, total_steps=10)
    first = add_points(run, ("loss",), range(0, 3))
    client = client_for(manager)
    body = client.get(f"{_url(run, 'training_run_poll')}?after={first[-1].pk}").content.decode()
    assert _points(body) == []
    assert _poll_url(body).endswith(f"?after={first[-1].pk}")

    later = add_points(run, ("loss", "margin"), range(3, 5))
    TrainingRun.objects.filter(pk=run.pk).update(step=5)
    body = client.get(f"{_url(run, 'training_run_poll')}?after={first[-1].pk}").content.decode()

    assert [point[0] for point in _points(body)] == [p.pk for p in later]
    assert _poll_url(body).endswith(f"?after={later[-1].pk}")
    assert "step <strong>5</strong> / 10" in body
    assert "<!doctype html>" not in body  # the partial alone


def test_its_poll_is_a_few_queries_however_long_the_run(
    project, manager, django_assert_max_num_queries
):
    run = make_run(project, status="running", step=500, total_steps=1000)
    points = add_points(run, ("loss", "accuracy", "margin", "learning_rate"), range(500))
    client = client_for(manager)
    client.get(_url(run, "training_run_poll"))  # the session is warm, as in a real page

    # session, user, membership + project, run, points
    with django_assert_max_num_queries(5):
        response = client.get(f"{_url(run, 'training_run_poll')}?after={points[-10].pk}")

    assert len(_points(response.content.decode())) == 9


def test_its_poll_stops_once_the_run_has_ended_and_every_point_was_sent(project, manager):
    run = make_run(project, status="succeeded", step=4, total_steps=4, final_metrics={"loss": 0.2})
    points = add_points(run, ("loss",), range(1, 5))
    client = client_for(manager)

    last_batch = client.get(f"{_url(run, 'training_run_poll')}?after={points[1].pk}")
    body = last_batch.content.decode()
    assert len(_points(body)) == 2 and _poll_url(body) is not None  # one more poll: all sent?
    body = client.get(f"{_url(run, 'training_run_poll')}?after={points[-1].pk}").content.decode()

    assert _poll_url(body) is None and "hx-trigger" not in body
    assert 'id="run-succeeded"' in body and 'id="cancel-run"' not in body


def test_it_shows_the_error_of_a_failed_run_plainly(project, manager):
    run = make_run(project, status="failed", error="CUDA out of memory.\n\nTraceback: <oops>")
    body = client_for(manager).get(_url(run)).content.decode()

    assert 'id="run-error"' in body
    assert "CUDA out of memory." in body and "&lt;oops&gt;" in body
    assert _poll_url(body) is None


def test_it_links_a_succeeded_run_to_its_artifact(project, manager, tmp_path):
    run = make_run(project, status="succeeded", final_metrics={"loss": 0.125})
    artifact = make_artifact(run, tmp_path, is_current=True)
    body = client_for(manager).get(_url(run)).content.decode()
    assert f"artifact {artifact.pk}</a> (current)" in body
    assert "0.125" in body


def test_it_cancels_a_running_run(project, manager):
    run = make_run(project, status="running", step=3, total_steps=100)
    response = client_for(manager).post(_url(run, "training_run_cancel"), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="run-cancelled"' in body and _poll_url(body) is None
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None


def test_it_leaves_a_finished_run_alone_when_cancelled(project, manager):
    run = make_run(project, status="succeeded")
    response = client_for(manager).post(_url(run, "training_run_cancel"))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "succeeded"


def test_it_needs_csrf_to_cancel(project, manager):
    run = make_run(project, status="running")
    client = client_for(manager, enforce_csrf_checks=True)
    assert client.post(_url(run, "training_run_cancel")).status_code == 403
    run.refresh_from_db()
    assert run.status == "running"


def test_it_hides_another_projects_run_from_this_projects_manager(project, manager):
    other = make_run(ProjectFactory())
    url = reverse("training_run", args=[project.slug, other.pk])
    assert client_for(manager).get(url).status_code == 404


def test_it_is_for_the_projects_managers_only(project):
    run = make_run(project, status="running")
    assert_managers_only(
        project,
        ("get", _url(run)),
        ("get", _url(run, "training_run_poll")),
        ("post", _url(run, "training_run_cancel"), {}),
    )
    run.refresh_from_db()
    assert run.status == "running"


def test_it_draws_the_guards_against_reward_hacking_among_the_key_metrics(project, manager):
    from training.ml.rewards import GUARD_METRICS
    from training.selectors_dashboard import METRIC_ORDER, metric_is_drawn

    run = make_run(project, kind="ppo", status="running", step=3, total_steps=10)
    points = add_points(run, (*GUARD_METRICS, "score"), range(1, 3))

    body = client_for(manager).get(_url(run)).content.decode()

    assert _points(body) == [[p.pk, p.name, p.step, p.value] for p in points]
    for name in GUARD_METRICS:
        assert metric_is_drawn(name) and name in METRIC_ORDER["key"]
