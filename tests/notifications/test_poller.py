"""The poll cycle, the settle rule and the exactly-once ledger, against the fake Treeherder over HTTP.

Time is faked one way, with time-machine: `clock` freezes it at START and each cycle moves it one poll
on. The fake runs at speed 1 on the same (frozen) clock, so the jobs' `last_modified` stamps and
BuildWatch's cursor and settle rule agree; its pushes here hold their jobs still until a test moves one
(`set_job`, `add_job`, `bulk_update`)."""

from __future__ import annotations

import smtplib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.exceptions import Retry
from django.conf import settings
from django.core import mail
from django.core.management import call_command

from accounts.models import UserSettings
from fakeherder import FakeTreeherder
from notifications import outbox, poller, tasks
from notifications.models import Notification, PushJob, PushState, PushSubscription, Watch
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLL = timedelta(seconds=60)
TITLE = "Bug 1 - Fix the frobnicator"
AUTHOR = "dev@mozilla.com"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, clock, settings) -> FakeTreeherder:
    """The session's fake Treeherder, started over at START on the frozen clock, and the app pointed at it."""
    fake_treeherder.reset("quick", speed=1)
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


@pytest.fixture
def run_cycle(clock, django_capture_on_commit_callbacks):
    """One foreground cycle (the management command), on-commit deliveries executed; then a poll passes."""

    def run() -> str:
        from io import StringIO

        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("poll_watched_pushes", stdout=out)
        clock.shift(POLL)
        return out.getvalue()

    return run


def watch(user, push_id: int, repo: str = "try") -> Watch:
    return Watch.objects.create(user=user, repo=repo, push_id=push_id)


def running_push(
    upstream: FakeTreeherder, jobs: int = 3, *, author: str = AUTHOR, pushed_ago: float = 0
) -> int:
    """A push whose decision task is done and whose `jobs` other jobs run until a test moves them."""
    return upstream.add_push(
        author=author, messages=[TITLE], size=jobs + 1, hold="running", pushed_ago=pushed_ago
    )


def running_jobs(upstream: FakeTreeherder, push_id: int) -> list[int]:
    return upstream.job_ids(push_id, state="running")


def complete_all(upstream: FakeTreeherder, push_id: int, result: str = "success") -> None:
    for job_id in running_jobs(upstream, push_id) + upstream.job_ids(push_id, state="pending"):
        upstream.set_job(job_id, "completed", result)


def jobs_queries(upstream: FakeTreeherder) -> list[dict[str, str]]:
    return upstream.queries("/api/jobs/")


def stored_job(push_id: int, job_id: int) -> list:
    """What the poller keeps of one job ([state, result, ...], notifications.snapshot.SNAPSHOT_FIELDS)."""
    return PushJob.objects.get(push__push_id=push_id, job_id=job_id).data


# --- The cycle ---------------------------------------------------------------------------------------


def test_it_emails_once_when_a_watched_push_finishes(upstream, run_cycle):
    alice = make_user("alice")
    push_id = running_push(upstream)
    watch(alice, push_id)

    run_cycle()
    assert mail.outbox == []
    complete_all(upstream, push_id)
    run_cycle()  # looks finished: the settle rule waits one poll and the next poll re-reads everything
    assert mail.outbox == []
    output = run_cycle()
    assert "finished now" in output
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == f"Try push passed: {TITLE}"
    assert message.to == ["alice@example.com"]

    for _ in range(3):
        run_cycle()
    assert len(mail.outbox) == 1
    row = Notification.objects.get()
    assert (row.channel, row.status, row.attempts) == ("email", "sent", 1)
    assert Watch.objects.get().notified_at is not None
    state = PushState.objects.get()
    assert (state.state, state.job_count, state.completed_count, state.title) == ("finished", 4, 4, TITLE)


def test_a_failed_push_says_failed(upstream, run_cycle):
    push_id = running_push(upstream)
    watch(make_user("alice"), push_id)
    run_cycle()
    complete_all(upstream, push_id, result="testfailed")
    for _ in range(3):
        run_cycle()
    assert [m.subject for m in mail.outbox] == [f"Try push failed: {TITLE}"]


