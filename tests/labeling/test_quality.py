"""Quality numbers on a constructed crowd whose accuracy and position bias are known."""

import krippendorff
import numpy as np
import pytest

from labeling.models import Choice, Membership
from labeling.selectors_export import preference_rows
from labeling.selectors_quality import (
    FAST_FLOOR_SECONDS,
    MIN_COMPARED,
    MIN_GOLD,
    MIN_TIMED,
    exclusion_preview,
    project_quality,
)
from labeling.services.quality import ExclusionRefused, annotators_exclude_below
from tests.factories import MembershipFactory, UserFactory, make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db
GOLD, ORDINARY = 20, 40


def _left_choice(left_is_a: bool) -> str:
    return Choice.A if left_is_a else Choice.B


@pytest.fixture
def crowd(project):
    """Every pair's right answer is a. Sides alternate, so a fair annotator picks left half
    the time. Three careful annotators are always right; `noisy` is wrong on 2 pairs in 5;
    `lefty` always picks the left side (so is right half the time) and clicks fast."""
    gold = make_pairs(project, GOLD, is_gold=True, gold_choice=Choice.A)
    ordinary = make_pairs(project, ORDINARY)
    names = ["careful1", "careful2", "careful3", "noisy", "lefty"]
    users = {
        n: MembershipFactory(project=project, user=UserFactory(username=n)).user for n in names
    }
    for i, pair in enumerate(gold + ordinary):
        left_is_a = i % 2 == 0
        for name in names[:3]:
            add_judgment(pair, users[name], Choice.A, left_is_a=left_is_a, time_spent_ms=5000)
        add_judgment(
            pair,
            users["noisy"],
            Choice.B if i % 5 in (0, 1) else Choice.A,
            left_is_a=left_is_a,
            time_spent_ms=6000,
        )
        add_judgment(
            pair, users["lefty"], _left_choice(left_is_a), left_is_a=left_is_a, time_spent_ms=400
        )
    return users


def test_it_measures_gold_accuracy_and_position_bias(project, crowd):
    by_name = {a.username: a for a in project_quality(project=project).annotators}
    assert by_name["careful1"].gold_accuracy == 1.0
    assert by_name["noisy"].gold_accuracy == pytest.approx(0.6)
    assert by_name["lefty"].gold_accuracy == pytest.approx(0.5)
    assert by_name["careful2"].left_rate == pytest.approx(0.5)
    assert by_name["lefty"].left_rate == 1.0
    assert by_name["careful3"].median_seconds == 5.0
    assert by_name["lefty"].median_seconds == 0.4
    assert by_name["careful1"].tie_rate == 0.0
    # The others' majority is always a, so agreement is accuracy on every pair.
    assert by_name["careful1"].agreement == 1.0
    assert by_name["noisy"].agreement == pytest.approx(0.6)
    assert by_name["lefty"].agreement == pytest.approx(0.5)


def test_it_flags_the_annotators_that_stand_out(project, crowd):
    flags = {a.username: set(a.flags) for a in project_quality(project=project).annotators}
    assert flags["careful1"] == flags["careful2"] == flags["careful3"] == set()
    assert flags["noisy"] == {"low gold accuracy", "low agreement"}
    assert flags["lefty"] == {"low gold accuracy", "low agreement", "prefers left", "fast"}


def test_it_computes_krippendorffs_alpha_as_the_library_does(project, crowd):
    report = project_quality(project=project)
    pairs = GOLD + ORDINARY
    answers = np.array(
        [
            [0] * pairs,
            [0] * pairs,
            [0] * pairs,
            [1 if i % 5 in (0, 1) else 0 for i in range(pairs)],
            [0 if i % 2 == 0 else 1 for i in range(pairs)],
        ],
        dtype=float,
    )
    expected = krippendorff.alpha(reliability_data=answers, level_of_measurement="nominal")
    assert report.alpha == pytest.approx(expected)
    assert report.alpha < 0.5  # one in five annotators answers at random
    assert report.trend[-1].alpha == pytest.approx(expected)
    assert report.trend[-1].judgments == 5 * pairs


def test_it_excludes_annotators_below_a_threshold_from_exports_and_keeps_their_judgments(
    project, crowd
):
    assert sum(1 for _ in preference_rows(project=project)) == 5 * (GOLD + ORDINARY)
    assert annotators_exclude_below(project=project, threshold=0.7) == ["lefty", "noisy"]
    excluded = Membership.objects.filter(project=project, excluded_from_exports=True)
    assert {m.user.username for m in excluded} == {"lefty", "noisy"}
    assert sum(1 for _ in preference_rows(project=project)) == 3 * (GOLD + ORDINARY)
    assert project_quality(project=project).judgments == 5 * (GOLD + ORDINARY)
    # Running it again excludes nobody new.
    assert annotators_exclude_below(project=project, threshold=0.7) == []


def test_it_refuses_to_exclude_every_annotator(project):
    wrong = MembershipFactory(project=project).user
    for pair in make_pairs(project, MIN_GOLD, is_gold=True, gold_choice=Choice.A):
        add_judgment(pair, wrong, Choice.B)
    assert exclusion_preview(project=project, threshold=0.5).refused
    with pytest.raises(ExclusionRefused, match="would exclude every annotator"):
        annotators_exclude_below(project=project, threshold=0.5)
    assert not Membership.objects.filter(excluded_from_exports=True).exists()


def test_it_compares_a_judgment_only_with_at_least_two_others(project):
    """Two annotators who always disagree: neither has an agreement score."""
    first, second = (MembershipFactory(project=project).user for _ in range(2))
    for pair in make_pairs(project, MIN_COMPARED * 2):
        add_judgment(pair, first, Choice.A)
        add_judgment(pair, second, Choice.B)
    report = project_quality(project=project)
    assert [(a.compared, a.agreement, a.score) for a in report.annotators] == [(0, None, None)] * 2


def test_it_flags_a_fast_annotator_even_alone(project):
    quick = MembershipFactory(project=project).user
    for pair in make_pairs(project, MIN_TIMED):
        add_judgment(pair, quick, Choice.A, time_spent_ms=int(FAST_FLOOR_SECONDS * 1000) - 1)
    assert project_quality(project=project).annotators[0].flags == ("fast",)


def test_it_reports_nothing_for_a_project_without_judgments(project):
    report = project_quality(project=project)
    assert (report.annotators, report.alpha, report.trend) == ([], None, [])
