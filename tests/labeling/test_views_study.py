"""The study link (views_crowd.study_enter) and a participant's completion page (study_done)."""

import secrets

import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Participant, Platform
from labeling.services.participants import crowd_study_save
from tests.conftest import client_for
from tests.factories import CrowdStudyFactory, make_pairs

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PID = "60a1b2c3d4e5f6a7b8c9d0e1"


def _link(study, pid=PID, **more):
    query = {"PROLIFIC_PID": pid, "STUDY_ID": "s1", "SESSION_ID": "x1", **more}
    return reverse("study_enter", args=[study.token]), query


def _submit(client, project, response):
    content = response.content.decode()
    assignment_id = content.split('name="assignment_id" value="')[1].split('"')[0]
    return client.post(
        reverse("label_submit", args=[project.slug]),
        {"assignment_id": assignment_id, "side": "left"},
        headers=HTMX,
    )


def test_it_logs_a_participant_in_and_counts_their_batch_to_the_code(project):
    make_pairs(project, 5)
    study = CrowdStudyFactory(
        project=project,
        batch_size=2,
        completion_url="https://app.prolific.com/submissions/complete?cc={code}",
    )
    client = Client(enforce_csrf_checks=False)
    response = client.get(*_link(study))
    assert response.status_code == 302 and response.url == reverse("label", args=[project.slug])
    page = client.get(response.url)
    assert page.status_code == 200
    assert b'<strong id="judgment-target">2</strong>' in page.content
    assert PID.encode() not in page.content  # the platform id never reaches a page of theirs
    answer = _submit(client, project, page)
    assert answer.status_code == 200 and b'id="judged-count">1</strong>' in answer.content
    finished = _submit(client, project, answer)
    assert finished["HX-Redirect"] == reverse("study_done", args=[project.slug])
    done = client.get(finished["HX-Redirect"])
    assert b"DONE1234" in done.content and b"You finished your batch" in done.content
    assert b'href="https://app.prolific.com/submissions/complete?cc=DONE1234"' in done.content
    # Coming back through the link: the same account, straight to the code.
    again = Client().get(*_link(study))
    assert again.url == reverse("study_done", args=[project.slug])
    assert Participant.objects.get().status == Participant.Status.COMPLETED


def test_it_says_why_when_the_project_ran_out_of_work(project):
    make_pairs(project, 1)
    study = CrowdStudyFactory(project=project, batch_size=3)
    client = Client()
    page = client.get(client.get(*_link(study)).url)
    finished = _submit(client, project, page)
    done = client.get(finished["HX-Redirect"])
    assert b"no more work in this study" in done.content and b"DONE1234" in done.content
    assert b"Enter this code where the study asks for it" in done.content


def test_it_explains_a_link_it_refuses(project):
    study = CrowdStudyFactory(project=project)
    response = Client().get(*_link(study, pid=""))
    assert response.status_code == 400
    assert b"no valid participant id (URL parameter PROLIFIC_PID)" in response.content
    assert not Participant.objects.exists()
    assert Client().get(reverse("study_enter", args=["no-such-token"])).status_code == 404


def test_it_slows_one_address_that_enters_many_times(project, settings):
    settings.PREFAPP_STUDY_ENTRY_RATE = "2/h"
    study = CrowdStudyFactory(project=project)
    # An address of its own: counts live in the cache for the hour, whatever ran before.
    address = {"REMOTE_ADDR": f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"}
    for pid in ("a" * 24, "b" * 24):
        assert Client().get(*_link(study, pid=pid), **address).status_code == 302
    refused = Client().get(*_link(study, pid="c" * 24), **address)
    assert refused.status_code == 429 and b"Too many study entries" in refused.content
    assert Participant.objects.count() == 2
    elsewhere = f"198.19.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    assert Client().get(*_link(study, pid="d" * 24), REMOTE_ADDR=elsewhere).status_code == 302


def test_it_opens_mturk_in_a_window_of_its_own_and_previews_without_an_account(project):
    study = crowd_study_save(project=project, platform=Platform.MTURK)
    url = reverse("study_enter", args=[study.token])
    query = {
        "workerId": "A1B2C3",
        "hitId": "H1",
        "assignmentId": "AS1",
        "turkSubmitTo": "https://www.mturk.com",
    }
    framed = Client().get(url, query, headers={"Sec-Fetch-Dest": "iframe"})
    assert framed.status_code == 200 and b'target="_blank"' in framed.content
    assert "X-Frame-Options" not in framed
    assert "frame-ancestors https://www.mturk.com" in framed["Content-Security-Policy"]
    preview = Client().get(url, {**query, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"})
    assert b"Accept the task to start" in preview.content
    assert not Participant.objects.exists()


def test_it_posts_a_finished_mturk_assignment_back(project):
    study = crowd_study_save(project=project, platform=Platform.MTURK, batch_size=1)
    make_pairs(project, 2)
    query = {"workerId": "A1B2C3", "hitId": "H1", "assignmentId": "AS1"}
    query["turkSubmitTo"] = "https://workersandbox.mturk.com"
    client = Client()
    page = client.get(client.get(reverse("study_enter", args=[study.token]), query).url)
    done = client.get(_submit(client, project, page)["HX-Redirect"])
    content = done.content.decode()
    assert 'action="https://workersandbox.mturk.com/mturk/externalSubmit"' in content
    assert 'name="assignmentId" value="AS1"' in content
    assert "form-action 'self' https://www.mturk.com" in done["Content-Security-Policy"]


def test_it_keeps_the_done_page_to_the_participant(project, annotator, outsider):
    study = CrowdStudyFactory(project=project)
    url = reverse("study_done", args=[project.slug])
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(annotator).get(url).status_code == 404  # a member, but no participant
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("login"))
    client = Client()
    client.get(*_link(study))
    assert client.get(url).url == reverse("label", args=[project.slug])  # still working
    # A participant's account reaches no other project.
    assert (
        client.get(reverse("label", args=[outsider.membership_set.get().project.slug])).status_code
        == 404
    )
