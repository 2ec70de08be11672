"""Project services: create, update through the settings form, archive, delete."""

import pytest

from labeling.models import Assignment, AuditEvent, Judgment, Membership, Pair, Project
from labeling.selectors import membership_get, projects_for_user
from labeling.selectors_projects import audit_events, project_contents
from labeling.services.assignment import assignment_next
from labeling.services.projects import (
    ProjectRefused,
    project_archive,
    project_create,
    project_delete,
    project_unarchive,
    project_update,
)
from tests.factories import UserFactory, make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


def test_it_creates_a_project_with_its_creator_as_manager_and_audits_it():
    creator = UserFactory(username="creator")

    project = project_create(name="Study", slug="study", creator=creator, overlap=3)

    assert (project.overlap, project.lease_minutes, project.allow_tie) == (3, 15, True)
    membership = Membership.objects.get(project=project, user=creator)
    assert membership.role == Membership.Role.MANAGER
    [event] = audit_events(project=project)
    assert (event.action, event.actor_name, event.details["slug"]) == (
        "project_created",
        "creator",
        "study",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slug": "no spaces"}, "slug:"),
        ({"overlap": 0}, "overlap:"),
        ({"gold_rate": 1.5}, "gold_rate:"),
        ({"colour": "red"}, "colour: not a project setting"),
    ],
)
def test_it_refuses_invalid_settings_naming_the_field(fields, message):
    arguments = {"name": "Study", "slug": "study"} | fields
    with pytest.raises(ProjectRefused, match=message):
        project_create(**arguments)
    assert not Project.objects.exists()


def test_it_refuses_a_slug_already_taken(project):
    with pytest.raises(ProjectRefused, match="slug: Project with this Slug already exists"):
        project_create(name="Other", slug=project.slug)


def test_it_updates_settings_and_audits_only_the_changed_fields(project, manager):
    old_name = project.name
    updated = project_update(
        project=project,
        actor=manager,
        changes={"name": "Renamed", "overlap": 1, "ask_rationale": True},
    )

    assert updated.name == "Renamed" and updated.ask_rationale
    project.refresh_from_db()
    assert project.name == "Renamed"
    [event] = AuditEvent.objects.filter(action="settings_changed")
    assert event.details["changed"] == {
        "name": [old_name, "Renamed"],
        "ask_rationale": [False, True],
    }


def test_it_leaves_the_project_as_it_was_when_an_update_is_invalid(project, manager):
    name = project.name
    with pytest.raises(ProjectRefused, match="lease_minutes:"):
        project_update(project=project, actor=manager, changes={"name": "X", "lease_minutes": 0})
    project.refresh_from_db()
    assert project.name == name
    assert not AuditEvent.objects.filter(action="settings_changed").exists()


def test_it_refills_the_queue_when_the_overlap_changes(project, manager, annotator):
    [pair] = make_pairs(project, 1)
    add_judgment(pair, annotator, "a")
    Pair.objects.filter(pk=pair.pk).update(taken=1, is_full=True)

    project_update(project=project, actor=manager, changes={"overlap": 2})
    assert not Pair.objects.get(pk=pair.pk).is_full
    project_update(project=project, actor=manager, changes={"overlap": 1})
    assert Pair.objects.get(pk=pair.pk).is_full


def test_it_archives_a_project_for_its_managers_alone(project, manager, annotator):
    make_pairs(project, 2)
    lease = assignment_next(project=project, annotator=annotator)

    project_archive(project=project, actor=manager)

    assert membership_get(user=annotator, project_slug=project.slug) is None
    assert membership_get(user=manager, project_slug=project.slug) is not None
    assert [p.membership.project for p in projects_for_user(user=annotator)] == []
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.EXPIRED
    assert Pair.objects.get(pk=lease.pair_id).taken == 0
    event = AuditEvent.objects.get(action="project_archived")
    assert event.details["leases_released"] == 1

    project_unarchive(project=project, actor=manager)
    assert membership_get(user=annotator, project_slug=project.slug) is not None


def test_it_deletes_only_with_the_slug_typed_and_keeps_the_audit(project, manager, annotator):
    for pair in make_pairs(project, 2):
        add_judgment(pair, annotator, "a")
    assignment_next(project=project, annotator=manager)
    assert project_contents(project=project)["judgments"] == 2

    with pytest.raises(ProjectRefused, match="confirm_slug: type the project's slug"):
        project_delete(project=project, actor=manager, confirm_slug="wrong")
    assert Project.objects.filter(pk=project.pk).exists()

    removed = project_delete(project=project, actor=manager, confirm_slug=project.slug)

    assert removed["pairs"] == 2 and removed["memberships"] == 2
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Judgment.objects.exists()
    event = AuditEvent.objects.get(action="project_deleted")
    assert (event.project, event.project_slug, event.actor_name) == (None, project.slug, "manager")
