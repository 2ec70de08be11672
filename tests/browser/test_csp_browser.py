"""Under the Content-Security-Policy the pages load with no violation and still work.

Real headless Chromium against the live server: an annotator labels by keyboard, a manager
opens the training dashboard (a running run polled by htmx, its curves drawn by uPlot, and
the compare view). Every violation the browser reports, as an event or on the console, fails
the test.
"""

import pytest

from labeling.models import Judgment, Membership
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_pairs
from tests.training.dashboard import add_points, make_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs in every page before its own scripts; Playwright's init scripts are not subject to CSP.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} line ${e.lineNumber}`);
});
"""


def _watched_page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console: list[str] = []

    def keep_violations(message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            console.append(message.text)

    page.on("console", keep_violations)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(RECORD_VIOLATIONS)
    return page, console, errors


def _assert_no_violation(page, console, errors):
    """Violations on the page shown now (the record starts again with each page load)."""
    assert page.evaluate("window.__cspViolations") == []
    assert console == []
    assert errors == []


@pytest.fixture
def team():
    project = ProjectFactory(name="CSP check", slug="csp-check", overlap=1)
    make_pairs(project, 4)
    annotator = MembershipFactory(project=project, user=UserFactory(username="ann")).user
    manager = MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    ).user
    return project, annotator, manager


def test_the_label_page_works_by_keyboard_with_no_violation(browser, live_server, team):
    project, annotator, _ = team
    page, console, errors = _watched_page(browser)
    response = page.request.get(f"{live_server.url}/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    log_in(page, live_server.url, "ann", f"/p/{project.slug}/label/")
    for n in (1, 2):
        first = page.locator("input[name=assignment_id]").input_value()
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "id => document.querySelector('input[name=assignment_id]')?.value !== id", arg=first
        )
        assert Judgment.objects.filter(annotator=annotator).count() == n
    page.locator("#instructions").evaluate("d => d.open")  # the page's own script still runs
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "csp-label-page.png"), full_page=True)
    _assert_no_violation(page, console, errors)


def test_the_training_dashboard_draws_and_polls_with_no_violation(browser, live_server, team):
    project, _, _ = team
    running = make_run(project, status="running")
    add_points(running, ("loss", "learning_rate"), range(0, 40, 4))
    done = make_run(project, status="succeeded")
    add_points(done, ("loss",), range(0, 40, 4))
    page, console, errors = _watched_page(browser)
    base = f"{live_server.url}/p/{project.slug}/training/"
    log_in(page, live_server.url, "boss", f"/p/{project.slug}/training/")
    _assert_no_violation(page, console, errors)
    page.goto(f"{base}runs/")
    _assert_no_violation(page, console, errors)
    page.goto(f"{base}runs/{running.pk}/")
    page.wait_for_selector("#live-charts .chart canvas")
    # The next htmx poll (every 2 s) swaps the live section in without a violation either.
    page.evaluate(
        "() => new Promise((done) => document.body.addEventListener('htmx:afterSettle', done, "
        "{once: true}))"
    )
    assert page.locator("#live-charts .chart").count() == 2
    _assert_no_violation(page, console, errors)
    page.goto(f"{base}runs/compare/?run={running.pk}&run={done.pk}")
    page.wait_for_selector("#compare-charts .chart canvas")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "csp-run-compare.png"), full_page=True)
    _assert_no_violation(page, console, errors)
