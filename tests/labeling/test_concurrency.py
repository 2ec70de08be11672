"""Many annotators at once, through the real views: the stored data matches what they were told.

The scenario itself is in concurrency_scenario.py. PostgreSQL runs it in this process (threads,
one connection each); the SQLite default runs it in a subprocess on a fresh file database in
WAL mode, because the in-memory test database cannot be shared between connections.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.labeling.concurrency_scenario import Plan, problems, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_keeps_every_invariant_under_concurrency_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://... (make test sets it)")
    log, project_id = run(Plan())
    assert problems(log, project_id) == []
    # The scenario did exercise what it claims to.
    assert len(log.successes) >= Plan().pairs * Plan().overlap
    assert log.expired and log.refusals
    for kind in ("abandoned", "double_sequential", "double_parallel", "racing_expiry"):
        assert log.counts[kind] > 0, kind
    # Every participant arrived through the study link in two tabs at once and was one account.
    assert log.counts["participants"] == log.counts["batches_ended"] == Plan().participants


@pytest.mark.slow
def test_it_keeps_every_invariant_under_concurrency_on_the_sqlite_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "tests.labeling.concurrency_scenario", "--var-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert report["successes"] >= Plan().pairs * Plan().overlap
    assert report["refusals"] > 0
    assert report["counts"]["participants"] == Plan().participants
    assert (tmp_path / "prefapp.sqlite3").exists()
