"""The API's pages in Chromium: a user makes a token on /account/tokens/ and the API accepts
it; /api/v1/docs renders its operations offline (every request stays on the app's own origin)
under the Content-Security-Policy."""

from urllib.parse import urlsplit

import pytest

from labeling.models import Membership
from tests.browser.conftest import OUTPUT, log_in
from tests.browser.test_csp_browser import _assert_no_violation, _watched_page
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_token_made_on_the_page_works_and_the_docs_render_offline(browser, live_server):
    membership = MembershipFactory(user=UserFactory(username="boss"), role=Membership.Role.MANAGER)
    page, console, errors = _watched_page(browser)
    elsewhere: list[str] = []
    own = urlsplit(live_server.url).netloc

    def only_own_origin(route) -> None:
        if urlsplit(route.request.url).netloc != own:
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_own_origin)
    log_in(page, live_server.url, "boss", "/account/tokens/")
    page.fill("input[name=name]", "nightly export")
    page.click("button:has-text('Make token')")
    secret = page.inner_text("#new-token-secret").strip()
    assert secret.startswith("pfa_")
    answer = page.request.get(
        f"{live_server.url}/api/v1/projects", headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status == 200
    assert answer.json()["results"][0]["project"]["slug"] == membership.project.slug
    _assert_no_violation(page, console, errors)

    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/labelling/submit" in path for path in paths)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "api-docs.png"), full_page=False)
    assert elsewhere == []
    assert page.evaluate("window.__cspViolations") == []
    assert errors == []