def test_a_running_push_sends_nothing(upstream, run_cycle):
    watch(make_user("alice"), running_push(upstream))
    for _ in range(4):
        run_cycle()
    assert mail.outbox == []
    assert not Notification.objects.exists()
    assert PushState.objects.get().state == "running"
    assert Watch.objects.get().last_state == "running"


def test_a_push_of_only_its_decision_task_is_not_finished(upstream, run_cycle):
    watch(make_user("alice"), running_push(upstream, jobs=0))
    for _ in range(4):
        run_cycle()
    assert mail.outbox == []
    assert PushState.objects.get().state != "finished"


def test_a_changed_job_count_waits_one_more_poll(upstream, run_cycle):
    push_id = upstream.add_push(author=AUTHOR, messages=[TITLE], size=2, hold="completed")
    watch(make_user("alice"), push_id)
    run_cycle()  # looks finished, but it is the first sight: no previous count to compare with
    upstream.add_job(push_id, "completed")  # the decision task added a job meanwhile
    run_cycle()  # every job completed, but 2 -> 3 jobs: wait one more poll
    assert mail.outbox == []
    run_cycle()
    assert len(mail.outbox) == 1
    assert PushState.objects.get().job_count == 3


def test_a_retrigger_after_the_notification_sends_no_second_email(upstream, run_cycle):
    push_id = running_push(upstream)
    watch(make_user("alice"), push_id)
    run_cycle()
    complete_all(upstream, push_id, result="testfailed")
    run_cycle()
    run_cycle()
    assert len(mail.outbox) == 1
    requests_before = upstream.request_count

    retriggered = upstream.add_job(push_id, "pending")  # the user retriggers a failed job
    for _ in range(3):
        run_cycle()
    upstream.set_job(retriggered, "completed", "success")
    run_cycle()
    assert len(mail.outbox) == 1
    assert upstream.request_count == requests_before  # nobody waits on it: not polled again
    assert Notification.objects.count() == 1


def test_users_with_notifications_or_email_off_get_nothing(upstream, run_cycle):
    quiet = make_user("quiet", notifications_enabled=False)
    no_mail = make_user("nomail", email_enabled=False)
    push_id = running_push(upstream)
    watch(quiet, push_id)
    watch(no_mail, push_id)
    run_cycle()
    complete_all(upstream, push_id)
    run_cycle()
    run_cycle()
    assert mail.outbox == []
    assert not Notification.objects.exists()
    # Their watches are settled all the same: shown as done on /watching/, never polled again.
    assert Watch.objects.filter(notified_at__isnull=False).count() == 2


def test_two_watchers_cost_one_fetch_per_cycle_and_get_one_email_each(upstream, run_cycle):
    alice, bob = make_user("alice"), make_user("bob")
    push_id = running_push(upstream)
    watch(alice, push_id)
    watch(bob, push_id)

    run_cycle()
    assert len(jobs_queries(upstream)) == 1
    complete_all(upstream, push_id)
    run_cycle()
    run_cycle()
    assert len(jobs_queries(upstream)) == 3
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]


def test_new_watches_cost_one_request_each_from_the_first_cycle_and_titles_come_from_one_list_read(
    upstream, run_cycle
):
    alice = make_user("alice")
    push_ids = [running_push(upstream) for _ in range(3)]
    for push_id in push_ids:
        watch(alice, push_id)

    run_cycle()
    assert len(jobs_queries(upstream)) == 3
    [titles] = upstream.queries("/api/project/try/push/")
    assert sorted(map(int, titles["id__in"].split(","))) == sorted(push_ids)
    assert upstream.request_paths(f"/api/project/try/push/{push_ids[0]}/") == []
    assert upstream.request_count == 4  # three jobs reads, one push-list read
    assert set(PushState.objects.values_list("title", flat=True)) == {TITLE}

    run_cycle()
    assert upstream.request_count == 7  # then one jobs read per push: the titles are known


def test_a_watcher_who_arrives_after_the_push_finished_is_told_without_asking_treeherder(upstream, run_cycle):
    push_id = running_push(upstream)
    watch(make_user("alice"), push_id)
    run_cycle()
    complete_all(upstream, push_id)
    run_cycle()
    run_cycle()
    requests_before = upstream.request_count

    watch(make_user("late"), push_id)
    run_cycle()
    assert [m.to[0] for m in mail.outbox] == ["alice@example.com", "late@example.com"]
    assert upstream.request_count == requests_before


