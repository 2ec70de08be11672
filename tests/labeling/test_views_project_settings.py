import pytest

from labeling.models import AuditEvent, Project
from tests.conftest import assert_managers_only, client_for

pytestmark = pytest.mark.django_db


def _form(project, **changes):
    data = {
        "name": project.name,
        "slug": project.slug,
        "instructions": project.instructions,
        "overlap": project.overlap,
        "lease_minutes": project.lease_minutes,
        "allow_tie": "on",
        "allow_both_bad": "on",
        "avoid_repeat_prompt": "on",  # ticked, as the page shows it by default
        "gold_rate": project.gold_rate,
    }
    return {k: v for k, v in (data | changes).items() if v is not None}


def test_it_shows_the_settings_with_the_tab_bar_and_a_rendered_preview(project, manager):
    body = client_for(manager).get(f"/p/{project.slug}/settings/").content.decode()
    assert 'id="settings-form"' in body and 'id="project-tabs"' in body
    assert 'aria-current="page">Settings</a>' in body
    assert "<strong>better</strong>" in body  # the instructions' markdown, rendered


def test_it_saves_settings_and_follows_a_new_slug(project, manager):
    client = client_for(manager)
    response = client.post(
        f"/p/{project.slug}/settings/", _form(project, slug="renamed", allow_tie=None)
    )
    assert response.status_code == 302 and response.url == "/p/renamed/settings/"
    project.refresh_from_db()
    assert (project.slug, project.allow_tie) == ("renamed", False)
    event = AuditEvent.objects.get(action="settings_changed")
    assert set(event.details["changed"]) == {"slug", "allow_tie"}


def test_it_saves_the_cap_per_annotator_and_the_prompt_rotation(project, manager):
    client = client_for(manager)
    form = _form(project, judgments_per_annotator="5", avoid_repeat_prompt=None)
    assert client.post(f"/p/{project.slug}/settings/", form).status_code == 302
    project.refresh_from_db()
    assert (project.judgments_per_annotator, project.avoid_repeat_prompt) == (5, False)
    client.post(f"/p/{project.slug}/settings/", _form(project, judgments_per_annotator=""))
    project.refresh_from_db()
    assert (project.judgments_per_annotator, project.avoid_repeat_prompt) == (None, True)


def test_it_shows_errors_next_to_fields_and_saves_nothing(project, manager):
    response = client_for(manager).post(f"/p/{project.slug}/settings/", _form(project, overlap=0))
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1" in response.content.decode()
    assert Project.objects.get(pk=project.pk).overlap == 1


def test_it_previews_instructions_through_the_sanitiser(project, manager):
    response = client_for(manager).post(
        f"/p/{project.slug}/settings/preview/",
        {"instructions": "**Bold** <script>alert(1)</script>"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "<strong>Bold</strong>" in body and "<script>" not in body


def test_it_archives_and_takes_back_a_project(project, manager, annotator):
    client = client_for(manager)
    client.post(f"/p/{project.slug}/archive/", {"archive": "1"})
    assert client_for(annotator).get(f"/p/{project.slug}/label/").status_code == 404
    assert client.get(f"/p/{project.slug}/settings/").status_code == 200
    client.post(f"/p/{project.slug}/archive/", {"archive": "0"})
    assert client_for(annotator).get(f"/p/{project.slug}/label/").status_code == 200


def test_it_deletes_only_after_the_slug_is_typed(project, manager):
    client = client_for(manager)
    page = client.get(f"/p/{project.slug}/delete/").content.decode()
    assert "<strong>1</strong> memberships" in page

    response = client.post(f"/p/{project.slug}/delete/", {"confirm_slug": "nope"})
    assert response.status_code == 400 and Project.objects.filter(pk=project.pk).exists()

    response = client.post(f"/p/{project.slug}/delete/", {"confirm_slug": project.slug})
    assert response.status_code == 302 and response.url == "/"
    assert not Project.objects.filter(pk=project.pk).exists()


def test_it_hides_settings_from_annotators_and_outsiders(project):
    url = f"/p/{project.slug}"
    assert_managers_only(
        project,
        ("get", f"{url}/settings/"),
        ("post", f"{url}/settings/", {"name": "X"}),
        ("post", f"{url}/settings/preview/", {"instructions": "x"}),
        ("post", f"{url}/archive/", {"archive": "1"}),
        ("get", f"{url}/delete/"),
        ("post", f"{url}/delete/", {"confirm_slug": project.slug}),
    )
    project.refresh_from_db()
    assert not project.is_archived and project.name != "X"


def test_it_refuses_settings_posts_without_a_csrf_token(project, manager):
    client = client_for(manager, enforce_csrf_checks=True)
    for path, data in [
        ("settings/", _form(project, name="X")),
        ("archive/", {"archive": "1"}),
        ("delete/", {"confirm_slug": project.slug}),
        ("settings/preview/", {"instructions": "x"}),
    ]:
        assert client.post(f"/p/{project.slug}/{path}", data).status_code == 403
    assert Project.objects.filter(pk=project.pk, archived_at=None).exclude(name="X").exists()
