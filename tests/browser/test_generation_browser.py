"""A manager launches a generation job from the dashboard and sees it add candidates, in real
headless Chromium against the live server, a real Celery worker and a tiny offline policy."""

import re

import pytest

from labeling.models import Membership, Pair
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import MembershipFactory, ProjectFactory, PromptFactory, UserFactory
from tests.training.conftest import (  # noqa: F401 (fixtures shared with the training tests)
    celery_worker,
    tiny_models,
    worker_data_dir,
    worker_settings,
)
from training.models import TrainingRun
from training.selectors_generation import generation_outputs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_a_manager_generates_candidates_from_the_dashboard(
    live_server,
    browser,
    celery_worker,  # noqa: F811
    worker_settings,  # noqa: F811
    tiny_models,  # noqa: F811
):
    project = ProjectFactory(name="Generation check", slug="generation-check")
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    for _ in range(3):
        PromptFactory(project=project)
    OUTPUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    log_in(page, live_server.url, "boss", f"/p/{project.slug}/training/")

    page.click("#generate-candidates")
    page.fill("#id_policy_model", str(tiny_models["policy"]))
    page.fill("#id_config-prompt_set", "all")
    page.fill("#id_config-k", "2")
    page.fill("#id_config-max_new_tokens", "6")
    page.screenshot(path=str(OUTPUT / "generation-form.png"), full_page=True)
    page.click("#start-generation")

    page.wait_for_url(re.compile(r".*/training/runs/\d+/$"))
    page.wait_for_selector("#run-live[data-status=succeeded] #run-added", timeout=180_000)
    run = TrainingRun.objects.get(kind="generate")
    added = page.inner_text("#run-added")
    page.screenshot(path=str(OUTPUT / "generation-run.png"), full_page=True)
    assert added == (
        f"{len(generation_outputs(run))} candidates and {Pair.objects.count()} pairs"
    ), run.final_metrics
    assert run.final_metrics["samples"] == 6
