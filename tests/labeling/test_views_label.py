import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Assignment
from labeling.services.assignment import assignment_next
from labeling.services.judgment import judgment_record
from tests.conftest import client_for
from tests.factories import (
    CandidateFactory,
    MembershipFactory,
    PromptFactory,
    UserFactory,
    make_pairs,
)

pytestmark = pytest.mark.django_db

HOSTILE = '<script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=2">'


def _url(project):
    return reverse("label", args=[project.slug])


def test_it_shows_the_leased_pair_with_sides_as_leased(project, annotator):
    pair = make_pairs(project, 1)[0]
    response = client_for(annotator).get(_url(project))
    assert response.status_code == 200
    lease = Assignment.objects.get(annotator=annotator)
    body = response.content.decode()
    left, right = (
        (pair.candidate_a, pair.candidate_b)
        if lease.left_is_a
        else (pair.candidate_b, pair.candidate_a)
    )
    assert body.index(left.text) < body.index(right.text)
    assert pair.prompt.messages[0]["content"] in body
    assert f'name="assignment_id" value="{lease.pk}"' in body


def test_it_serves_the_same_lease_on_reload(project, annotator):
    make_pairs(project, 3)
    client = client_for(annotator)
    client.get(_url(project))
    client.get(_url(project))
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_it_renders_model_text_inert(project, annotator):
    prompt = PromptFactory(project=project)
    a = CandidateFactory(prompt=prompt, text=HOSTILE)
    b = CandidateFactory(prompt=prompt, text="```python\nprint('hi')\n```")
    project.pairs.create(prompt=prompt, candidate_a=a, candidate_b=b)
    body = client_for(annotator).get(_url(project)).content.decode()
    assert "<script>window.__pwned" not in body
    assert "<img" not in body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body
    assert '<pre><code class="language-python">' in body


def test_it_says_when_there_is_no_more_work(project, annotator):
    response = client_for(annotator).get(_url(project))
    assert response.status_code == 200
    assert 'id="no-more-work"' in response.content.decode()
    assert 'id="judgment-form"' not in response.content.decode()


def test_it_counts_my_judgments_and_folds_the_instructions_once_i_started(project, annotator):
    make_pairs(project, 2)
    client = client_for(annotator)
    first = client.get(_url(project)).content.decode()
    assert '<details class="instructions card" id="instructions" open>' in first
    lease = assignment_next(project=project, annotator=annotator)
    judgment_record(project=project, assignment_id=lease.pk, annotator=annotator, side="left")
    body = client.get(_url(project)).content.decode()
    assert '<strong id="judged-count">1</strong> judged by you' in body
    assert '<details class="instructions card" id="instructions">' in body


def test_it_answers_htmx_with_the_work_partial_only(project, annotator):
    make_pairs(project, 1)
    response = client_for(annotator).get(_url(project), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'id="judgment-form"' in body
    assert "<html" not in body


def test_it_offers_only_the_answers_the_project_allows(project, annotator):
    project.allow_tie = False
    project.ask_strength = True
    project.save()
    make_pairs(project, 1)
    body = client_for(annotator).get(_url(project)).content.decode()
    assert 'value="tie"' not in body
    assert 'value="both_bad"' in body
    assert 'name="strength"' in body
    assert 'name="rationale"' not in body


def test_it_redirects_anonymous_to_login(project):
    response = Client().get(_url(project))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_hides_the_project_from_an_outsider(project, outsider):
    make_pairs(project, 1)
    assert client_for(outsider).get(_url(project)).status_code == 404
    assert not Assignment.objects.exists()


def test_it_answers_404_for_an_unknown_project(annotator):
    assert client_for(annotator).get(reverse("label", args=["no-such"])).status_code == 404


def test_it_refuses_post(project, annotator):
    assert client_for(annotator).post(_url(project)).status_code == 405


def test_it_never_names_other_annotators(project, annotator):
    make_pairs(project, 2)
    project.overlap = 2
    project.save()
    other = MembershipFactory(project=project, user=UserFactory(username="someone-else")).user
    lease = assignment_next(project=project, annotator=other)
    judgment_record(project=project, assignment_id=lease.pk, annotator=other, side="left")
    body = client_for(annotator).get(_url(project)).content.decode()
    assert "someone-else" not in body


def test_it_shows_k_of_n_and_the_open_pairs_and_says_when_the_cap_is_reached(project, annotator):
    project.judgments_per_annotator = 1
    project.save()
    make_pairs(project, 3)
    client = client_for(annotator)
    body = client.get(_url(project)).content.decode()
    assert '<strong id="judged-count">0</strong> of <strong id="judgment-target">1</strong>' in body
    assert '<p class="muted queue-line" id="open-pairs"><strong>2</strong> pairs' in body
    lease = Assignment.objects.get(annotator=annotator)
    client.post(
        reverse("label_submit", args=[project.slug]), {"assignment_id": lease.pk, "side": "left"}
    )
    body = client.get(_url(project)).content.decode()
    assert "You gave all 1 judgments asked of you" in body
    assert 'id="judgment-form"' not in body
