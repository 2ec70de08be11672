"""The label page keeps every answer, in real headless Chromium: a reload, a session that ended
mid-pair, an undo; and it stays usable with a very long line and on a phone."""

import pytest
from django.contrib.sessions.models import Session

from labeling.models import Assignment, Choice, Judgment, Project
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import (
    PASSWORD,
    CandidateFactory,
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    UserFactory,
    make_pairs,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_CODE = "```\n" + "x" * 1000 + "\n```\nAnd a long word: " + "y" * 1000


@pytest.fixture
def project():
    project = ProjectFactory(name="Keeps work", slug="keeps-work", overlap=1, ask_strength=True)
    # The first pair served holds a 1,000-character line of code and a 1,000-letter word.
    prompt = PromptFactory(project=project)
    wide = CandidateFactory(prompt=prompt, text=LONG_CODE)
    short = CandidateFactory(prompt=prompt, text="A short answer.")
    project.pairs.create(prompt=prompt, candidate_a=wide, candidate_b=short, priority=10)
    make_pairs(project, 3)
    MembershipFactory(project=project, user=UserFactory(username="ann"))
    return project


def _assignment(page) -> int:
    return int(page.locator("#judgment-form").get_attribute("data-assignment"))


def _next_pair(page, old: int) -> None:
    page.wait_for_function(
        "old => document.getElementById('judgment-form')?.dataset.assignment != old",
        arg=str(old),
    )


def test_it_keeps_the_answer_over_a_reload_and_an_ended_session_and_sends_it_once(
    browser, live_server, project
):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    url = f"/p/{project.slug}/label/"
    log_in(page, live_server.url, "ann", url)
    first = _assignment(page)

    # A reload keeps the chosen answer (kept under the lease's id).
    page.keyboard.press("2")
    page.keyboard.press("x")
    page.reload()
    assert _assignment(page) == first
    assert page.locator('input[name=side][value="right"]').is_checked()
    assert page.locator('input[name=strength][value="2"]').is_checked()

    # The session ends mid-pair; Enter keeps the answer and offers to log in again.
    Session.objects.all().delete()
    page.keyboard.press("Enter")
    page.wait_for_selector("#session-ended:not([hidden])")
    assert page.locator("#login, form[action='/login/']").count() == 0  # no login page inside
    assert "Could not reach the server" not in page.locator("#work-hint").inner_text()
    assert not Judgment.objects.exists()
    page.screenshot(path=str(OUTPUT / "label-page-session-ended.png"), full_page=True)

    # Logging in comes back to the same pair, and the answer is sent by itself, once.
    page.keyboard.press("Enter")  # the focused "Log in again" link
    page.wait_for_url(f"{live_server.url}/login/?next={url}")
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{url}")
    _next_pair(page, first)
    judgment = Judgment.objects.get()
    assert judgment.assignment_id == first
    left, right = (Choice.A, Choice.B) if judgment.left_is_a else (Choice.B, Choice.A)
    assert (judgment.choice, judgment.strength) == (right, 2)
    # Loading the page again sends nothing a second time.
    page.reload()
    assert Judgment.objects.count() == 1
    assert errors == []


def test_it_takes_the_last_answer_back_and_lets_it_be_changed(browser, live_server, project):
    Project.objects.filter(pk=project.pk).update(lease_minutes=1)  # a short lease: a warning
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, "ann", f"/p/{project.slug}/label/")
    timer = page.locator("#lease-timer.warn")
    assert timer.is_visible() and "left on this pair" in timer.inner_text()
    first = _assignment(page)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    _next_pair(page, first)
    assert page.locator("#undo-form").is_visible()
    second = _assignment(page)

    page.keyboard.press("u")
    _next_pair(page, second)
    assert _assignment(page) == first
    assert not Judgment.objects.exists()
    # The answer given before is shown again; a tie leaves no strength to pick.
    assert page.locator('input[name=side][value="left"]').is_checked()
    page.keyboard.press("3")
    assert page.locator('input[name=strength][value="1"]').is_disabled()
    page.keyboard.press("z")
    page.keyboard.press("Enter")
    _next_pair(page, first)
    assert _assignment(page) == second  # the pair leased meanwhile comes next
    judgment = Judgment.objects.get()
    assert (judgment.assignment_id, judgment.choice, judgment.strength) == (first, Choice.TIE, None)
    assert Assignment.objects.get(pk=first).pair.judgment_count == 1

    # "My judgments" lists it.
    page.click("text=My judgments")
    assert "Tie" in page.locator("#my-judgments").inner_text()
    assert errors == []


def _page_width(page) -> tuple[int, int]:
    return page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )


def test_it_keeps_long_lines_inside_their_card_on_a_wide_screen_and_a_phone(
    browser, live_server, project
):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, live_server.url, "ann", f"/p/{project.slug}/label/")
    scroll_width, client_width = _page_width(page)
    assert scroll_width == client_width
    # Both responses keep their half; the code block scrolls inside its card.
    for side in ("left", "right"):
        assert page.locator(f"#response-{side}").bounding_box()["width"] > 400
    code = page.locator(".response pre")
    assert code.evaluate("pre => pre.scrollWidth > pre.clientWidth")
    page.screenshot(path=str(OUTPUT / "label-page-long-line.png"), full_page=True)

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ).new_page()
    log_in(phone, live_server.url, "ann", f"/p/{project.slug}/label/")
    scroll_width, client_width = _page_width(phone)
    assert scroll_width == client_width == 390
    # The answer buttons are on screen without scrolling past both responses.
    bar = phone.locator(".answer").bounding_box()
    assert bar["y"] + bar["height"] <= 844 + 1
    assert phone.locator(".choice input[value=left] + span").is_visible()
    # No keyboard on a phone: the key hints are hidden.
    assert phone.locator(".choice kbd").first.is_hidden()
    phone.screenshot(path=str(OUTPUT / "label-page-phone.png"))
    first = _assignment(phone)
    phone.locator(".choice input[value=right] + span").tap()
    phone.locator("button.primary").tap()
    _next_pair(phone, first)
    assert Judgment.objects.get().assignment_id == first
