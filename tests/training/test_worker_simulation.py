"""Simulated annotators started from the rounds page label through a real Celery worker."""

import pytest
from django.urls import reverse

from labeling.models import Judgment
from tests.conftest import client_for
from tests.labeling.test_simulation import oracle_choice, toy_pairs
from tests.training.conftest import wait_until

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_it_labels_the_budget_through_the_worker(project, manager, celery_worker):
    toy_pairs(project, 12)
    response = client_for(manager).post(
        reverse("training_simulate", args=[project.slug]),
        {
            "oracle": "training.ml.toy:oracle_prefers",
            "annotators": "2",
            "noise": "0",
            "budget": "7",
        },
    )
    assert response.status_code == 302

    judgments = Judgment.objects.filter(project=project)
    wait_until(lambda: judgments.count() == 7, timeout=60, what="7 simulated judgments")
    assert {j.source for j in judgments} == {Judgment.Source.SIMULATED}
    assert all(j.choice == oracle_choice(j) for j in judgments.select_related("pair__prompt"))
    assert judgments.values("annotator").distinct().count() == 2
