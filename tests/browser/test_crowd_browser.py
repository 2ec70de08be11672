"""A Prolific participant in real headless Chromium: the study link, a return visit halfway,
the batch, the completion code and the way back to Prolific; then one who fails the attention
check and is screened out; the manager sees both on the participants page."""

import pytest

from labeling.models import Assignment, Choice, Membership, Participant
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import (
    CrowdStudyFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    make_pairs,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _judge(page, number: int, key: str = "1") -> None:
    """Answer the pair on screen with the keyboard; wait until the count says `number`."""
    page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.getElementById('judged-count')?.textContent == String(n)"
        " || document.getElementById('study-done') !== null",
        arg=number,
    )


def test_it_takes_a_prolific_participant_from_the_link_to_the_completion_code(browser, live_server):
    project = ProjectFactory(name="Crowd check", slug="crowd-check", overlap=2)
    make_pairs(project, 6)
    study = CrowdStudyFactory(
        project=project,
        batch_size=3,
        max_gold_failures=0,
        completion_url=f"{live_server.url}/?cc={{code}}",
    )
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    link = f"{live_server.url}/study/{study.token}/?STUDY_ID=st1&SESSION_ID=se1&PROLIFIC_PID="
    OUTPUT.mkdir(exist_ok=True)
    errors: list[str] = []

    # First visit: straight onto the label page, one judgment, then the tab is closed.
    first = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    first.on("pageerror", lambda error: errors.append(str(error)))
    first.goto(link + "pid0001")
    first.wait_for_selector("#judgment-form")
    assert first.locator("#my-progress").inner_text().startswith("0 of 3 judged by you")
    assert "pid0001" not in first.content()
    _judge(first, 1)
    first.context.close()

    # Return visit in a fresh browser (no cookie): the same account, the count goes on.
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(link + "pid0001")
    page.wait_for_selector("#judgment-form")
    assert page.locator("#my-progress").inner_text().startswith("1 of 3 judged by you")
    page.screenshot(path=str(OUTPUT / "crowd-label.png"), full_page=True)
    _judge(page, 2)
    _judge(page, 3)
    page.wait_for_selector("#study-done")
    assert page.locator("#completion-code").inner_text() == "DONE1234"
    assert "finished your batch" in page.locator("#study-why").inner_text()
    page.screenshot(path=str(OUTPUT / "crowd-done.png"), full_page=True)
    # Back to the platform with the code, by itself after a moment.
    page.wait_for_url(f"{live_server.url}/?cc=DONE1234")
    # Opening the link once more shows the code again, and makes no second account.
    page.goto(link + "pid0001")
    assert page.locator("#completion-code").inner_text() == "DONE1234"
    participant = Participant.objects.get(participant_id="pid0001")
    assert participant.status == Participant.Status.COMPLETED
    assert participant.user.judgment_set.count() == 3

    # A second participant fails the attention check (a gold pair) and is screened out.
    gold = make_pairs(project, 1, is_gold=True, gold_choice=Choice.A)[0]
    project.gold_rate = 1.0
    project.save()
    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    other.on("pageerror", lambda error: errors.append(str(error)))
    other.goto(link + "pid0002")
    other.wait_for_selector("#judgment-form")
    lease = Assignment.objects.get(
        pk=other.locator("#judgment-form").get_attribute("data-assignment")
    )
    assert lease.pair_id == gold.pk
    _judge(other, 1, key="2" if lease.left_is_a else "1")  # the side that is not a
    other.wait_for_selector("#study-done")
    assert other.locator("#completion-code").inner_text() == "SCREEN99"
    assert "too many of yours did not" in other.locator("#study-why").inner_text()
    other.screenshot(path=str(OUTPUT / "crowd-screened-out.png"), full_page=True)
    screened = Participant.objects.get(participant_id="pid0002")
    assert screened.status == Participant.Status.SCREENED_OUT
    assert Membership.objects.get(user=screened.user).excluded_from_exports

    # The manager sees both, with their platform ids, status and code.
    manager = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(manager, live_server.url, "boss", f"/p/{project.slug}/participants/")
    rows = {
        row.get_attribute("data-participant"): row.locator("td").all_inner_texts()
        for row in manager.locator("#participants-table tbody tr").all()
    }
    assert rows["pid0001"][2:5] == ["Completed", "DONE1234", "3"]
    assert rows["pid0002"][2:6] == ["Screened out", "SCREEN99", "1", "0.00 (0/1)"]
    manager.screenshot(path=str(OUTPUT / "crowd-participants.png"), full_page=True)
    assert errors == []
