import pytest
from django.urls import reverse

from tests.conftest import assert_managers_only, client_for
from tests.factories import MembershipFactory, make_pairs
from tests.labeling.datafiles import add_judgment

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("manage_progress", args=[project.slug])


def test_it_counts_judgments_toward_the_overlap_target(project, manager):
    """3 annotators wanted on 4 pairs (12 judgments); 7 made, no pair done yet but one."""
    project.overlap = 3
    project.save()
    pairs = make_pairs(project, 4)
    users = [MembershipFactory(project=project).user for _ in range(3)]
    for pair, count in zip(pairs, (3, 2, 2, 0), strict=True):
        for user in users[:count]:
            add_judgment(pair, user, "a")
    response = client_for(manager).get(_url(project), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    progress = response.context["counters"].progress
    assert (progress.counted, progress.wanted, progress.percent) == (7, 12, 58)
    assert (progress.done, progress.started, progress.not_started) == (1, 2, 1)
    body = response.content.decode()
    # The partial alone, polling itself.
    assert "<html" not in body
    assert f'hx-get="{_url(project)}"' in body and 'hx-trigger="every 10s"' in body
    assert '<progress max="100" value="58"' in body and "7 of 12 judgments" in body
    assert "pairs started, short of 3" in body


def test_it_is_included_by_the_manage_page(project, manager):
    body = client_for(manager).get(reverse("manage", args=[project.slug])).content.decode()
    assert 'id="progress"' in body and f'hx-get="{_url(project)}"' in body


def test_it_serves_managers_only(project):
    assert_managers_only(project, ("get", _url(project)))
