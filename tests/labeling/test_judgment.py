from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Choice, Judgment, Pair
from labeling.services.assignment import assignment_next
from labeling.services.judgment import JudgmentRefused, judgment_record
from tests.factories import MembershipFactory, make_pairs

pytestmark = pytest.mark.django_db


def test_it_maps_screen_sides_to_candidates(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    recorded = judgment_record(assignment_id=lease.pk, annotator=annotator, side="left")
    assert recorded.judgment.choice == (Choice.A if lease.left_is_a else Choice.B)
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.DONE
    assert Pair.objects.get().judgment_count == 1


def test_it_stores_one_judgment_when_submitted_twice(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    first = judgment_record(assignment_id=lease.pk, annotator=annotator, side="right")
    second = judgment_record(assignment_id=lease.pk, annotator=annotator, side="left")
    assert (first.created, second.created) == (True, False)
    assert second.judgment.pk == first.judgment.pk
    assert Judgment.objects.count() == 1
    assert Pair.objects.get().judgment_count == 1


def test_it_refuses_an_expired_lease_and_writes_nothing(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(JudgmentRefused, match="ran out"):
        judgment_record(assignment_id=lease.pk, annotator=annotator, side="left")
    assert Judgment.objects.count() == 0


def test_it_refuses_someone_elses_lease(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    other = MembershipFactory(project=project).user
    with pytest.raises(JudgmentRefused, match="not assigned to you"):
        judgment_record(assignment_id=lease.pk, annotator=other, side="left")
    assert Judgment.objects.count() == 0


def test_it_refuses_ties_when_the_project_has_none(project, annotator):
    project.allow_tie = False
    project.save()
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    with pytest.raises(JudgmentRefused, match="ties"):
        judgment_record(assignment_id=lease.pk, annotator=annotator, side="tie")
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED
