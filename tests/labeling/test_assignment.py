from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Pair
from labeling.services.assignment import (
    assignment_extend,
    assignment_next,
    assignment_skip,
    leases_reclaim_expired,
)
from labeling.services.judgment import judgment_record
from tests.factories import CandidateFactory, MembershipFactory, PromptFactory, make_pairs

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


def _judge(project, annotator):
    lease = assignment_next(project=project, annotator=annotator)
    if lease is not None:
        judgment_record(project=project, assignment_id=lease.pk, annotator=annotator, side="left")
    return lease


def test_it_leases_no_more_than_the_annotators_cap(project, annotator):
    project.judgments_per_annotator = 2
    project.save()
    make_pairs(project, 4)
    assert _judge(project, annotator) and _judge(project, annotator)
    assert assignment_next(project=project, annotator=annotator) is None
    assert Assignment.objects.filter(annotator=annotator).count() == 2
    # Someone else still gets work.
    assert assignment_next(project=project, annotator=MembershipFactory(project=project).user)


def test_it_still_serves_the_live_lease_at_the_last_judgment_of_a_cap(project, annotator):
    project.judgments_per_annotator = 1
    project.save()
    make_pairs(project, 2)
    first = assignment_next(project=project, annotator=annotator)
    assert assignment_next(project=project, annotator=annotator).pk == first.pk


def _prompt_with_pairs(project, count, priority):
    prompt = PromptFactory(project=project)
    answers = [CandidateFactory(prompt=prompt) for _ in range(count + 1)]
    for a, b in zip(answers, answers[1:], strict=False):
        Pair.objects.create(
            project=project, prompt=prompt, candidate_a=a, candidate_b=b, priority=priority
        )
    return prompt


@pytest.mark.parametrize("avoid", [True, False])
def test_it_serves_another_prompt_next_when_there_is_one(project, annotator, avoid):
    project.avoid_repeat_prompt = avoid
    project.save()
    busy = _prompt_with_pairs(project, 3, priority=5)  # first in the queue, three pairs
    other = _prompt_with_pairs(project, 1, priority=1)
    served = [_judge(project, annotator).pair.prompt_id for _ in range(4)]
    if avoid:
        # The other prompt comes in between; then only the busy prompt is left, served again.
        assert served == [busy.pk, other.pk, busy.pk, busy.pk]
    else:
        assert served == [busy.pk, busy.pk, busy.pk, other.pk]
    assert _judge(project, annotator) is None


def test_it_extends_only_a_live_lease_of_ones_own(project, annotator):
    project.lease_minutes = 10
    project.save()
    make_pairs(project, 2)
    lease = assignment_next(project=project, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() + timedelta(minutes=1))
    expires = assignment_extend(project=project, annotator=annotator, assignment_id=lease.pk)
    assert expires is not None and expires > timezone.now() + timedelta(minutes=9)
    assert Assignment.objects.get(pk=lease.pk).expires_at == expires
    other = MembershipFactory(project=project).user
    assert assignment_extend(project=project, annotator=other, assignment_id=lease.pk) is None
    # A lease that ran out stays out: its slot may be someone else's by now.
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert assignment_extend(project=project, annotator=annotator, assignment_id=lease.pk) is None
    assert Pair.objects.get(pk=lease.pair_id).taken == 1
