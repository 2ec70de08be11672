"""A manager trains a reward model from the dashboard, in real headless Chromium.

Everything is real: the live server, a Celery worker process (the training tests' fixture),
the training child it starts, PostgreSQL, Redis and tiny offline models. The manager launches a
long run and watches its progress bar and loss curve grow without a reload, cancels it from its
page, then launches a short run that succeeds on the same kind of page and makes its model
current. (The long run is the one watched part-way: a short run may finish between two polls
on a fast machine.) Screenshots of the run page and the compare view go to test-output/.
"""

import os
import time

import pytest

from labeling.models import Membership
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.training.conftest import (  # noqa: F401 (fixtures shared with the training tests)
    celery_worker,
    judge_pairs,
    tiny_models,
    wait_until,
    worker_data_dir,
    worker_settings,
)
from tests.training.dashboard import make_artifact, make_run, make_snapshot
from training.models import ModelArtifact, TrainingRun

pytestmark = [
    pytest.mark.browser,
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

STEPS = 150
WATCHED = {
    "learning_rate": "1e-5",
    "max_steps": str(STEPS),
    "per_device_train_batch_size": "4",
    "max_length": "64",
}
POLLING_STOPPED = "() => !document.querySelector('#run-live').hasAttribute('hx-trigger')"
ENDLESS = {
    "learning_rate": "1e-5",
    "max_steps": "100000",
    "per_device_train_batch_size": "2",
    "max_length": "64",
}


@pytest.fixture
def trained_project(celery_worker, worker_settings, tiny_models):  # noqa: F811
    """A judged project whose current reward model came from an earlier run."""
    project = ProjectFactory(name="Dashboard check", slug="dashboard-check", overlap=1)
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    judge_pairs(project, pairs=40)  # 36 training rows: an evaluation every 9 steps, not 3
    earlier = make_run(
        project,
        status="succeeded",
        snapshot=make_snapshot(project),
        final_metrics={"loss": 0.69, "eval_accuracy": 0.5},
    )
    make_artifact(earlier, tiny_models["reward"], is_current=True, metrics=earlier.final_metrics)
    return project


def _launch_reward_run(
    page, base_url, project, base_model, config, *, first_try: dict | None = None
) -> TrainingRun:
    """Fill the new-run form and start; `first_try` values are sent (and refused) first."""
    page.goto(f"{base_url}/p/{project.slug}/training/")
    page.click("#train-reward")
    page.fill("input[name=base_model]", str(base_model))
    for name, value in {**config, **(first_try or {})}.items():
        page.fill(f"input[name=config-{name}]", value)
    page.click("#start-run")
    if first_try:
        for name in first_try:
            page.wait_for_selector(f"#config-{name}-error")
        page.screenshot(path=str(OUTPUT / "training-new-run.png"), full_page=True)
        for name in first_try:
            page.fill(f"input[name=config-{name}]", config.get(name, ""))
        page.click("#start-run")
    page.wait_for_url(f"{base_url}/p/{project.slug}/training/runs/*/")
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    return TrainingRun.objects.get(pk=run_id)


def _watch(page, done) -> list[tuple[str, int, int]]:
    """(status, progress value, points drawn) each time one of them changes, until `done(seen)`
    or the run ends."""
    seen: list[tuple[str, int, int]] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = page.evaluate("""() => [
            document.querySelector('#run-live').dataset.status,
            Number(document.querySelector('#run-progress').value),
            Number(document.querySelector('#live-charts').dataset.points)]""")
        state = (state[0], int(state[1]), int(state[2]))
        if not seen or seen[-1] != state:
            seen.append(state)
        if done(seen) or state[0] in ("succeeded", "failed", "cancelled"):
            return seen
        page.wait_for_timeout(200)
    raise AssertionError(f"the run did not get there in time; the page showed {seen}")


def _grew_while_running(seen: list[tuple[str, int, int]]) -> bool:
    """The page showed the run part-way, then with both the bar and the curve further along."""
    running = [(step, points) for status, step, points in seen if status == "running"]
    started = [(s, p) for s, p in running if s > 0 and p > 0]
    if not started:
        return False
    return any(s > started[0][0] and p > started[0][1] for s, p in started[1:])


def _ended(pid: int | None) -> bool:
    """The process was started (its pid recorded) and is gone."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_manager_trains_watches_promotes_cancels_and_compares(
    live_server,
    browser,
    trained_project,
    tiny_models,  # noqa: F811
):
    project = trained_project
    OUTPUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("dialog", lambda dialog: dialog.accept())  # "Cancel run N?"
    log_in(page, live_server.url, "boss", f"/p/{project.slug}/training/")

    # 1. Launch a long reward-model run and watch it live, then cancel it from its page.
    endless = _launch_reward_run(
        page,
        live_server.url,
        project,
        tiny_models["policy"],
        ENDLESS,
        first_try={"learning_rate": "fast"},
    )
    assert TrainingRun.objects.count() == 2  # the earlier run and this one: the refusal queued none
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    seen = _watch(page, _grew_while_running)
    assert _grew_while_running(seen), f"the bar and the curve did not grow: {seen}"
    assert [s for _, s, _ in seen] == sorted(s for _, s, _ in seen)
    assert [p for _, _, p in seen] == sorted(p for _, _, p in seen)
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator(".chart[data-metric=loss] canvas").count() == 1
    page.screenshot(path=str(OUTPUT / "training-run.png"), full_page=True)
    page.click("#cancel-run")
    page.wait_for_selector("#run-live[data-status=cancelled] #run-cancelled")
    page.wait_for_function(POLLING_STOPPED)
    assert page.evaluate("window.__sameDocument") is True
    endless.refresh_from_db()
    assert endless.status == "cancelled"
    wait_until(
        lambda: _ended(TrainingRun.objects.get(pk=endless.pk).child_pid),
        what="the training child's end",
    )
    assert not ModelArtifact.objects.filter(run=endless).exists()
    page.goto(f"{live_server.url}/p/{project.slug}/training/runs/?status=cancelled")
    assert page.locator(f"#run-row-{endless.pk} .badge").inner_text() == "Cancelled"

    # 2. A short run succeeds on its page, without a reload, with every point drawn.
    run = _launch_reward_run(page, live_server.url, project, tiny_models["policy"], WATCHED)
    page.evaluate("window.__sameDocument = true")
    seen = _watch(page, lambda seen: False)
    assert seen[-1][0] == "succeeded", f"{seen}\n{TrainingRun.objects.get(pk=run.pk).error}"
    assert page.evaluate("window.__sameDocument") is True
    # The last points may come with the next poll; after it, polling stops by itself.
    page.wait_for_function(POLLING_STOPPED)
    assert page.evaluate("document.querySelector('#run-progress').value") == STEPS
    assert page.evaluate("document.querySelector('#live-charts').dataset.points") == str(
        run.metric_points.count()
    )

    # 3. Its artifact is listed, and the manager makes it current.
    artifact = ModelArtifact.objects.get(run=run)
    assert not artifact.is_current  # the earlier reward model still is
    page.goto(f"{live_server.url}/p/{project.slug}/training/artifacts/")
    row = page.locator(f"#artifact-{artifact.pk}")
    assert "eval_accuracy" in row.inner_text()
    row.locator("button.make-current").click()
    page.wait_for_selector(f"#artifact-{artifact.pk} .badge.current")
    artifact.refresh_from_db()
    assert artifact.is_current
    # "Try it": the new reward model scores two answers, in place.
    try_row = page.locator(f"#artifact-{artifact.pk} + tr.try-row")
    try_row.locator("summary").click()
    try_row.locator("textarea[name=prompt]").fill("Question 3: how are you?")
    try_row.locator("textarea[name=response_a]").fill("I am glad to help.")
    try_row.locator("textarea[name=response_b]").fill("No.")
    try_row.locator("button[type=submit]").click()
    probability = float(try_row.locator("#p-a-preferred").inner_text())
    assert 0 <= probability <= 1
    page.screenshot(path=str(OUTPUT / "training-artifacts.png"), full_page=True)
    assert list(ModelArtifact.objects.filter(project=project, is_current=True)) == [artifact]

    # 4. Compare the two runs.
    page.goto(f"{live_server.url}/p/{project.slug}/training/runs/")
    for pk in (run.pk, endless.pk):
        page.check(f"input[name=run][value='{pk}']")
    page.click("#compare-selected")
    page.wait_for_selector("#compare-charts[data-charts] .chart canvas")
    assert page.locator("#differences").inner_text().count("config max_steps") == 1
    page.screenshot(path=str(OUTPUT / "training-compare.png"), full_page=True)
    page.goto(f"{live_server.url}/p/{project.slug}/training/")
    assert page.inner_text("#current-reward").count(f"run {run.pk}") == 1
    page.screenshot(path=str(OUTPUT / "training-overview.png"), full_page=True)