# --- Incremental reads -------------------------------------------------------------------------------


def test_later_polls_fetch_only_changed_jobs_and_merge_them(upstream, run_cycle, clock):
    push_id = running_push(upstream, jobs=5)
    watch(make_user("alice"), push_id)
    run_cycle()
    first = jobs_queries(upstream)[-1]
    assert "last_modified__gt" not in first
    cursor = PushState.objects.get().jobs_cursor
    assert cursor.startswith("2026-03-02T09:00:00")

    changed = running_jobs(upstream, push_id)[1]
    upstream.set_job(changed, "completed", "testfailed")
    run_cycle()
    query = jobs_queries(upstream)[-1]
    # The newest last_modified seen, less a small overlap for writes committed out of order.
    assert (
        datetime.fromisoformat(query["last_modified__gt"])
        == datetime(2026, 3, 2, 9, 0) - poller.CURSOR_OVERLAP
    )
    state = PushState.objects.get()
    assert (state.job_count, state.completed_count, state.failed_count) == (6, 2, 1)
    assert stored_job(push_id, changed)[:2] == ["completed", "testfailed"]
    assert state.jobs_cursor.startswith("2026-03-02T09:01:00")


def test_it_rereads_the_whole_push_periodically_and_before_notifying(upstream, run_cycle):
    push_id = running_push(upstream)
    watch(make_user("alice"), push_id)
    for _ in range(poller.FULL_READ_EVERY_POLLS + 1):
        run_cycle()
    full_reads = [q for q in jobs_queries(upstream) if "last_modified__gt" not in q]
    assert len(full_reads) == 2  # the first poll, and one interval later

    # A bulk update on the server (no last_modified change) is seen by the confirming full read.
    jobs = running_jobs(upstream, push_id)
    complete_all(upstream, push_id)
    run_cycle()  # incremental: looks finished
    upstream.bulk_update(jobs[1:2], result="testfailed")
    run_cycle()  # full read before telling anyone
    assert "last_modified__gt" not in jobs_queries(upstream)[-1]
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Try push failed"]


def test_treeherder_errors_are_recorded_and_retried_next_cycle(upstream, run_cycle, monkeypatch):
    from pushes.treeherder.client import TreeherderClient

    no_wait = TreeherderClient(settings.TREEHERDER_URL, timeout=5, sleep=lambda seconds: None)
    monkeypatch.setattr(poller, "get_client", lambda **kwargs: no_wait)
    watch(make_user("alice"), running_push(upstream))
    upstream.set_down(True)
    output = run_cycle()
    assert "error" in output
    assert "503" in PushState.objects.get().last_error
    upstream.set_down(False)
    run_cycle()
    assert PushState.objects.get().last_error == ""
    assert PushState.objects.get().state == "running"


def test_two_beats_polling_the_same_push_at_once_fetch_it_once(upstream, clock):
    push_id = running_push(upstream)
    watch(make_user("alice"), push_id)
    first = poller.poll_push("try", push_id)
    second = poller.poll_push("try", push_id)
    assert (first.polled, second.polled) == (True, False)
    assert len(jobs_queries(upstream)) == 1
    clock.shift(POLL)
    assert poller.poll_push("try", push_id).polled


# --- Delivery: exactly once ----------------------------------------------------------------------------


@pytest.fixture
def due_email(clock) -> Notification:
    user = make_user("alice")
    PushState.objects.create(repo="try", push_id=500, state="finished", title="Bug 1 - Fix it",
                             revision="a" * 40, summary={"failed": False, "total": 3, "completed": 3})  # fmt: skip
    return Notification.objects.create(user=user, repo="try", push_id=500, channel="email",
                                       title="Try push passed", body="Bug 1 - Fix it")  # fmt: skip


def test_delivering_twice_sends_once(due_email):
    assert outbox.deliver(due_email.pk).status == "sent"
    assert outbox.deliver(due_email.pk).status == "not-claimed"
    assert len(mail.outbox) == 1
    due_email.refresh_from_db()
    assert due_email.status == "sent" and due_email.sent_at is not None


