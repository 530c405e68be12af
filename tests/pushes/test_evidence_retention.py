"""Stored failure evidence is kept BUILDWATCH_EVIDENCE_RETENTION_DAYS after it was read: the daily beat task
deletes older rows in batches, 0 keeps everything, and a page of a push whose evidence went reads it again
from Treeherder (over real HTTP against the fake) and shows the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from buildwatch.celery import app
from fakeherder import FakeTreeherder
from notifications.tasks import prune_job_evidence
from pushes import evidence_store
from pushes.models import JobEvidence

pytestmark = pytest.mark.django_db

MINE = "TEST-UNEXPECTED-FAIL | dom/base/test/test_mine.html | got 1, expected 2"


def store(count: int, days_ago: float, *, first_job: int, repo: str = "try", push_id: int = 1) -> None:
    read_at = timezone.now() - timedelta(days=days_ago)
    JobEvidence.objects.bulk_create(
        [
            JobEvidence(
                repo=repo,
                job_id=first_job + n,
                push_id=push_id,
                parse_status="parsed",
                suggestions=[],
                read_at=read_at,
            )  # fmt: skip
            for n in range(count)
        ],
        batch_size=1000,
    )


def job_ids() -> set[int]:
    return set(JobEvidence.objects.values_list("job_id", flat=True))


def deletes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]


def test_rows_read_longer_ago_than_the_retention_go_and_recent_ones_stay(settings):
    settings.BUILDWATCH_EVIDENCE_RETENTION_DAYS = 60
    store(3, days_ago=61, first_job=100)
    store(2, days_ago=59, first_job=200, push_id=2)
    store(1, days_ago=0, first_job=300, repo="autoland")

    assert prune_job_evidence() == 3  # the beat's task, run here
    assert job_ids() == {200, 201, 300}
    assert prune_job_evidence() == 0


def test_the_retention_is_the_setting(settings):
    store(1, days_ago=8, first_job=100)
    store(1, days_ago=6, first_job=200)
    settings.BUILDWATCH_EVIDENCE_RETENTION_DAYS = 7
    assert evidence_store.prune() == 1 and job_ids() == {200}


def test_zero_keeps_everything(settings):
    settings.BUILDWATCH_EVIDENCE_RETENTION_DAYS = 0
    store(2, days_ago=3650, first_job=100)
    with CaptureQueriesContext(connection) as queries:
        assert prune_job_evidence() == 0
    assert job_ids() == {100, 101} and deletes(queries) == []


def test_more_old_rows_than_a_batch_are_deleted_a_batch_per_delete(settings):
    settings.BUILDWATCH_EVIDENCE_RETENTION_DAYS = 60
    store(2 * evidence_store.PRUNE_BATCH + 1, days_ago=90, first_job=1)
    store(5, days_ago=1, first_job=1_000_000)

    with CaptureQueriesContext(connection) as queries:
        assert prune_job_evidence() == 2 * evidence_store.PRUNE_BATCH + 1
    assert len(deletes(queries)) == 3  # 5,000 + 5,000 + 1, never one statement over the whole table
    assert job_ids() == set(range(1_000_000, 1_000_005))


def test_a_small_batch_still_deletes_every_old_row():
    store(23, days_ago=90, first_job=1)
    store(1, days_ago=1, first_job=500)
    with CaptureQueriesContext(connection) as queries:
        assert evidence_store.prune(60, batch=10) == 23
    assert len(deletes(queries)) == 3 and job_ids() == {500}


def test_the_beat_runs_the_prune_daily():
    entry = next(
        e
        for e in django_settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "notifications.tasks.prune_job_evidence"
    )
    assert entry["schedule"] == 86400.0
    assert "notifications.tasks.prune_job_evidence" in app.tasks  # the name the beat sends is a real task


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def test_a_page_of_a_push_whose_evidence_was_pruned_reads_it_again_and_shows_the_same(upstream, settings):
    settings.BUILDWATCH_EVIDENCE_RETENTION_DAYS = 60
    push_id = upstream.add_push(messages=["Bug 42 - Prune me"], size=1, hold="completed")
    upstream.add_job(push_id, "completed", platform="windows11-64")
    upstream.add_job(push_id, "completed", result="testfailed", platform="linux0", errors=[MINE], seen=0)
    url = f"/try/pushes/{push_id}/failures/"

    first = Client().get(url).content.decode()
    assert "1 new failure (dom/base/test/test_mine.html)" in first
    assert JobEvidence.objects.filter(repo="try", push_id=push_id).count() == 1

    JobEvidence.objects.update(read_at=timezone.now() - timedelta(days=61))
    assert prune_job_evidence() == 1 and not JobEvidence.objects.exists()

    cache.clear()  # nothing left of the first read but what the database kept
    upstream.clear_requests()
    again = Client().get(url)
    assert again.status_code == 200
    html = again.content.decode()
    assert "1 new failure (dom/base/test/test_mine.html)" in html and "dom/base/test/test_mine.html" in html
    assert [p for p in upstream.request_paths("/api/project/try/jobs/") if "/bug_suggestions/" in p]
    row = JobEvidence.objects.get(repo="try", push_id=push_id)  # kept again, as new
    assert timezone.now() - row.read_at < timedelta(days=1)
