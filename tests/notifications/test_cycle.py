"""The concurrent cycle on one worker, the settle rule's confirming poll a few seconds after a push looks
finished, and polls that write only what changed — against the fake Treeherder over HTTP, on the frozen
clock of test_poller (the same fixtures and helpers)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from notifications import cycle, outbox, poller, tasks
from notifications.models import Notification, PushJob, PushState
from tests.helpers import make_user
from tests.notifications import test_poller as poller_tests
from tests.notifications.test_poller import (
    POLL,
    complete_all,
    jobs_queries,
    running_jobs,
    running_push,
    watch,
)

# test_poller's fixtures: its frozen clock, the fake started over on it, a foreground cycle
clock, upstream, run_cycle = poller_tests.clock, poller_tests.upstream, poller_tests.run_cycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def beat(monkeypatch, django_capture_on_commit_callbacks):
    """Run the beat task (in this worker), deliver at once, and keep the confirming polls it schedules."""
    scheduled: list[tuple[tuple, dict, dict]] = []
    monkeypatch.setattr(tasks.poll_push, "apply_async", lambda args, kwargs=None, **options: scheduled.append(
        (tuple(args), kwargs or {}, options)))  # fmt: skip
    monkeypatch.setattr(tasks.deliver_notification, "delay", outbox.deliver)

    def run() -> list[tuple[tuple, dict, dict]]:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.poll_watched_pushes.apply().get()
        return scheduled

    return run


def run_scheduled(scheduled, django_capture_on_commit_callbacks) -> dict:
    args, kwargs, _ = scheduled.pop(0)
    with django_capture_on_commit_callbacks(execute=True):
        return tasks.poll_push.apply(args, kwargs).get()


def looks_finished(upstream, clock, beat, settings) -> tuple[int, list]:
    """Alice's watched push has just finished its jobs and a beat saw it: the push looks finished, its
    confirming poll is scheduled BUILDWATCH_SETTLE_SECONDS (15) later. Returns (push id, scheduled)."""
    settings.BUILDWATCH_SETTLE_SECONDS = 15
    push_id = running_push(upstream)
    watch(make_user("alice"), push_id)
    beat()
    complete_all(upstream, push_id)
    clock.shift(POLL)
    return push_id, beat()


# --- Settle: the confirming read comes BUILDWATCH_SETTLE_SECONDS later, not an interval later ---------------


def test_a_push_that_looks_finished_is_confirmed_and_mailed_settle_seconds_later(
    upstream, clock, beat, settings, django_capture_on_commit_callbacks
):
    push_id, scheduled = looks_finished(upstream, clock, beat, settings)  # nobody is told yet
    assert mail.outbox == []
    [(args, kwargs, options)] = scheduled
    assert (args, kwargs, options["countdown"]) == (("try", push_id), {"confirm": True}, 15)

    clock.shift(timedelta(seconds=15))
    run_scheduled(scheduled, django_capture_on_commit_callbacks)
    assert [m.subject for m in mail.outbox] == ["Try push passed: Bug 1 - Fix the frobnicator"]
    assert "last_modified__gt" not in jobs_queries(upstream)[-1]  # the confirming read is a full read
    assert scheduled == []


def test_the_confirming_poll_waits_again_when_the_push_grew_meanwhile(
    upstream, clock, beat, settings, django_capture_on_commit_callbacks
):
    push_id, scheduled = looks_finished(upstream, clock, beat, settings)
    upstream.add_job(push_id, "completed")  # a late job, already done: finished, but not the same push
    clock.shift(timedelta(seconds=15))
    run_scheduled(scheduled, django_capture_on_commit_callbacks)
    assert mail.outbox == []
    [(_, kwargs, options)] = scheduled  # another confirming poll
    assert kwargs == {"confirm": True} and options["countdown"] == 15
    clock.shift(timedelta(seconds=15))
    run_scheduled(scheduled, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1


def test_a_confirming_poll_after_the_beat_already_confirmed_asks_nothing_and_sends_nothing(
    upstream, clock, beat, settings, django_capture_on_commit_callbacks
):
    push_id, scheduled = looks_finished(upstream, clock, beat, settings)
    clock.shift(POLL)  # the confirming task was late: the next beat confirms it
    beat()
    assert len(mail.outbox) == 1
    requests_before = upstream.request_count
    assert run_scheduled(scheduled, django_capture_on_commit_callbacks)["polled"] is False
    assert upstream.request_count == requests_before
    assert len(mail.outbox) == 1


# --- Concurrency in one worker ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_cycles_in_one_worker_send_exactly_one_mail_per_user_and_push(upstream, clock):
    """Two beats' cycles at once in one worker process, each polling with 8 threads: every push is read
    at most once per interval and every watcher gets exactly one mail."""
    users = [make_user(f"user{n}") for n in range(4)]
    push_ids = [running_push(upstream) for _ in range(12)]
    for n, push_id in enumerate(push_ids):
        watch(users[n % 4], push_id)
        watch(users[(n + 1) % 4], push_id)

    def two_cycles_at_once() -> None:
        start = threading.Barrier(2)

        def one() -> None:
            try:
                start.wait()
                cycle.poll_cycle(dispatch_delivery=outbox.deliver, workers=8)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=one) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        clock.shift(POLL)

    two_cycles_at_once()
    assert sorted(int(q["push_id"]) for q in jobs_queries(upstream)) == sorted(push_ids)  # one read each
    for push_id in push_ids:
        complete_all(upstream, push_id, result="testfailed" if push_id % 2 else "success")
    for _ in range(3):
        two_cycles_at_once()

    sent = sorted((m.to[0], int(re.search(r"/pushes/(\d+)/", m.body)[1])) for m in mail.outbox)
    assert len(sent) == 24 == len(set(sent))
    assert Notification.objects.filter(status="sent", attempts=1).count() == 24
    assert set(PushState.objects.values_list("state", flat=True)) == {"finished"}


@pytest.mark.django_db(transaction=True)
def test_two_cycles_claiming_the_same_batch_at_once_each_win_a_push_at_most_once(upstream, clock):
    """Batched claims are exactly as exclusive as one conditional UPDATE per push: two claims of the same
    40 pushes at once (in opposite orders) win every push once between them, and never deadlock."""
    alice = make_user("alice")
    pushes = [("try", running_push(upstream)) for _ in range(40)]
    for _, push_id in pushes:
        watch(alice, push_id)
    won: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def claim(n: int) -> None:
        try:
            start.wait()
            begun = poller.begin_polls(pushes if n == 0 else pushes[::-1])
            won[n] = [plan.state.push_id for plan in begun if isinstance(plan, poller.PollPlan)]
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(won[0] + won[1]) == sorted(push_id for _, push_id in pushes)


def test_a_push_another_cycle_claimed_is_skipped_by_a_batch_that_claims_it_too(upstream, clock):
    alice = make_user("alice")
    pushes = [("try", running_push(upstream)) for _ in range(3)]
    for _, push_id in pushes:
        watch(alice, push_id)
    assert isinstance(poller.begin_poll(*pushes[1]), poller.PollPlan)  # another cycle has it

    begun = poller.begin_polls(pushes)
    assert [isinstance(plan, poller.PollPlan) for plan in begun] == [True, False, True]
    assert begun[1].polled is False
    assert poller.begin_polls(pushes) == [poller.PollResult("try", p, state="unknown") for _, p in pushes]


def poll_at_once(pushes: list[tuple[str, int]]) -> tuple[list[poller.PollResult], list[str]]:
    """Claim and read every push, then store every read in one finish_polls; its SQL."""
    client = poller.get_client(background=True)
    begun = poller.begin_polls(pushes, min_interval=0)
    reads = [(plan, poller.fetch(plan, client)) for plan in begun]
    with CaptureQueriesContext(connection) as queries:
        results = poller.finish_polls(reads)
    return results, [q["sql"] for q in queries]


@pytest.mark.parametrize("count", [3, 12])
def test_a_batch_of_reads_is_stored_in_the_same_few_queries_however_many_pushes_it_holds(
    upstream, clock, count, monkeypatch
):
    alice = make_user("alice")
    pushes = [("try", running_push(upstream, jobs=4)) for _ in range(count)]
    for _, push_id in pushes:
        watch(alice, push_id)
    results, first = poll_at_once(pushes)  # first reads: every job inserted, every PushState written
    assert all(r.polled and r.full_read and r.jobs_written == 5 for r in results)
    postgresql = connection.vendor == "postgresql"  # one UPDATE for all; the rows by COPY (not an execute)
    state_writes, row_inserts = (1, 0) if postgresql else (count, 1)
    assert sum(sql.startswith('UPDATE "notifications_pushstate"') for sql in first) == state_writes
    assert sum('INSERT INTO "notifications_pushjob"' in sql for sql in first) == row_inserts
    assert PushJob.objects.count() == 5 * count

    clock.shift(POLL)
    monkeypatch.setattr(poller, "full_read_due", lambda *args: False)  # incremental reads only, here
    results, unchanged = poll_at_once(pushes)  # nothing changed upstream: nothing is written
    assert all(r.polled and not r.full_read and r.jobs_written == 0 for r in results)
    writes = [sql for sql in unchanged if sql.startswith(("UPDATE", "INSERT", "DELETE"))]
    assert [sql.split(" SET ")[0] for sql in writes] == ['UPDATE "notifications_watch"']  # one, for all
    assert len(unchanged) == len(first) - state_writes - row_inserts  # no PushState or job row written
    # The same for 3 pushes as for 12: lock, read-back, watches' state (and the test's savepoints).
    assert len(unchanged) <= 6


def test_a_batch_with_many_changed_jobs_reads_its_rows_back_in_several_queries(upstream, clock, monkeypatch):
    from notifications import jobstore

    alice = make_user("alice")
    pushes = [("try", running_push(upstream, jobs=4)) for _ in range(3)]
    for _, push_id in pushes:
        watch(alice, push_id)
    poll_at_once(pushes)
    for _, push_id in pushes:
        for job_id in running_jobs(upstream, push_id)[:2]:
            upstream.set_job(job_id, "completed", "success")
    clock.shift(POLL)
    monkeypatch.setattr(poller, "full_read_due", lambda *args: False)
    monkeypatch.setattr(jobstore, "READ_BACK_IDS", 5)  # every incremental read brings all five jobs again
    results, sql = poll_at_once(pushes)
    assert sum('FROM "notifications_pushjob"' in q and q.startswith("SELECT") for q in sql) == 3
    assert [r.jobs_written for r in results] == [2, 2, 2]
    states = PushState.objects.filter(push_id__in=[p for _, p in pushes])
    assert {(s.job_count, s.completed_count, s.running_count) for s in states} == {(5, 3, 2)}


def test_the_tally_of_a_read_counts_the_fetched_jobs_as_their_stored_rows_would():
    from notifications.jobstore import Tally
    from notifications.snapshot import decode_job, encode_job
    from pushes import rules

    def job(**fields) -> rules.Job:
        base = dict(id=1, push_id=9, task_id=None, platform="", platform_option="", job_type_name="",
                    job_type_symbol="", job_group_name="", job_group_symbol="", state="completed",
                    result="testfailed", start_timestamp=None, end_timestamp=None, tier=1)  # fmt: skip
        return rules.Job(**{**base, **fields})

    jobs = [job(), job(state="running", result="unknown"), job(state="pending", job_type_name="Gecko Decision Task"),
            job(job_type_symbol="D", result="success"), job(state="", result=""), job(job_type_name="action-callback")]  # fmt: skip
    for one in jobs:
        assert Tally.of([one]) == Tally.of([decode_job(one.id, encode_job(one), one.push_id)])


def test_a_push_whose_read_crashes_in_a_thread_does_not_stop_the_cycle(upstream, run_cycle, monkeypatch):
    alice = make_user("alice")
    broken, fine = running_push(upstream), running_push(upstream)
    watch(alice, broken)
    watch(alice, fine)
    real_fetch = poller.fetch

    def fetch(plan, client):
        if plan.state.push_id == broken:
            raise RuntimeError("the reader broke")
        return real_fetch(plan, client)

    monkeypatch.setattr(poller, "fetch", fetch)
    output = run_cycle()
    assert f"try push {fine}: running" in output
    assert f"try push {broken}" in output and "RuntimeError: the reader broke" in output


def test_a_cycle_out_of_time_leaves_the_rest_for_the_next_cycle_which_polls_them_first(
    upstream, clock, monkeypatch
):
    alice = make_user("alice")
    push_ids = [running_push(upstream) for _ in range(3)]
    for push_id in push_ids:
        watch(alice, push_id)
    monkeypatch.setattr(cycle, "CYCLE_BUDGET", -1)  # out of time before the first push
    summary = cycle.poll_cycle(dispatch_delivery=outbox.deliver)
    assert summary.deferred == [("try", p) for p in push_ids] and jobs_queries(upstream) == []
    monkeypatch.setattr(cycle, "CYCLE_BUDGET", 0.9)
    poller.poll_push("try", push_ids[0])
    clock.shift(POLL)
    assert cycle.watched_unfinished_pushes()[-1] == ("try", push_ids[0])  # polled last: goes last


# --- Writes in proportion to change ------------------------------------------------------------------------


def test_an_incremental_poll_writes_only_the_jobs_that_changed(upstream, run_cycle):
    push_id = running_push(upstream, jobs=200)
    watch(make_user("alice"), push_id)
    run_cycle()
    assert PushJob.objects.filter(push__push_id=push_id).count() == 201
    changed = running_jobs(upstream, push_id)[:2]
    for job_id in changed:
        upstream.set_job(job_id, "completed", "success")

    with CaptureQueriesContext(connection) as queries:
        run_cycle()
    job_writes = [q["sql"] for q in queries if "notifications_pushjob" in q["sql"] and "INSERT" in q["sql"]]
    assert len(job_writes) == 1
    assert job_writes[0].count(str(changed[0])) == 1 and job_writes[0].count(str(changed[1])) == 1
    assert not any(q["sql"].startswith('UPDATE "notifications_pushjob"') for q in queries)
    state = PushState.objects.get(push_id=push_id)
    assert (state.job_count, state.completed_count, state.state) == (201, 3, "running")

    with CaptureQueriesContext(connection) as queries:
        run_cycle()  # nothing changed upstream: no job row is written
    assert not any("INSERT" in q["sql"] and "notifications_pushjob" in q["sql"] for q in queries)


def test_the_periodic_full_read_repairs_a_count_an_incremental_poll_could_not_see(upstream, run_cycle):
    push_id = running_push(upstream, jobs=4)
    watch(make_user("alice"), push_id)
    run_cycle()  # 09:00, a full read
    jobs = running_jobs(upstream, push_id)
    for job_id in jobs[:2]:
        upstream.set_job(job_id, "completed", "success")
    run_cycle()  # 09:01
    upstream.set_job(jobs[2], "completed", "success")
    run_cycle()  # 09:02: the cursor moves past the first two jobs
    upstream.bulk_update(jobs[:2], result="testfailed")  # no last_modified change
    last_full = max(n for n, q in enumerate(jobs_queries(upstream)) if "last_modified__gt" not in q)
    while "last_modified__gt" in jobs_queries(upstream)[-1] or len(jobs_queries(upstream)) == 3:
        assert PushState.objects.get().failed_count == 0  # incremental reads cannot see a bulk update
        run_cycle()
    assert len(jobs_queries(upstream)) - 1 - last_full <= poller.FULL_READ_EVERY_POLLS
    state = PushState.objects.get()  # the periodic full read
    assert (state.completed_count, state.failed_count, state.state) == (4, 2, "running")


def test_periodic_full_reads_are_spread_over_the_cycles_and_each_push_still_gets_one_every_k_polls(
    upstream, run_cycle
):
    every = poller.FULL_READ_EVERY_POLLS
    alice = make_user("alice")
    push_ids = [running_push(upstream) for _ in range(every)]
    assert len({push_id % every for push_id in push_ids}) == every  # consecutive ids: every slot once
    for push_id in push_ids:
        watch(alice, push_id)
    full_reads: list[list[int]] = []
    for _ in range(3 * every):
        seen = len(jobs_queries(upstream))
        run_cycle()
        cycle_reads = jobs_queries(upstream)[seen:]
        assert sorted(int(q["push_id"]) for q in cycle_reads) == sorted(push_ids)  # each polled once
        full_reads.append([int(q["push_id"]) for q in cycle_reads if "last_modified__gt" not in q])

    assert sorted(full_reads[0]) == sorted(push_ids)  # the first reads
    assert [len(reads) for reads in full_reads[1:]] == [1] * (3 * every - 1)  # then one push per cycle
    for push_id in push_ids:
        cycles = [n for n, reads in enumerate(full_reads) if push_id in reads]
        assert all(later - earlier <= every for earlier, later in zip(cycles, cycles[1:], strict=False))
        assert 3 * every - 1 - cycles[-1] < every


# Transactional: deliveries run at each commit, as in a real run, so before the command's last line.
@pytest.mark.django_db(transaction=True)
def test_the_command_can_wait_for_the_confirming_read_and_mail_in_the_same_run(
    upstream, run_cycle, settings, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import call_command

    settings.BUILDWATCH_SETTLE_SECONDS = 1
    push_id = running_push(upstream)
    watch(make_user("alice"), push_id)
    run_cycle()
    complete_all(upstream, push_id)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("poll_watched_pushes", "--wait-to-confirm", stdout=out)
    assert "looks finished: confirming in 1 s" in out.getvalue()
    assert "finished now" in out.getvalue() and "(confirming read)" in out.getvalue()
    # One watched push, read twice: the summary counts the push once and the confirming read apart.
    assert out.getvalue().splitlines()[-1] == (
        "Polled 1 of 1 watched push(es), then read 1 again to confirm they finished; 1 finished; "
        "0 auto-watched; deliveries: 1 sent"
    )
    assert len(mail.outbox) == 1
