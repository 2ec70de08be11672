"""A manager builds an arena of two tiny policies, two annotators vote on its battles, and the
leaderboard shows both contenders with their battles and intervals: headless Chromium against
the live server, a real Celery worker (generation jobs and the fit job) and tiny offline
policies."""

import pytest

from labeling.models import Judgment, Membership, Pair
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import MembershipFactory, ProjectFactory, PromptFactory, UserFactory
from tests.training.conftest import (  # noqa: F401 (fixtures shared with the training tests)
    celery_worker,
    tiny_models,
    wait_until,
    worker_data_dir,
    worker_settings,
)
from training.models import ArenaContender, TrainingRun

pytestmark = [
    pytest.mark.browser,
    pytest.mark.training,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_a_manager_builds_an_arena_two_annotators_vote_and_the_board_shows_both(
    live_server,
    browser,
    celery_worker,  # noqa: F811
    worker_settings,  # noqa: F811
    tiny_models,  # noqa: F811
    tmp_path_factory,
):
    from training.ml.tiny import build_tiny_models

    other_policy = build_tiny_models(tmp_path_factory.mktemp("tiny-other"), seed=1)["policy"]
    project = ProjectFactory(name="Arena check", slug="arena-check", overlap=2)
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    for name in ("ann1", "ann2"):
        MembershipFactory(project=project, user=UserFactory(username=name))
    for _ in range(3):
        PromptFactory(project=project)
    OUTPUT.mkdir(exist_ok=True)
    arena_path = f"/p/{project.slug}/training/arena/"
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    log_in(page, live_server.url, "boss", arena_path)

    page.fill("#id_prompt_set", "all")
    page.fill("#id_battle_budget", "3")
    page.fill("#id_max_new_tokens", "6")
    page.check("#id_reveal_sources")
    page.click("#arena-save")
    for name, path in (("tiny-a", tiny_models["policy"]), ("tiny-b", other_policy)):
        page.fill("#id_name", name)
        page.fill("#id_model_path", str(path))
        page.click("#contender-add")
        page.wait_for_selector(f"text=Contender {name} added.")
    page.click("#arena-generate")
    wait_until(
        lambda: (
            TrainingRun.objects.filter(kind="generate", status="succeeded").count() == 2
            and Pair.objects.filter(project=project).exists()
        ),
        timeout=240,
        what="both generation jobs and the battles",
    )
    battles = Pair.objects.filter(project=project).count()
    assert set(ArenaContender.objects.values_list("name", flat=True)) == {"tiny-a", "tiny-b"}
    page.screenshot(path=str(OUTPUT / "arena-contenders.png"), full_page=True)

    for name in ("ann1", "ann2"):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        voter = context.new_page()
        log_in(voter, live_server.url, name, f"/p/{project.slug}/label/")
        for _ in range(battles):
            voter.check("input[name=side][value=left]")
            voter.click("#judgment-form button.primary")
            voter.wait_for_selector("#revealed-sources")
        assert "tiny-" in voter.inner_text("#revealed-sources")
        voter.screenshot(path=str(OUTPUT / f"arena-vote-{name}.png"), full_page=True)
        context.close()
    assert Judgment.objects.filter(project=project).count() == 2 * battles

    page.goto(f"{live_server.url}{arena_path}")
    page.click("#arena-fit")
    page.wait_for_selector("#leaderboard .leaderboard-row >> nth=1", timeout=120_000)
    page.screenshot(path=str(OUTPUT / "arena-leaderboard.png"), full_page=True)
    models = page.locator("#leaderboard .model").all_inner_texts()
    assert sorted(models) == ["tiny-a", "tiny-b"]
    assert page.locator("#leaderboard .battles").all_inner_texts() == [str(2 * battles)] * 2
    intervals = page.locator("#leaderboard .interval").all_inner_texts()
    assert all(" – " in interval for interval in intervals)
    assert page.locator("#arena-plot circle.rating").count() == 2
