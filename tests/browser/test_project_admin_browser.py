"""A manager who is no superuser runs a study from the browser: creates a project, sets it up
with a live preview of the instructions, adds a member and makes an invite link, through which
a newcomer signs up with just a name and lands on the labelling page. Real headless Chromium
under the Content-Security-Policy; screenshots in test-output/."""

import pytest
from django.contrib.auth.models import Permission

from labeling.models import AuditEvent, Membership, Project
from tests.browser.conftest import OUTPUT, log_in
from tests.browser.test_csp_browser import _assert_no_violation, _watched_page
from tests.factories import UserFactory, make_pairs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_creates_a_project_adds_a_member_and_signs_up_through_an_invite(browser, live_server):
    boss = UserFactory(username="boss")
    boss.user_permissions.add(Permission.objects.get(codename="add_project"))
    UserFactory(username="carol", email="carol@example.org")
    OUTPUT.mkdir(exist_ok=True)
    page, console, errors = _watched_page(browser)
    base = live_server.url
    log_in(page, base, "boss", "/")

    page.click("#new-project")
    page.fill("input[name=name]", "Helpfulness study")
    page.fill("input[name=slug]", "helpful")
    page.click("text=Create project")
    page.wait_for_url(f"{base}/p/helpful/settings/")
    assert page.locator("#project-tabs a.active").inner_text() == "Settings"

    page.fill("#id_instructions", "Pick the **more helpful** answer.")
    page.wait_for_function(
        "() => document.querySelector('#instructions-preview strong')?.textContent"
        " === 'more helpful'"
    )
    page.fill("input[name=overlap]", "3")
    page.uncheck("input[name=allow_both_bad]")
    page.click("#save-settings")
    page.wait_for_selector("text=Settings saved.")
    page.screenshot(path=str(OUTPUT / "project-settings.png"), full_page=True)
    _assert_no_violation(page, console, errors)
    project = Project.objects.get(slug="helpful")
    assert (project.overlap, project.allow_both_bad) == (3, False)
    assert project.instructions == "Pick the **more helpful** answer."
    make_pairs(project, 2)

    page.click("#project-tabs >> text=Members")
    page.fill("input[name=identifier]", "carol@example.org")
    page.click("#member-add-form button")
    page.wait_for_selector("tr[data-username=carol]")
    page.select_option("tr[data-username=carol] select[name=role]", "manager")
    page.wait_for_function(
        "() => document.querySelector('tr[data-username=carol] select').value === 'manager'"
        " && !document.querySelector('#members.htmx-request')"
    )
    page.click("#invite-form button")
    page.wait_for_selector(".invite-url")
    link = page.locator(".invite-url").first.input_value()
    page.screenshot(path=str(OUTPUT / "project-members.png"), full_page=True)
    _assert_no_violation(page, console, errors)

    newcomer, console2, errors2 = _watched_page(browser)  # a fresh context: not logged in
    newcomer.goto(link)
    newcomer.fill("#id_display_name", "Dana")
    newcomer.click("#name-form button")
    newcomer.wait_for_url(f"{base}/p/helpful/label/")
    assert newcomer.locator("#project-tabs a").all_inner_texts() == ["Label"]
    newcomer.wait_for_selector("#work")
    _assert_no_violation(newcomer, console2, errors2)
    newcomer.context.close()

    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())  # "Remove carol? ..." (hx-confirm)
    page.click("tr[data-username=carol] >> text=Remove")
    page.wait_for_selector("text=carol removed; their judgments stay.")
    assert page.locator("tr[data-username=carol]").count() == 0
    _assert_no_violation(page, console, errors)

    roles = dict(Membership.objects.filter(project=project).values_list("user__first_name", "role"))
    assert roles["Dana"] == "annotator"
    assert not Membership.objects.filter(project=project, user__username="carol").exists()
    actions = set(AuditEvent.objects.filter(project=project).values_list("action", flat=True))
    assert {"project_created", "settings_changed", "member_added", "member_role_changed"} <= actions
    assert "member_removed" in actions
    assert {"invite_created", "invite_accepted"} <= actions
