"""A manager looks at the rounds page in real headless Chromium: the charts over rounds are
drawn, the settings form saves, and "next round" starts the open round's steps."""

import pytest

from labeling.models import Membership
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.training.conftest import judge_pairs
from tests.training.dashboard import fake_model_dir, make_run, make_snapshot
from training.models import LoopSettings, Round, RoundStep
from training.services.loop import loop_settings_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _evaluated_round(project, number: int, win_rate: float, accuracy: float) -> None:
    snapshot = make_snapshot(project, train_rows=8 * number)
    reward = make_run(
        project, status="succeeded", snapshot=snapshot, final_metrics={"eval_accuracy": accuracy}
    )
    evaluation = make_run(
        project,
        kind="evaluate",
        status="succeeded",
        snapshot=snapshot,
        final_metrics={
            "win_rate": win_rate,
            "win_rate_low": win_rate - 0.1,
            "win_rate_high": win_rate + 0.1,
            "mean_reward": win_rate * 2,
            "reference_mean_reward": 0.5,
            "kl": number * 1.5,
            "mean_length": 10.0 + number,
            "reference_mean_length": 10.0,
            "eos_rate": 0.95,
        },
    )
    round = Round.objects.create(
        project=project, number=number, status="done", snapshot=snapshot, judgments=20
    )
    for name, run in (("snapshot", None), ("reward", reward), ("evaluate", evaluation)):
        RoundStep.objects.create(round=round, name=name, run=run, status="succeeded")


def test_a_manager_watches_the_rounds_and_starts_the_next(live_server, browser, settings, tmp_path):
    settings.PREFAPP_DATA_DIR = tmp_path / "data"
    project = ProjectFactory(name="Loop check", slug="loop-check", overlap=1)
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    judge_pairs(project, pairs=6)
    _evaluated_round(project, 1, 0.6, 0.7)
    _evaluated_round(project, 2, 0.72, 0.78)
    model = fake_model_dir(tmp_path / "models" / "tiny")
    settings.PREFAPP_MODEL_ROOTS = [str(tmp_path / "models")]
    loop_settings_set(project=project, reward_base_model=str(model), start_policy=str(model))
    Round.objects.create(project=project, number=3)
    OUTPUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    log_in(page, live_server.url, "boss", f"/p/{project.slug}/training/rounds/")

    page.wait_for_selector("#rounds-charts[data-charts] .chart canvas")
    assert page.get_attribute("#rounds-charts", "data-charts") == "5"
    assert "0.72 (0.62–0.82)" in page.inner_text("#round-2 .win-rate")
    page.screenshot(path=str(OUTPUT / "training-rounds.png"), full_page=True)

    page.click("#loop-settings-link")
    page.fill("input[name=label_budget]", "25")
    page.fill("textarea[name=policy_config]", '{"beta": 0.05}')
    page.click("#loop-save")
    page.wait_for_selector("#round-next")
    saved = LoopSettings.objects.get(project=project)
    assert (saved.label_budget, saved.policy_config) == (25, {"beta": 0.05})

    page.click("#round-next")
    page.wait_for_selector("#round-3 .step-running")
    third = Round.objects.get(project=project, number=3)
    assert third.status == Round.Status.RUNNING and third.snapshot is not None
    assert "reward: Running" in page.inner_text("#round-3")
    page.screenshot(path=str(OUTPUT / "training-rounds-running.png"), full_page=True)
