"""Selection strategies: the pure ordering on constructed predictions, and the bulk writes of
priorities and predictions (on SQLite by default, on PostgreSQL with DATABASE_URL)."""

import random
from datetime import UTC, datetime

import pytest

from labeling.models import Pair, Project, SelectionStrategy
from labeling.services.assignment import assignment_next
from labeling.services.selection import (
    PairPrediction,
    PairUpdate,
    p_a_preferred,
    pairs_update,
    priorities_for,
    queue_order,
    score_after_reward,
    selection_apply,
    selection_set,
)
from tests.factories import ProjectFactory, UserFactory, make_pairs

# id: margin r(a) - r(b); 6 was never scored.
MARGINS = {1: 2.5, 2: -0.1, 3: 0.0, 4: -3.0, 5: 0.7, 6: None}
PREDICTIONS = [PairPrediction(pair_id, margin) for pair_id, margin in MARGINS.items()]


def test_it_serves_the_least_certain_pairs_first_under_uncertainty():
    assert queue_order(PREDICTIONS, strategy="uncertainty") == [3, 2, 5, 1, 4, 6]


def test_it_serves_the_largest_predicted_gap_first_under_large_margin():
    assert queue_order(PREDICTIONS, strategy="large-margin") == [4, 1, 5, 2, 3, 6]


def test_it_serves_oldest_first_under_fifo_and_in_a_seeded_random_order_under_random():
    shuffled = list(reversed(PREDICTIONS))
    assert queue_order(shuffled, strategy="fifo") == [1, 2, 3, 4, 5, 6]
    many = [PairPrediction(i, None) for i in range(1, 201)]
    first = queue_order(many, strategy="random", rng=random.Random(1))
    assert sorted(first) == list(range(1, 201)) and first != sorted(first)
    assert queue_order(many, strategy="random", rng=random.Random(1)) == first


def test_it_draws_the_exploration_share_of_the_queue_at_random():
    many = [PairPrediction(i, float(i)) for i in range(1, 2001)]
    best = queue_order(many, strategy="uncertainty")
    mixed = queue_order(many, strategy="uncertainty", exploration_share=0.25, rng=random.Random(3))
    assert sorted(mixed) == sorted(best)  # every pair once
    # The first 400 places: a quarter are random draws, so about 300 of the best 400 remain.
    kept = len(set(mixed[:400]) & set(best[:400]))
    assert 250 <= kept <= 350
    assert queue_order(many, strategy="uncertainty", exploration_share=0.0) == best
    everything_random = queue_order(
        many, strategy="large-margin", exploration_share=1.0, rng=random.Random(3)
    )
    assert sorted(everything_random) == sorted(best) and everything_random[:50] != best[:50]


@pytest.mark.parametrize(
    ("strategy", "share", "field"),
    [("smallest", 0.0, "selection_strategy"), ("random", 1.5, "exploration_share")],
)
def test_it_refuses_an_unknown_strategy_or_share_naming_it(strategy, share, field):
    with pytest.raises(ValueError, match=field):
        queue_order(PREDICTIONS, strategy=strategy, exploration_share=share)


def test_it_turns_an_order_into_priorities_above_the_default():
    assert priorities_for([3, 1, 2]) == {3: 3.0, 1: 2.0, 2: 1.0}
    assert p_a_preferred(0.0) == 0.5
    assert p_a_preferred(1000.0) == 1.0 and p_a_preferred(-1000.0) == 0.0


@pytest.mark.parametrize(
    ("setting", "strategy", "expected"),
    [
        ("auto", "fifo", False),
        ("auto", "uncertainty", True),
        ("always", "fifo", True),
        ("never", "large-margin", False),
    ],
)
def test_it_scores_after_a_reward_model_as_the_project_says(setting, strategy, expected):
    project = Project(score_after_reward=setting, selection_strategy=strategy)
    assert score_after_reward(project) is expected


# --- the database ------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_stores_predictions_and_priorities_and_the_lease_serves_them_in_order(project):
    project.overlap = 1
    project.selection_strategy = SelectionStrategy.UNCERTAINTY
    project.save()
    pairs = make_pairs(project, 5)
    margins = [3.0, -0.2, 1.0, 0.05, -2.0]
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    new = {p.pk: (p_a_preferred(m), m) for p, m in zip(pairs, margins, strict=True)}

    assert selection_apply(project=project, new=new, scored_at=when) == 5

    stored = {p.pk: p for p in Pair.objects.filter(project=project)}
    for pair, margin in zip(pairs, margins, strict=True):
        assert stored[pair.pk].predicted_margin == pytest.approx(margin)
        assert stored[pair.pk].predicted_p_a == pytest.approx(p_a_preferred(margin))
        assert stored[pair.pk].scored_at == when
    expected = [pairs[i].pk for i in (3, 1, 2, 4, 0)]  # |margin| ascending
    served = []
    for n in range(5):
        user = UserFactory(username=f"reader{n}")
        served.append(assignment_next(project=project, annotator=user).pair_id)
    assert served == expected


