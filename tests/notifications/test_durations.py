"""The poll learns how long jobs take (pushes/durations.py, issue 26): as part of its batch writes, from
the jobs Treeherder's `/api/jobs/` says just started or completed, in two queries per batch and no extra
request; and `push_eta` reads what it learned in one query per push. Against the fake Treeherder over
HTTP on test_poller's frozen clock (re-run on PostgreSQL by test_on_postgres.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import poller
from notifications.jobstore import stored_jobs
from notifications.models import PushState
from pushes import durations, eta
from pushes.models import JobDurations
from pushes.treeherder.client import get_client
from tests.notifications import test_poller as poller_tests
from tests.notifications.test_poller import POLL, jobs_queries, make_user, running_push, watch

clock, upstream, run_cycle = poller_tests.clock, poller_tests.upstream, poller_tests.run_cycle

pytestmark = pytest.mark.django_db

ADDED = "test-linux1804-64/opt-mochitest-added"  # the fake's add_job names, without their chunk number


def kind_row(name: str = ADDED) -> JobDurations:
    return JobDurations.objects.get(repo="try", platform="linux1804-64", option="opt", name=name)


def test_the_poll_learns_a_jobs_wait_queue_and_run_from_its_rows_alone(upstream, run_cycle):
    push_id = running_push(upstream, jobs=2)
    watch(make_user("alice"), push_id)
    submitted = upstream.now() - 120
    job_id = upstream.add_job(push_id, "unscheduled", at=submitted)  # waits for its build
    run_cycle()  # 09:00, a full read: it waits, submitted two minutes ago
    upstream.set_job(job_id, "pending", at=upstream.now() - 30)  # its build is done: 08:59:30 + 60 s
    run_cycle()  # 09:01
    started = upstream.now() - 10
    upstream.set_job(job_id, "running", at=started)
    run_cycle()  # 09:02: started at 09:01:50, so waited 230 s since submitted and 80 s in the queue
    row = kind_row()
    assert ([s for _, s in row.waits], [s for _, s in row.queues], row.runs) == ([230.0], [80.0], [])
    state = PushState.objects.get(push_id=push_id)
    assert next(job for job in stored_jobs(state) if job.id == job_id).start_timestamp == round(started)

    for _ in range(6):
        run_cycle()  # nothing new: nothing learned twice
    ended = upstream.now() - 5
    upstream.set_job(job_id, "completed", "success", at=ended)
    run_cycle()
    assert jobs_queries(upstream)[-1].get("last_modified__gt")  # an incremental read: no extra request
    row = kind_row()
    assert [seconds for _, seconds in row.runs] == [ended - round(started)]  # to the second: 8 min 5 s
    assert ([s for _, s in row.waits], [s for _, s in row.queues]) == ([230.0], [80.0])
    assert list(row.chunks) == [str(job_id)]  # add_job numbers its jobs' names like chunks
    for _ in range(3):
        run_cycle()
    assert len(kind_row().runs) == 1


def test_a_batch_learns_every_pushs_jobs_in_two_queries_and_none_when_nothing_ended(
    upstream, clock, monkeypatch
):
    alice = make_user("alice")
    pushes = [("try", running_push(upstream, jobs=3)) for _ in range(3)]
    for _, push_id in pushes:
        watch(alice, push_id)
    monkeypatch.setattr(poller, "full_read_due", lambda *args: False)

    def poll_all() -> list[str]:
        client = get_client(background=True)
        begun = poller.begin_polls(pushes, min_interval=0)
        reads = [(plan, poller.fetch(plan, client)) for plan in begun]
        with CaptureQueriesContext(connection) as queries:
            poller.finish_polls(reads)
        return [q["sql"] for q in queries if "pushes_jobdurations" in q["sql"]]

    assert poll_all() == []  # the first read: running jobs, no start seen, nothing to learn
    for _, push_id in pushes:
        for job_id in upstream.job_ids(push_id, state="running")[:2]:
            upstream.set_job(job_id, "completed", "success")
    clock.shift(POLL)
    learned = poll_all()
    assert len(learned) == 2 and learned[0].startswith("SELECT") and "INSERT" in learned[1]
    assert sum(len(row.runs) for row in JobDurations.objects.all()) == 6  # 2 builds in each push
    clock.shift(POLL)
    assert poll_all() == []


def history_for(kinds: list[eta.Kind], runs: float = 300.0) -> None:
    """Runs of these kinds on record, and a SHAPE, as the poll would have learned them."""
    samples = [("try", eta.Sample(kind, at=clock_now(), run=runs, wait=60.0, queue=20.0, push=n % 5))
               for kind in kinds for n in range(6)]  # fmt: skip
    durations.record(samples)
    durations.record(
        [("try", eta.Sample(kinds[0], at=clock_now(), run=runs, push=n % 9)) for n in range(300)]
    )


def clock_now() -> float:
    from django.utils import timezone

    return timezone.now().timestamp()


def test_push_eta_is_none_without_history_and_reads_it_in_one_query(upstream):
    push_id = upstream.add_push(size=6, hold="running")
    jobs = get_client().jobs("try", push_id)
    assert durations.push_eta("try", jobs) is None  # no estimate yet, never a made-up number

    kinds = sorted({eta.job_kind(job) for job in jobs if job.state == "running"})
    history_for(kinds)
    assert JobDurations.objects.count() == len(kinds) + 1  # and the SHAPE
    assert len(JobDurations.objects.get(name="").runs) == 300 + 3 * len(
        kinds
    )  # a ratio once 3 runs are known
    with CaptureQueriesContext(connection) as queries:
        estimated = durations.push_eta("try", jobs)
    assert len(queries) == 1
    now = clock_now()
    assert estimated.unfinished == estimated.known == 5
    assert now + eta.FLOOR <= estimated.early <= estimated.median <= estimated.late
    assert estimated.median == pytest.approx(now + 300, abs=30)  # they started just now, and take 5 min


def test_push_eta_uses_other_repositories_history_for_a_kind_new_here(upstream):
    push_id = upstream.add_push(size=4, hold="running")
    jobs = get_client().jobs("try", push_id)
    kinds = sorted({eta.job_kind(job) for job in jobs if job.state == "running"})
    samples = [
        ("autoland", eta.Sample(kind, at=clock_now(), run=600.0, push=n)) for kind in kinds for n in range(5)
    ]
    durations.record(samples)
    estimated = durations.push_eta("try", jobs)
    assert estimated.median == pytest.approx(clock_now() + 600, abs=30)
