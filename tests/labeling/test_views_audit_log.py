import pytest

from labeling.services.projects import project_update
from tests.conftest import assert_managers_only, client_for

pytestmark = pytest.mark.django_db


def test_it_shows_who_did_what_to_managers(project, manager):
    project_update(project=project, actor=manager, changes={"overlap": 3})
    body = client_for(manager).get(f"/p/{project.slug}/audit/").content.decode()
    assert 'data-action="settings_changed"' in body and "<td>manager</td>" in body
    assert "[1, 3]" in body


def test_it_hides_the_audit_log_from_annotators_and_outsiders(project):
    assert_managers_only(project, ("get", f"/p/{project.slug}/audit/"))
