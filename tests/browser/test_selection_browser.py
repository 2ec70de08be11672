"""The queue-order card: a manager sees the margin histogram and changes the strategy, in real
headless Chromium, under the Content-Security-Policy. Screenshot in test-output/."""

import random

import pytest

from labeling.models import Membership, Pair
from labeling.services.selection import p_a_preferred, selection_apply
from tests.browser.conftest import OUTPUT, log_in
from tests.browser.test_csp_browser import _assert_no_violation, _watched_page
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_pairs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_draws_the_margins_and_changes_the_strategy(browser, live_server, monkeypatch):
    from prefapp.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the reorder task, run here
    project = ProjectFactory(name="Queue check", slug="queue-check", overlap=1)
    pairs = make_pairs(project, 40)
    rng = random.Random(0)
    margins = {p.pk: rng.gauss(0.0, 2.0) for p in pairs}
    selection_apply(project=project, new={k: (p_a_preferred(m), m) for k, m in margins.items()})
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    OUTPUT.mkdir(exist_ok=True)
    page, console, errors = _watched_page(browser)
    path = f"/p/{project.slug}/manage/"
    log_in(page, live_server.url, "boss", path)

    bars = page.locator("#margin-histogram rect.fill")
    assert bars.count() == 12
    heights = [float(bars.nth(i).get_attribute("height")) for i in range(12)]
    assert max(heights) == 100 and sum(h > 0 for h in heights) >= 5
    box = page.locator("#margin-histogram svg").bounding_box()
    assert box["width"] > 300 and box["height"] > 40
    _assert_no_violation(page, console, errors)

    page.select_option("select[name=selection_strategy]", "uncertainty")
    page.click("text=Save queue order")
    page.wait_for_url(f"{live_server.url}{path}")
    assert "Uncertainty" in page.locator("#selection-strategy").inner_text()
    page.screenshot(path=str(OUTPUT / "manage-queue-order.png"), full_page=True)
    _assert_no_violation(page, console, errors)
    first = Pair.objects.order_by("-priority", "id").first()
    assert first.pk == min(margins, key=lambda pk: (abs(margins[pk]), pk))