def test_a_fresh_claim_is_respected_and_a_dead_workers_claim_is_taken_over(due_email, clock):
    from django.utils import timezone

    Notification.objects.filter(pk=due_email.pk).update(status="sending", claimed_at=timezone.now())
    assert outbox.deliver(due_email.pk).status == "not-claimed"
    assert outbox.due_deliveries() == []
    clock.shift(timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 6))
    assert outbox.due_deliveries() == [due_email.pk]
    assert outbox.deliver(due_email.pk).status == "sent"
    assert len(mail.outbox) == 1


def test_a_failing_mail_server_is_retried_with_backoff_then_marked_failed(due_email, clock, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    delays = []
    for attempt in range(1, outbox.MAX_ATTEMPTS):
        outcome = outbox.deliver(due_email.pk)
        assert outcome.status == "retry", attempt
        delays.append(outcome.retry_in)
        assert outbox.deliver(due_email.pk).status == "not-claimed"  # backoff: not before it is due
        clock.shift(timedelta(seconds=outcome.retry_in))
    assert delays == sorted(delays) and delays[0] == 30 and max(delays) <= 900
    assert outbox.deliver(due_email.pk).status == "failed"
    due_email.refresh_from_db()
    assert due_email.status == "failed"
    assert due_email.attempts == outbox.MAX_ATTEMPTS
    assert "SMTPServerDisconnected" in due_email.last_error
    assert outbox.deliver(due_email.pk).status == "not-claimed"
    assert mail.outbox == []


def test_a_mail_server_back_after_one_failure_delivers_once(due_email, clock, monkeypatch):
    real_send = __import__("django.core.mail", fromlist=["x"]).EmailMultiAlternatives.send
    calls = Counter()

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionRefusedError(111, "Connection refused")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", flaky)
    assert outbox.deliver(due_email.pk).status == "retry"
    due_email.refresh_from_db()
    assert due_email.status == "pending" and "Connection refused" in due_email.last_error
    clock.shift(timedelta(seconds=31))
    assert outbox.due_deliveries() == [due_email.pk]  # the beat's sweep would re-queue it
    assert outbox.deliver(due_email.pk).status == "sent"
    assert len(mail.outbox) == 1


def test_the_delivery_task_retries_through_celery(due_email, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    retries = []

    def retry(**kwargs):
        retries.append(kwargs)
        return Retry("retry later")

    monkeypatch.setattr(tasks.deliver_notification, "retry", retry)
    result = tasks.deliver_notification.apply(args=[due_email.pk])
    assert result.state == "RETRY"
    assert retries == [{"countdown": 30, "max_retries": None}]
    due_email.refresh_from_db()
    assert (due_email.status, due_email.attempts) == ("pending", 1)


def test_a_refused_recipient_fails_at_once(due_email, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({"alice@example.com": (550, b"no such user")})

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    assert outbox.deliver(due_email.pk).status == "failed"
    due_email.refresh_from_db()
    assert due_email.attempts == 1 and "550" in due_email.last_error


def test_turning_notifications_off_before_delivery_skips_it(due_email):
    UserSettings.objects.update_or_create(user=due_email.user, defaults={"notifications_enabled": False})
    assert outbox.deliver(due_email.pk).status == "skipped"
    assert mail.outbox == []


def test_web_push_rows_are_skipped_when_the_server_has_no_vapid_keys(upstream, run_cycle, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    user = make_user("alice", webpush_enabled=True)
    PushSubscription.objects.create(user=user, endpoint="https://push.example.com/1", p256dh="k", auth="a")
    push_id = running_push(upstream)
    watch(user, push_id)
    run_cycle()
    complete_all(upstream, push_id)
    run_cycle()
    run_cycle()
    rows = {row.channel: row for row in Notification.objects.all()}
    assert rows["email"].status == "sent"
    assert rows["webpush"].status == "skipped"
    assert "no VAPID keys" in rows["webpush"].last_error


# --- Beat task and auto-watch --------------------------------------------------------------------------


def test_the_beat_task_polls_each_distinct_push_once_in_its_worker_and_requeues_lost_deliveries(
    upstream, clock, monkeypatch
):
    alice, bob = make_user("alice"), make_user("bob")
    shared, own = running_push(upstream), running_push(upstream)
    for user in (alice, bob):
        watch(user, shared)
    watch(alice, own)
    lost = Notification.objects.create(
        user=bob, repo="try", push_id=400, channel="email", title="Try push passed"
    )
    clock.shift(timedelta(minutes=5))
    polls, deliveries = [], []
    monkeypatch.setattr(tasks.poll_push, "apply_async", lambda *args, **kw: polls.append((args, kw)))
    monkeypatch.setattr(tasks.deliver_notification, "delay", deliveries.append)

    summary = tasks.poll_watched_pushes.apply().get()
    assert sorted(int(q["push_id"]) for q in jobs_queries(upstream)) == sorted([shared, own])
    assert polls == []  # nothing looks finished: no confirming poll is scheduled
    assert deliveries == [lost.pk]
    assert summary == {"pushes": 2, "polled": 2, "deferred": 0, "auto_watched": 0, "requeued": 1}
    assert set(PushState.objects.values_list("state", flat=True)) == {"running"}


def test_auto_watch_watches_new_pushes_of_the_users_author_email(upstream, run_cycle):
    from django.utils import timezone

    alice = make_user("alice", auto_watch=True, author_email="Dev@Mozilla.com")
    # A default repository only picks the list page: auto-watch still follows try.
    twin = make_user("twin", auto_watch=True, author_email="dev@mozilla.com", default_repo="autoland")
    make_user("other", auto_watch=True, notifications_enabled=False, author_email="dev@mozilla.com")
    running_push(upstream, pushed_ago=timedelta(days=3).total_seconds())  # before auto-watch was on
    new = running_push(upstream, pushed_ago=30)
    running_push(upstream, pushed_ago=30, author="someone@mozilla.com")
    UserSettings.objects.update(auto_watch_since=timezone.now() - timedelta(seconds=60))

    run_cycle()
    assert len(upstream.queries("/api/project/try/push/")) == 1  # one list request for the shared author
    watches = sorted(Watch.objects.values_list("user__username", "push_id", "auto"))
    assert watches == [("alice", new, True), ("twin", new, True)]
    assert PushState.objects.get(push_id=new).title == TITLE
    assert upstream.queries(f"/api/project/try/push/{new}/") == []  # the list already gave the title
    assert alice.buildwatch.auto_watch_since is not None and twin.pk


def test_auto_watch_since_follows_the_switch():
    user = make_user("alice")
    user_settings = UserSettings.for_user(user)
    assert user_settings.auto_watch_since is None
    user_settings.auto_watch = True
    user_settings.save(update_fields=["auto_watch"])
    user_settings.refresh_from_db()
    assert user_settings.auto_watch_since is not None
    user_settings.auto_watch = False
    user_settings.save()
    user_settings.refresh_from_db()
    assert user_settings.auto_watch_since is None


def test_a_change_committed_out_of_order_just_before_the_cursor_is_still_seen(upstream, run_cycle):
    push_id = running_push(upstream, jobs=4)
    watch(make_user("alice"), push_id)
    jobs = running_jobs(upstream, push_id)
    run_cycle()  # 09:00 full read
    upstream.set_job(jobs[1], "completed", "success")  # stamped 09:01:00
    run_cycle()  # 09:01 incremental: cursor moves to 09:01:00
    # Treeherder commits a change stamped two seconds before the cursor only now (at 09:02).
    upstream.set_job(jobs[2], "completed", "testfailed", at=upstream.now() - 62)
    run_cycle()  # 09:02 incremental
    assert "last_modified__gt" in jobs_queries(upstream)[-1]
    assert stored_job(push_id, jobs[2])[:2] == ["completed", "testfailed"]


def test_one_push_that_crashes_its_poll_does_not_starve_the_others(upstream, run_cycle, monkeypatch):
    alice = make_user("alice")
    broken, fine = running_push(upstream), running_push(upstream)
    watch(alice, broken)
    watch(alice, fine)
    real_write = poller.write_many

    def write(reads):  # a batch holding the broken push fails; then each of its pushes is stored alone
        if any(read.state.push_id == broken for read in reads):  # e.g. an upstream row no rule expected
            raise ValueError("unexpected job data")
        return real_write(reads)

    monkeypatch.setattr(poller, "write_many", write)
    output = run_cycle()
    assert f"try push {fine}: running" in output
    assert f"try push {broken}" in output and "unexpected job data" in output
    assert PushState.objects.get(push_id=fine).state == "running"