@pytest.mark.django_db
def test_it_leaves_priorities_alone_under_fifo_but_stores_the_predictions(project):
    pairs = make_pairs(project, 3, priority=5.0)
    selection_apply(project=project, new={pairs[0].pk: (0.9, 2.2)})
    rows = dict(Pair.objects.values_list("pk", "priority"))
    assert rows == {p.pk: 5.0 for p in pairs}
    assert Pair.objects.get(pk=pairs[0].pk).predicted_margin == pytest.approx(2.2)
    assert Pair.objects.filter(predicted_margin__isnull=True).count() == 2


@pytest.mark.django_db
def test_it_writes_in_batches_and_keeps_unnamed_values_and_other_projects_pairs(project):
    pairs = make_pairs(project, 10)
    other = make_pairs(ProjectFactory(), 1, priority=7.0)[0]
    when = datetime(2026, 5, 6, tzinfo=UTC)
    updates = [PairUpdate(p.pk, float(i), 0.5, 0.1 * i, when) for i, p in enumerate(pairs)]
    updates.append(PairUpdate(other.pk, 99.0, 0.1, 0.1, when))  # not this project's pair

    assert pairs_update(project=project, updates=updates, batch_rows=3) == 10
    # None keeps what is stored.
    pairs_update(project=project, updates=[PairUpdate(pairs[0].pk, priority=42.0)])

    first = Pair.objects.get(pk=pairs[0].pk)
    assert (first.priority, first.predicted_p_a, first.scored_at) == (42.0, 0.5, when)
    last = Pair.objects.get(pk=pairs[-1].pk)
    assert (last.priority, last.predicted_margin) == (9.0, pytest.approx(0.9))
    other.refresh_from_db()
    assert (other.priority, other.predicted_margin, other.scored_at) == (7.0, None, None)


@pytest.mark.django_db
def test_it_stops_between_batches_when_told(project):
    pairs = make_pairs(project, 6)
    calls = iter([True, False])
    written = pairs_update(
        project=project,
        updates=[PairUpdate(p.pk, 1.0) for p in pairs],
        batch_rows=4,
        keep_going=lambda: next(calls),
    )
    assert written == 4
    assert Pair.objects.filter(priority=1.0).count() == 4


@pytest.fixture
def eager_tasks(monkeypatch):
    """Tasks run where they are sent (the reorder's task), as a worker would run them."""
    from prefapp.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.mark.django_db
def test_it_reorders_on_a_change_of_strategy_and_back_to_fifo(
    project, eager_tasks, django_capture_on_commit_callbacks
):
    pairs = make_pairs(project, 4, priority=3.0)
    margins = {pairs[0].pk: 0.1, pairs[1].pk: 4.0, pairs[2].pk: -1.0}  # pairs[3]: unscored
    selection_apply(project=project, new={k: (p_a_preferred(m), m) for k, m in margins.items()})

    with django_capture_on_commit_callbacks(execute=True):
        selection_set(
            project=project, strategy="large-margin", exploration_share=0.0, score_after="auto"
        )
    order = list(Pair.objects.order_by("-priority", "id").values_list("pk", flat=True))
    assert order == [pairs[1].pk, pairs[2].pk, pairs[0].pk, pairs[3].pk]
    project.refresh_from_db()
    assert project.selection_strategy == "large-margin"

    with django_capture_on_commit_callbacks(execute=True):
        selection_set(project=project, strategy="fifo", exploration_share=0.0, score_after="never")
    assert set(Pair.objects.values_list("priority", flat=True)) == {0.0}


@pytest.mark.django_db
def test_it_reorders_at_once_when_the_broker_cannot_be_reached(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    from labeling import tasks

    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.reorder_queue, "delay", unreachable)
    pairs = make_pairs(project, 2)
    selection_apply(project=project, new={pairs[0].pk: (0.99, 5.0), pairs[1].pk: (0.5, 0.0)})
    with django_capture_on_commit_callbacks(execute=True):
        selection_set(
            project=project, strategy="uncertainty", exploration_share=0, score_after="auto"
        )
    first = Pair.objects.order_by("-priority", "id").first()
    assert first.pk == pairs[1].pk


@pytest.mark.django_db
def test_it_refuses_a_bad_setting_and_changes_nothing(project):
    with pytest.raises(ValueError, match="exploration_share"):
        selection_set(project=project, strategy="random", exploration_share=2.0, score_after="auto")
    with pytest.raises(ValueError, match="score_after_reward"):
        selection_set(project=project, strategy="random", exploration_share=0.0, score_after="x")
    project.refresh_from_db()
    assert (project.selection_strategy, project.exploration_share) == ("fifo", 0.0)
