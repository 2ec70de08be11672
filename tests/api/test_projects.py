"""Projects and members through the API: the settings and members pages' services, refusals
in their words, the audit log written."""

from django.contrib.auth.models import Permission

from labeling.models import AuditEvent, Membership, Project
from tests.api.conftest import bearer
from tests.factories import UserFactory

JSON = "application/json"


def test_it_creates_projects_for_those_allowed(manager, manager_api):
    url = "/api/v1/projects"
    refused = manager_api.post(url, {"name": "N", "slug": "n"}, content_type=JSON)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    manager.user_permissions.add(Permission.objects.get(codename="add_project"))
    allowed = bearer(manager)
    made = allowed.post(url, {"name": "N", "slug": "n", "overlap": 2}, content_type=JSON)
    assert made.status_code == 201 and made.json()["overlap"] == 2
    assert Membership.objects.get(project__slug="n", user=manager).is_manager
    taken = allowed.post(url, {"name": "N", "slug": "n"}, content_type=JSON)
    assert taken.status_code == 400 and taken.json()["error"]["field"] == "slug"


def test_it_updates_settings_and_archives(project, manager_api):
    url = f"/api/v1/projects/{project.slug}"
    changed = manager_api.patch(url, {"overlap": 3}, content_type=JSON)
    assert changed.status_code == 200 and changed.json()["overlap"] == 3
    bad = manager_api.patch(url, {"gold_rate": 7}, content_type=JSON)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "gold_rate"
    assert Project.objects.get(pk=project.pk).gold_rate == 0
    archived = manager_api.post(f"{url}/archive")
    assert archived.json()["archived_at"] is not None
    assert AuditEvent.objects.filter(project=project).count() == 2


def test_it_adds_changes_and_removes_members(project, manager, manager_api):
    url = f"/api/v1/projects/{project.slug}/members"
    UserFactory(username="newcomer")
    added = manager_api.post(url, {"identifier": "newcomer"}, content_type=JSON)
    assert added.status_code == 201 and added.json()["role"] == "annotator"
    unknown = manager_api.post(url, {"identifier": "nobody"}, content_type=JSON)
    assert unknown.json()["error"]["field"] == "identifier"
    listed = manager_api.get(url).json()["results"]
    assert {m["username"] for m in listed} == {"manager", "newcomer"}
    member_url = f"{url}/{added.json()['id']}"
    assert (
        manager_api.patch(member_url, {"role": "manager"}, content_type=JSON).json()["role"]
        == "manager"
    )
    assert manager_api.delete(member_url).json() == {"removed": True, "leases_released": 0}
    mine = Membership.objects.get(project=project, user=manager)
    last = manager_api.delete(f"{url}/{mine.pk}")
    assert last.status_code == 400 and "only manager" in last.json()["error"]["message"]
