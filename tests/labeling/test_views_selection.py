import pytest
from django.urls import reverse

from labeling.models import Pair
from labeling.services.selection import p_a_preferred, selection_apply
from tests.conftest import assert_managers_only, client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db

GOOD = {
    "selection_strategy": "uncertainty",
    "exploration_share": "0.2",
    "score_after_reward": "always",
}


def _url(project):
    return reverse("selection_update", args=[project.slug])


def test_it_saves_the_strategy_and_reorders_the_queue(
    project, manager, monkeypatch, django_capture_on_commit_callbacks
):
    from prefapp.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the reorder task, run here
    pairs = make_pairs(project, 3)
    margins = {pairs[0].pk: 3.0, pairs[1].pk: 0.1, pairs[2].pk: -1.0}
    selection_apply(project=project, new={k: (p_a_preferred(m), m) for k, m in margins.items()})

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(manager).post(_url(project), {**GOOD, "exploration_share": "0"})

    assert response.status_code == 302 and response.url == reverse("manage", args=[project.slug])
    project.refresh_from_db()
    assert (project.selection_strategy, project.score_after_reward) == ("uncertainty", "always")
    order = list(Pair.objects.order_by("-priority", "id").values_list("pk", flat=True))
    assert order == [pairs[1].pk, pairs[2].pk, pairs[0].pk]


def test_it_refuses_a_share_outside_0_to_1_and_changes_nothing(project, manager):
    client = client_for(manager)
    response = client.post(_url(project), {**GOOD, "exploration_share": "1.5"}, follow=True)
    assert "exploration_share" in response.content.decode()
    project.refresh_from_db()
    assert (project.selection_strategy, project.exploration_share) == ("fifo", 0.0)


def test_it_shows_the_strategy_last_scoring_and_margin_histogram(project, manager):
    pairs = make_pairs(project, 4)
    page = client_for(manager).get(reverse("manage", args=[project.slug])).content.decode()
    assert "have not been scored by a reward model yet" in page
    assert 'id="margin-histogram"' not in page

    margins = [0.2, 0.3, -5.0, 2.5]
    selection_apply(
        project=project,
        new={p.pk: (p_a_preferred(m), m) for p, m in zip(pairs, margins, strict=True)},
    )
    page = client_for(manager).get(reverse("manage", args=[project.slug])).content.decode()
    assert 'id="margin-histogram"' in page
    assert "<title>0 to 0.5: 2 pairs</title>" in page
    assert "<title>&lt; -4: 1 pairs</title>" in page
    assert "4 of 4 open pairs have a prediction" in page
    assert 'name="selection_strategy"' in page


def test_it_is_for_the_projects_managers_only(project):
    assert_managers_only(project, ("post", _url(project), GOOD))
    project.refresh_from_db()
    assert project.selection_strategy == "fifo"


def test_it_needs_the_csrf_token(project, manager):
    response = client_for(manager, enforce_csrf_checks=True).post(_url(project), GOOD)
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.selection_strategy == "fifo"
