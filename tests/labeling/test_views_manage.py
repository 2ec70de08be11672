import pytest
from django.urls import reverse

from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from tests.conftest import assert_managers_only, client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def _url(project):
    return reverse("manage", args=[project.slug])


def test_it_shows_progress_and_judgments_per_annotator(project, manager, annotator):
    project.overlap = 1
    project.save()
    make_pairs(project, 4)
    for side in ("left", "tie"):
        lease = assignment_next(project=project, annotator=annotator)
        judgment_record(project=project, assignment_id=lease.pk, annotator=annotator, side=side)
    assignment_next(project=project, annotator=annotator)  # a live lease: in progress
    response = client_for(manager).get(_url(project))
    assert response.status_code == 200
    progress = response.context["counters"].progress
    assert (progress.done, progress.started, progress.not_started, progress.judgments) == (
        2,
        1,
        1,
        2,
    )
    rows = response.context["counters"].annotators
    assert rows == [{"annotator__username": "annotator", "judgments": 2, "ties": 1, "both_bad": 0}]
    body = response.content.decode()
    assert '<span class="value" id="pairs-done">2</span>' in body
    assert "<td>annotator</td><td>2</td>" in body


def test_it_offers_import_and_export(project, manager):
    body = client_for(manager).get(_url(project)).content.decode()
    assert reverse("import_upload", args=[project.slug]) in body
    assert 'enctype="multipart/form-data"' in body
    assert f"{reverse('export_download', args=[project.slug])}?aggregate=majority" in body


def test_it_serves_managers_only(project):
    assert_managers_only(project, ("get", _url(project)))
