from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Pair
from labeling.services.assignment import (
    assignment_next,
    assignment_skip,
    leases_reclaim_expired,
)
from tests.factories import MembershipFactory, make_pairs

pytestmark = pytest.mark.django_db


def test_it_leases_highest_priority_then_oldest(project, annotator):
    low, high_old, high_new = make_pairs(project, 3)
    Pair.objects.filter(pk__in=[high_old.pk, high_new.pk]).update(priority=5)
    assert assignment_next(project=project, annotator=annotator).pair_id == high_old.pk


def test_it_returns_the_live_lease_again(project, annotator):
    make_pairs(project, 3)
    first = assignment_next(project=project, annotator=annotator)
    assert assignment_next(project=project, annotator=annotator).pk == first.pk


def test_it_never_exceeds_overlap(project):
    project.overlap = 2
    project.save()
    make_pairs(project, 1)
    users = [MembershipFactory(project=project).user for _ in range(3)]
    got = [assignment_next(project=project, annotator=u) for u in users]
    assert [a is not None for a in got] == [True, True, False]
    assert Pair.objects.get().is_full


def test_it_never_offers_a_skipped_pair_again(project, annotator):
    make_pairs(project, 1)
    assignment_skip(assignment=assignment_next(project=project, annotator=annotator))
    assert assignment_next(project=project, annotator=annotator) is None
    pair = Pair.objects.get()
    assert (pair.taken, pair.is_full) == (0, False)


def test_it_returns_expired_leases_to_the_pool(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = MembershipFactory(project=project).user
    # The pool looked full; asking finds the expired lease, reclaims it and hands the pair out.
    again = assignment_next(project=project, annotator=other)
    assert again is not None and again.pair_id == lease.pair_id
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.EXPIRED
    assert Pair.objects.get().taken == 1


def test_it_reclaims_only_expired_leases(project, annotator):
    make_pairs(project, 2)
    lease = assignment_next(project=project, annotator=annotator)
    assert leases_reclaim_expired() == 0
    assert leases_reclaim_expired(now=lease.expires_at + timedelta(seconds=1)) == 1


def test_it_mixes_in_gold_pairs_at_the_gold_rate(project, annotator):
    project.gold_rate = 1.0
    project.save()
    make_pairs(project, 2)
    (gold,) = make_pairs(project, 1, is_gold=True, gold_choice="a")
    assert assignment_next(project=project, annotator=annotator).pair_id == gold.pk
