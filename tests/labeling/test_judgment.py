from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Choice, Judgment, Pair, Project
from labeling.services.assignment import assignment_next
from labeling.services.judgment import (
    UNDO_WINDOW,
    Answer,
    JudgmentRefused,
    answer_to_store,
    judgment_record,
    judgment_undo,
)
from tests.factories import MembershipFactory, make_pairs

pytestmark = pytest.mark.django_db


def test_it_maps_screen_sides_to_candidates(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    recorded = judgment_record(
        project=project, assignment_id=lease.pk, annotator=annotator, side="left"
    )
    assert recorded.judgment.choice == (Choice.A if lease.left_is_a else Choice.B)
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.DONE
    assert Pair.objects.get().judgment_count == 1


def test_it_stores_one_judgment_when_submitted_twice(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    first = judgment_record(
        project=project, assignment_id=lease.pk, annotator=annotator, side="right"
    )
    second = judgment_record(
        project=project, assignment_id=lease.pk, annotator=annotator, side="left"
    )
    assert (first.created, second.created) == (True, False)
    assert second.judgment.pk == first.judgment.pk
    assert Judgment.objects.count() == 1
    assert Pair.objects.get().judgment_count == 1


def test_it_refuses_an_expired_lease_and_writes_nothing(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(JudgmentRefused, match="ran out"):
        judgment_record(project=project, assignment_id=lease.pk, annotator=annotator, side="left")
    assert Judgment.objects.count() == 0


def test_it_refuses_someone_elses_lease(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    other = MembershipFactory(project=project).user
    with pytest.raises(JudgmentRefused, match="not assigned to you"):
        judgment_record(project=project, assignment_id=lease.pk, annotator=other, side="left")
    assert Judgment.objects.count() == 0


def test_it_refuses_ties_when_the_project_has_none(project, annotator):
    project.allow_tie = False
    project.save()
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    with pytest.raises(JudgmentRefused, match="ties"):
        judgment_record(project=project, assignment_id=lease.pk, annotator=annotator, side="tie")
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED


def _strength_project(project):
    project.ask_strength = project.ask_rationale = True
    project.save()
    return project


@pytest.mark.parametrize("side", ["tie", "both_bad"])
def test_it_never_stores_a_strength_with_a_tie_or_both_bad(project, annotator, side):
    _strength_project(project)
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    recorded = judgment_record(
        project=project,
        assignment_id=lease.pk,
        annotator=annotator,
        side=side,
        strength=1,
        rationale=" same ",
    )
    stored = Judgment.objects.get(pk=recorded.judgment.pk)
    assert (stored.choice, stored.strength, stored.rationale) == (side, None, "same")


@pytest.mark.parametrize(
    ("flags", "side", "strength", "rationale", "expected"),
    [
        ({}, "left", 3, " why ", Answer(side="left", strength=None, rationale="")),
        ({"ask_strength": True}, "right", 3, "", Answer(side="right", strength=3, rationale="")),
        ({"ask_strength": True}, "tie", 3, "", Answer(side="tie", strength=None, rationale="")),
        (
            {"ask_strength": True, "ask_rationale": True},
            "both_bad",
            1,
            " both wrong ",
            Answer(side="both_bad", strength=None, rationale="both wrong"),
        ),
    ],
)
def test_it_keeps_what_the_project_asks_for(flags, side, strength, rationale, expected):
    project = Project(**flags)
    assert (
        answer_to_store(project=project, side=side, strength=strength, rationale=rationale)
        == expected
    )


@pytest.mark.parametrize(
    ("flags", "side", "strength", "message"),
    [
        ({"allow_tie": False}, "tie", None, "ties"),
        ({"allow_both_bad": False}, "both_bad", None, "both bad"),
        ({}, "sideways", None, "Unknown answer"),
        ({"ask_strength": True}, "left", 4, "Strength must be"),
    ],
)
def test_it_refuses_answers_the_project_does_not_allow(flags, side, strength, message):
    with pytest.raises(JudgmentRefused, match=message):
        answer_to_store(project=Project(**flags), side=side, strength=strength, rationale="")


def test_it_refuses_a_lease_of_another_project_and_writes_nothing(project, annotator):
    make_pairs(project, 1)
    lease = assignment_next(project=project, annotator=annotator)
    other = MembershipFactory(user=annotator).project
    with pytest.raises(JudgmentRefused, match="not assigned to you"):
        judgment_record(project=other, assignment_id=lease.pk, annotator=annotator, side="left")
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.LEASED


def _judged(project, annotator, side="left"):
    lease = assignment_next(project=project, annotator=annotator)
    return judgment_record(
        project=project, assignment_id=lease.pk, annotator=annotator, side=side
    ).judgment


def test_it_takes_the_last_judgment_back_and_serves_its_pair_again(project, annotator):
    project.overlap = 1
    project.save()
    make_pairs(project, 3)
    judgment = _judged(project, annotator)
    following = assignment_next(project=project, annotator=annotator)  # the next pair's lease
    reopened = judgment_undo(project=project, annotator=annotator, judgment_id=judgment.pk)
    assert reopened.pk == judgment.assignment_id and reopened.status == Assignment.Status.LEASED
    assert not Judgment.objects.exists()
    pair = Pair.objects.get(pk=judgment.pair_id)
    # The lease holds the slot the judgment held: the pair stays full for others.
    assert (pair.judgment_count, pair.taken, pair.is_full) == (0, 1, True)
    # The undone pair comes first, then the one leased meanwhile.
    again = assignment_next(project=project, annotator=annotator)
    assert again.pk == reopened.pk
    judgment_record(project=project, assignment_id=again.pk, annotator=annotator, side="tie")
    assert assignment_next(project=project, annotator=annotator).pk == following.pk
    pair.refresh_from_db()
    assert (pair.judgment_count, pair.taken) == (1, 1)
    assert Judgment.objects.get().choice == Choice.TIE


def test_it_takes_back_only_ones_own_last_judgment_within_the_window(project, annotator):
    make_pairs(project, 3)
    first = _judged(project, annotator)
    second = _judged(project, annotator)
    with pytest.raises(JudgmentRefused, match="last judgment"):
        judgment_undo(project=project, annotator=annotator, judgment_id=first.pk)
    other = MembershipFactory(project=project).user
    with pytest.raises(JudgmentRefused, match="last judgment"):
        judgment_undo(project=project, annotator=other, judgment_id=second.pk)
    Judgment.objects.filter(pk=second.pk).update(
        created_at=timezone.now() - UNDO_WINDOW - timedelta(seconds=1)
    )
    with pytest.raises(JudgmentRefused, match="minutes after"):
        judgment_undo(project=project, annotator=annotator, judgment_id=second.pk)
    assert Judgment.objects.count() == 2
    assert Pair.objects.get(pk=second.pair_id).judgment_count == 1
