"""Many annotators label through the JSON API at once, retrying with Idempotency-Keys: the
stored data keeps the labelling invariants and every retry got the first answer."""

import pytest
from django.db import connection

from api.models import IdempotentResponse
from tests.api.concurrency_api import api_tab_thread
from tests.labeling.concurrency_scenario import Plan, problems, run


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_keeps_every_invariant_under_concurrency_with_retries():
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://... (make test sets it)")
    plan = Plan(annotators=8, pairs=40, seed=7)
    log, project_id = run(plan, tab=api_tab_thread)
    assert problems(log, project_id) == []
    assert len(log.successes) >= plan.pairs * plan.overlap
    assert log.expired and log.refusals
    for kind in ("abandoned", "retry_sequential", "retry_parallel", "racing_expiry"):
        assert log.counts[kind] > 0, kind
    assert IdempotentResponse.objects.filter(status_code=409).exists()
