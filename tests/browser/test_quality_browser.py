"""A manager excludes a careless annotator after seeing who a threshold would exclude, then
exports that annotator's judgments by finding them with the search box of the export form,
and sees the manage page's counters refresh by themselves."""

import json

import pytest

from labeling.models import Choice, Membership
from tests.browser.conftest import OUTPUT, log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def crowd():
    """Forty annotators; on five gold pairs `careless` is always wrong, two others right."""
    project = ProjectFactory(name="Quality check", slug="quality-check")
    MembershipFactory(
        project=project, user=UserFactory(username="boss"), role=Membership.Role.MANAGER
    )
    users = {
        name: MembershipFactory(project=project, user=UserFactory(username=name)).user
        for name in [f"worker{i:02}" for i in range(40)] + ["careless"]
    }
    for pair in make_pairs(project, 5, is_gold=True, gold_choice=Choice.A):
        add_judgment(pair, users["careless"], Choice.B)
        for name in ("worker00", "worker01"):
            add_judgment(pair, users[name], Choice.A)
    return project


def test_it_excludes_after_confirming_and_exports_one_annotator_found_by_search(
    browser, live_server, crowd
):
    project = crowd
    OUTPUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else 0)
    log_in(page, live_server.url, "boss", f"/p/{project.slug}/quality/")

    page.fill("#exclude-form input[name=threshold]", "0.5")
    page.click("#exclude-form button[type=submit]")
    page.wait_for_selector("#exclude-candidates")
    listed = page.locator("#exclude-candidates tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.username)"
    )
    assert listed == ["careless"]
    assert not Membership.objects.filter(excluded_from_exports=True).exists()
    page.screenshot(path=str(OUTPUT / "quality-exclude-confirm.png"), full_page=True)
    page.click("#exclude-confirm button[type=submit]")
    page.wait_for_url(f"{live_server.url}/p/{project.slug}/quality/")
    assert "Excluded from exports and training: careless" in page.inner_text(".messages")
    excluded = Membership.objects.filter(project=project, excluded_from_exports=True)
    assert [m.user.username for m in excluded] == ["careless"]

    page.goto(f"{live_server.url}/p/{project.slug}/manage/")
    page.click("#export summary")
    boxes = page.locator("#export-form [data-filter-items] input[type=checkbox]")
    assert boxes.count() == 42  # every member, the manager too
    page.fill("#export-form [data-filter-input]", "CARE")
    assert page.locator("#export-form [data-filter-items] input:visible").count() == 1
    page.check("#export-form [data-filter-items] input[value=careless]")
    page.fill("#export-form [data-filter-input]", "")
    assert page.locator("#export-form [data-filter-items] input:visible").count() == 42
    assert page.inner_text("#export-form [data-filter-count]") == "1 ticked"
    # Enter in the search box narrows the list; it does not submit the form.
    page.press("#export-form [data-filter-input]", "Enter")
    assert page.url.endswith("/manage/")
    page.check("#export-form input[name=include_excluded]")
    page.screenshot(path=str(OUTPUT / "manage-export-filter.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("#export-form button[type=submit]")
    download = download_info.value
    assert download.suggested_filename == (
        f"{project.slug}-trl-all-annotator-careless-with-excluded.jsonl"
    )
    rows = [json.loads(line) for line in download.path().read_text().splitlines()]
    assert len(rows) == 5
    # The counters refresh themselves (htmx polling, every 10 s) when a judgment arrives.
    assert page.inner_text("#judgments-total") == "15"
    (pair,) = make_pairs(project, 1)
    add_judgment(pair, Membership.objects.get(user__username="worker02").user, Choice.A)
    page.wait_for_function(
        "() => document.querySelector('#judgments-total').textContent === '16'", timeout=25_000
    )
    assert page.inner_text("#progress-text").startswith("100%: 1 of 1 judgments")
    assert refused == []
