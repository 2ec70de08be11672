"""An annotator labels five pairs with the keyboard alone, in real headless Chromium.

The app runs under pytest-django's live server; Playwright drives Debian's /usr/bin/chromium.
Screenshots of the label and manager pages are written to test-output/ for a human to look at.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Choice, Judgment, Membership
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import (
    CandidateFactory,
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    UserFactory,
    make_pairs,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
# Keys per pair: (answer keys, expected screen side). Enter alone first must not submit. A tie
# or "both bad" has no strength, whether it is picked before (X then 4) or after (3 then Z).
PLAN = [("1", "left"), ("2x", "right"), ("3z", "tie"), ("x4", "both_bad"), ("1z", "left")]


@pytest.fixture
def labelling_project():
    project = ProjectFactory(
        name="Browser check",
        slug="browser-check",
        overlap=1,
        ask_strength=True,
        instructions="Pick the **better** response.",
    )
    # The hostile pair comes first (highest priority), then ordinary ones.
    prompt = PromptFactory(
        project=project, messages=[{"role": "user", "content": "Show me some HTML."}]
    )
    hostile = CandidateFactory(prompt=prompt, text=f"Here: {SCRIPT} and {IMG} done.")
    code = CandidateFactory(prompt=prompt, text="```python\nprint('hello')\n```")
    project.pairs.create(prompt=prompt, candidate_a=hostile, candidate_b=code, priority=10)
    make_pairs(project, 7)
    annotator = MembershipFactory(project=project, user=UserFactory(username="ann")).user
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    return project, annotator


def test_it_labels_five_pairs_by_keyboard_and_the_manager_sees_them(
    browser, live_server, labelling_project
):
    project, annotator = labelling_project
    OUTPUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, "ann", f"/p/{project.slug}/label/")
    page.evaluate("window.__samePage = true")  # survives htmx swaps, not a page load

    # The hostile response is on screen as text, and nothing in it ran.
    response_text = page.locator(".response").all_inner_texts()
    assert any(SCRIPT in text and IMG in text for text in response_text)
    assert page.locator(".response pre code").count() == 1
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.screenshot(path=str(OUTPUT / "label-page.png"), full_page=True)

    # Side by side on a wide screen, stacked on a narrow one; I folds the instructions.
    left, right = page.locator("#response-left"), page.locator("#response-right")
    assert left.bounding_box()["y"] == right.bounding_box()["y"]
    page.set_viewport_size({"width": 400, "height": 800})
    assert right.bounding_box()["y"] >= left.bounding_box()["y"] + left.bounding_box()["height"]
    page.screenshot(path=str(OUTPUT / "label-page-narrow.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.locator("#instructions").evaluate("d => d.open") is True
    page.keyboard.press("i")
    assert page.locator("#instructions").evaluate("d => d.open") is False

    shown: list[tuple[int, str]] = []
    for number, (keys, side) in enumerate(PLAN, start=1):
        form = page.locator("#judgment-form")
        assignment_id = int(form.get_attribute("data-assignment"))
        if number == 1:
            page.keyboard.press("Enter")  # nothing chosen yet: a hint, no submission
            assert "Pick an answer first" in page.locator("#work-hint").inner_text()
        for key in keys:
            page.keyboard.press(key)
        assert page.locator(f'input[name=side][value="{side}"]').is_checked()
        if side in ("tie", "both_bad"):
            assert page.locator("input[name=strength]:checked").count() == 0
        if number == 2:
            page.screenshot(path=str(OUTPUT / "label-page-selected.png"), full_page=True)
        page.keyboard.press("Enter")
        page.wait_for_function(
            "([old, n]) => document.getElementById('judged-count')?.textContent == String(n)"
            " && document.getElementById('judgment-form')?.dataset.assignment != old",
            arg=[str(assignment_id), number],
        )
        shown.append((assignment_id, side))

    # S skips the sixth pair without judging it.
    skipped_id = int(page.locator("#judgment-form").get_attribute("data-assignment"))
    page.keyboard.press("s")
    page.wait_for_function(
        "old => document.getElementById('judgment-form')?.dataset.assignment != old",
        arg=str(skipped_id),
    )

    # A lease that ran out is refused with a message, and the next pair is there at once.
    expired_id = int(page.locator("#judgment-form").get_attribute("data-assignment"))
    Assignment.objects.filter(pk=expired_id).update(expires_at=timezone.now() - timedelta(1))
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#work-error")
    assert "ran out" in page.locator("#work-error").inner_text()
    assert int(page.locator("#judgment-form").get_attribute("data-assignment")) != expired_id
    page.screenshot(path=str(OUTPUT / "label-page-refused.png"), full_page=True)

    assert page.evaluate("window.__samePage") is True
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert errors == []

    manager_page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(manager_page, live_server.url, "boss", f"/p/{project.slug}/manage/")
    assert manager_page.locator("#judgments-total").inner_text() == "5"
    assert manager_page.locator("#pairs-done").inner_text() == "5"
    row = manager_page.locator("#annotators tbody tr").first.locator("td").all_inner_texts()
    assert row[:2] == ["ann", "5"]
    manager_page.screenshot(path=str(OUTPUT / "manage-page.png"), full_page=True)

    # What the server stored matches what was on screen, side for side.
    judgments = {j.assignment_id: j for j in Judgment.objects.filter(annotator=annotator)}
    assert len(judgments) == 5
    for assignment_id, side in shown:
        judgment = judgments[assignment_id]
        left, right = (Choice.A, Choice.B) if judgment.left_is_a else (Choice.B, Choice.A)
        expected = {"left": left, "right": right, "tie": Choice.TIE, "both_bad": Choice.BOTH_BAD}[
            side
        ]
        assert judgment.choice == expected
        assert judgment.time_spent_ms is not None
    assert [judgments[assignment_id].strength for assignment_id, _ in shown[1:]] == [
        2,
        None,
        None,
        1,
    ]
    assert Assignment.objects.get(pk=skipped_id).status == Assignment.Status.SKIPPED
