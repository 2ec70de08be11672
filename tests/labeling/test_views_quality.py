import pytest
from django.urls import reverse

from labeling.models import Choice
from labeling.pseudonyms import annotator_pseudonym
from tests.conftest import assert_managers_only, client_for
from tests.factories import make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("quality", args=[project.slug])


@pytest.fixture
def judged(project, manager, annotator):
    for pair in make_pairs(project, 5, is_gold=True, gold_choice=Choice.A):
        add_judgment(pair, annotator, Choice.B, time_spent_ms=600)
        add_judgment(pair, manager, Choice.A, left_is_a=False)


def test_it_shows_the_quality_page_to_a_manager(project, manager, annotator, judged):
    response = client_for(manager).get(_url(project))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="quality-annotators"' in body and 'data-username="annotator"' in body
    assert 'id="plot-left"' in body and "<svg" in body
    assert 'id="alpha"' in body
    # The rules of the score are stated, with their numbers.
    assert "at least 2 others judged" in body and "under 2.0 s" in body
    # Managers see which pseudonym of the raw exports is whose, and open their judgments.
    assert annotator_pseudonym(project_id=project.pk, user_id=annotator.pk) in body
    assert reverse("quality_annotator", args=[project.slug, annotator.pk]) in body
    # Two annotators only, yet the one who answers in 0.6 s is flagged.
    flags = {a.username: a.flags for a in response.context["quality"].annotators}
    assert set(flags["annotator"]) == {"low gold accuracy", "fast"} and flags["manager"] == ()


def test_it_serves_managers_only(project):
    assert_managers_only(project, ("get", _url(project)))
