"""Member services: add, change role, remove (leases released, judgments kept)."""

import pytest

from labeling.models import Assignment, AuditEvent, Judgment, Membership, Pair
from labeling.selectors_projects import members_table, user_find
from labeling.services.assignment import assignment_next
from labeling.services.members import (
    MembershipRefused,
    membership_add,
    membership_remove,
    membership_role_change,
)
from tests.factories import UserFactory, make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


def test_it_adds_a_member_found_by_username_or_email(project, manager):
    newcomer = UserFactory(username="newcomer", email="new@example.org")
    assert user_find(identifier="NEW@example.org") == newcomer
    assert user_find(identifier="Newcomer") == newcomer
    assert user_find(identifier="nobody") is None

    membership = membership_add(project=project, actor=manager, user=newcomer, role="annotator")

    assert membership.role == "annotator"
    event = AuditEvent.objects.get(action="member_added")
    assert event.details == {"user": "newcomer", "role": "annotator"} and event.actor == manager
    with pytest.raises(MembershipRefused, match="newcomer is already a member"):
        membership_add(project=project, actor=manager, user=newcomer, role="manager")
    with pytest.raises(MembershipRefused, match="role: 'boss' is not a role"):
        membership_add(project=project, actor=manager, user=UserFactory(), role="boss")


def test_it_changes_a_role_but_keeps_a_manager(project, manager, annotator):
    member = Membership.objects.get(project=project, user=annotator)
    membership_role_change(membership=member, actor=manager, role="manager")
    assert Membership.objects.get(pk=member.pk).is_manager

    own = Membership.objects.get(project=project, user=manager)
    membership_role_change(membership=own, actor=manager, role="annotator")
    with pytest.raises(MembershipRefused, match="annotator is the project's only manager"):
        membership_role_change(membership=member, actor=manager, role="annotator")
    with pytest.raises(MembershipRefused, match="only manager"):
        membership_remove(membership=member, actor=manager)
    assert AuditEvent.objects.filter(action="member_role_changed").count() == 2


def test_it_removes_an_annotator_releasing_leases_and_keeping_judgments(
    project, manager, annotator
):
    judged, _other = make_pairs(project, 2)
    add_judgment(judged, annotator, "a")
    lease = assignment_next(project=project, annotator=annotator)
    assert lease is not None

    released = membership_remove(
        membership=Membership.objects.get(project=project, user=annotator), actor=manager
    )

    assert released == 1
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.EXPIRED
    assert Pair.objects.get(pk=lease.pair_id).taken == 0
    assert Judgment.objects.filter(annotator=annotator).count() == 1
    assert not Membership.objects.filter(project=project, user=annotator).exists()
    event = AuditEvent.objects.get(action="member_removed")
    assert event.details["leases_released"] == 1


def test_it_lists_every_member_with_their_work(project, manager, annotator):
    pairs = make_pairs(project, 4)
    add_judgment(pairs[0], annotator, "a")
    add_judgment(pairs[1], annotator, "b")

    rows = {row.membership.user.username: row for row in members_table(project=project)}

    assert (rows["annotator"].judgments, rows["annotator"].percent) == (2, 50)
    assert rows["annotator"].last_active is not None
    assert (rows["manager"].judgments, rows["manager"].last_active) == (0, None)
