"""The poll cycle's tests again, on PostgreSQL: the batched claims (row locks), the COPY of new job rows and
the one-statement UPDATE of a batch's PushStates run only there, while the rest of the suite uses SQLite.
So does the lock that keeps the per-user watch cap under concurrent requests (test_watch_cap.py), and the
failed jobs' evidence: its batched upsert and the poller's query for failed job rows without evidence
(JSON keys compared in the database; test_evidence.py, test_triage_at_scale.py).
Production runs PostgreSQL, so every CI run checks those paths with the same tests, in a pytest of their own
pointed at a scratch database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import scratch_postgres_and_redis

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    "tests/notifications/test_cycle.py",
    "tests/notifications/test_poller.py",
    "tests/notifications/test_watch_cap.py",
    "tests/notifications/test_durations.py",
    "tests/pushes/test_evidence.py",
    "tests/notifications/test_triage_at_scale.py",
)
REDIS_DB = int(os.environ.get("BUILDWATCH_TEST_PROD_REDIS_DB", "13"))


@pytest.mark.services
def test_the_poll_cycle_tests_pass_on_postgresql() -> None:
    with scratch_postgres_and_redis("bw_pgpaths", redis_db=REDIS_DB) as (dsn, _redis_url):
        env = {**os.environ, "DATABASE_URL": dsn}
        env.pop("REDIS_URL", None)  # the modules' own cache (local memory), as in the rest of the suite
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not services", *MODULES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, f"on PostgreSQL:\n{tail}\n{result.stderr[-2000:]}"
    assert " passed" in tail and "skipped" not in tail, tail  # they ran, all of them
