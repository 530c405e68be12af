"""What a Pulse message changes (notifications/wake.py), against the fake Treeherder over HTTP and the
database: the woken poll and its settle rule, the re-reads of a resolved task group until Treeherder
agrees, the early-alert check, and how far the beat relies on a live listener (its safety net)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache

from notifications import cycle, outbox, poller, wake
from notifications.models import PushState
from notifications.pulse import Kind
from tests.notifications import test_poller as poller_tests
from tests.notifications.test_poller import complete_all, make_user, running_push, watch

# test_poller's fixtures: its frozen clock, and the fake started over on it
clock, upstream = poller_tests.clock, poller_tests.upstream

pytestmark = pytest.mark.django_db

FAILURE = "TEST-UNEXPECTED-FAIL | dom/base/test/test_woken.html | got 1, expected 2"


@pytest.fixture(autouse=True)
def settle(settings) -> None:
    settings.BUILDWATCH_SETTLE_SECONDS = 15


@pytest.fixture
def woken(clock, django_capture_on_commit_callbacks):
    """A woken poll as the Celery task runs it (deliveries sent at once); then two seconds pass."""

    def run(push_id: int, kind: Kind, attempt: int = 0) -> wake.WakeOutcome:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = wake.woken_poll("try", push_id, kind, attempt, enqueue=outbox.deliver)
        clock.shift(2)
        return outcome

    return run


def beat_poll(push_id: int, capture) -> poller.PollResult:
    with capture(execute=True):
        return poller.poll_push("try", push_id, enqueue=outbox.deliver, min_interval=0)


@pytest.fixture
def watched(upstream, django_capture_on_commit_callbacks, clock) -> int:
    """A running push, watched, read once by the beat two seconds ago."""
    push_id = running_push(upstream, jobs=3)
    watch(make_user("alice"), push_id)
    beat_poll(push_id, django_capture_on_commit_callbacks)
    clock.shift(2)
    return push_id


def test_the_poller_learns_each_push_s_task_group_from_its_decision_task(upstream, watched):
    assert PushState.objects.get(push_id=watched).task_group == upstream.decision_task_id(watched)
    assert wake.followed_task_groups() == {upstream.decision_task_id(watched): ("try", watched)}


def test_a_task_message_reads_the_push_at_once_but_never_confirms_a_finish_early(
    upstream, watched, woken, clock
):
    complete_all(upstream, watched)
    first = woken(watched, Kind.COMPLETED)
    assert first.result.polled and first.confirm_in == 15 and mail.outbox == []
    due = PushState.objects.get(push_id=watched).confirm_at
    second = woken(watched, Kind.COMPLETED)  # 2 s later: the same jobs, too soon to tell anyone
    assert second.result.polled and second.confirm_in is None and mail.outbox == []
    assert PushState.objects.get(push_id=watched).confirm_at == due  # not postponed either
    clock.shift(11)
    assert woken(watched, Kind.COMPLETED).result.finished_now  # 15 s after the first read: told
    assert [m.subject for m in mail.outbox] == ["Try push passed: Bug 1 - Fix the frobnicator"]


def test_a_resolved_task_group_is_told_after_two_agreeing_reads_seconds_apart(upstream, watched, woken):
    complete_all(upstream, watched)
    first = woken(watched, Kind.RESOLVED)
    assert first.result.full_read and not first.result.finished_now and first.again_in == wake.RECHECK_SECONDS
    assert mail.outbox == []
    second = woken(watched, Kind.RESOLVED, attempt=1)
    assert second.result.finished_now and second.again_in is None
    assert len(mail.outbox) == 1
    assert woken(watched, Kind.RESOLVED, attempt=2).again_in is None  # a duplicate message: nothing more
    assert len(mail.outbox) == 1


def test_a_resolution_treeherder_does_not_show_yet_is_read_again_then_left_to_the_beat(
    upstream, watched, woken, settings
):
    settings.PULSE_URL = "amqp://buildwatch:secret@127.0.0.1:5672/"
    wake.record_status(connected=True, last_message=time.time())
    for attempt in range(wake.RECHECKS):
        outcome = woken(watched, Kind.RESOLVED, attempt)
        assert outcome.result.polled and outcome.again_in == wake.RECHECK_SECONDS
    assert wake.beat_pushes([("try", watched)]) == []  # Pulse follows it: the safety net only
    assert woken(watched, Kind.RESOLVED, wake.RECHECKS).again_in is None  # bounded
    assert wake.beat_pushes([("try", watched)]) == [("try", watched)]  # from now on: polled as always
    assert mail.outbox == []


def test_a_failed_task_wakes_the_early_alert_check(upstream, watched, woken):
    upstream.add_job(watched, "completed", result="testfailed", errors=[FAILURE])
    for attempt in range(3):
        woken(watched, Kind.FAILED, attempt)
    [early] = mail.outbox
    assert early.extra_headers["X-BuildWatch-Kind"] == "early" and "test_woken.html" in early.body


def test_a_push_another_poll_just_claimed_is_tried_once_more_a_moment_later(
    upstream, watched, django_capture_on_commit_callbacks
):
    beat_poll(watched, django_capture_on_commit_callbacks)
    outcome = wake.woken_poll("try", watched, Kind.COMPLETED, enqueue=outbox.deliver)
    assert not outcome.result.polled and outcome.again_in == wake.CLAIM_GAP
    assert wake.woken_poll("try", watched, Kind.COMPLETED, 1, enqueue=outbox.deliver).again_in is None


# --- The beat's safety net ---------------------------------------------------------------------------------


@pytest.fixture
def live(settings):
    settings.PULSE_URL = "amqp://buildwatch:secret@127.0.0.1:5672/"
    settings.PULSE_REPOS = ["try"]
    settings.PULSE_SAFETY_POLL_SECONDS = 300
    settings.PULSE_SILENCE_SECONDS = 600
    wake.record_status(connected=True, last_message=time.time())


def test_a_live_listener_lets_the_beat_read_followed_pushes_only_as_a_safety_net(
    upstream, watched, live, clock, django_capture_on_commit_callbacks
):
    other = running_push(upstream, jobs=2)
    watch(make_user("bob"), other)  # never read: its task group is unknown
    pushes = [("try", watched), ("try", other), ("autoland", 5)]
    assert wake.beat_pushes(pushes) == [("try", other), ("autoland", 5)]
    clock.shift(301)
    wake.record_status(connected=True, last_message=time.time())
    assert wake.beat_pushes(pushes) == pushes  # not read for PULSE_SAFETY_POLL_SECONDS: read it
    with django_capture_on_commit_callbacks(execute=True):
        summary = cycle.poll_cycle(dispatch_delivery=outbox.deliver, min_interval=0)
    assert {(r.repo, r.push_id) for r in summary.results if r.polled} == {("try", watched), ("try", other)}
    with django_capture_on_commit_callbacks(execute=True):
        summary = cycle.poll_cycle(dispatch_delivery=outbox.deliver, min_interval=0)
    assert {(r.repo, r.push_id) for r in summary.results if r.polled} == set()  # both followed now


@pytest.mark.parametrize(
    "how",
    ["unconfigured", "never started", "disconnected", "gone", "silent"],
)
def test_without_a_live_listener_the_beat_polls_exactly_as_without_pulse(
    upstream, watched, live, settings, how
):
    now = time.time()
    if how == "unconfigured":
        settings.PULSE_URL = ""
    elif how == "never started":
        cache.clear()
    elif how == "disconnected":
        wake.record_status(connected=False, last_message=now)
    elif how == "gone":  # its last word is older than the listener's heartbeat allows
        with time_machine.travel(now - wake.STATUS_STALE - 1, tick=False):
            wake.record_status(connected=True, last_message=now - wake.STATUS_STALE - 1)
    else:  # connected, but no message at all for longer than PULSE_SILENCE_SECONDS
        wake.record_status(connected=True, last_message=now - 601)
    assert not wake.pulse_live()
    assert wake.beat_pushes([("try", watched)]) == [("try", watched)]


def test_a_failure_still_waiting_for_its_early_alert_is_polled_by_the_beat(upstream, watched, live, woken):
    upstream.add_job(watched, "completed", result="testfailed", errors=[FAILURE])
    upstream.jobs_by_id[upstream.job_ids(watched, result="testfailed")[0]].parse_delay = 10**6
    woken(watched, Kind.FAILED)
    assert PushState.objects.get(push_id=watched).failed_count == 1 and mail.outbox == []
    assert wake.beat_pushes([("try", watched)]) == [("try", watched)]


def test_a_push_whose_last_read_failed_is_polled_by_the_beat(upstream, watched, live, woken):
    upstream.set_down(True)
    woken(watched, Kind.COMPLETED)
    assert PushState.objects.get(push_id=watched).last_error
    assert wake.beat_pushes([("try", watched)]) == [("try", watched)]
    upstream.set_down(False)
    woken(watched, Kind.COMPLETED)
    assert wake.beat_pushes([("try", watched)]) == []


def test_the_safety_net_counts_from_the_last_read_of_any_kind(upstream, watched, live, woken, clock):
    clock.shift(timedelta(seconds=290))
    woken(watched, Kind.COMPLETED)
    clock.shift(timedelta(seconds=290))
    wake.record_status(connected=True, last_message=time.time())
    assert wake.beat_pushes([("try", watched)]) == []


def test_listen_pulse_says_what_it_needs_and_its_health_check_reads_the_listener_s_status(settings):
    from django.core.management import CommandError, call_command

    settings.PULSE_URL = ""
    with pytest.raises(CommandError, match="PULSE_URL is not set"):
        call_command("listen_pulse")
    with pytest.raises(CommandError, match="no Pulse listener is connected"):
        call_command("listen_pulse", "--check")
    wake.record_status(connected=True, last_message=time.time())
    call_command("listen_pulse", "--check")
    wake.record_status(connected=False, last_message=time.time())
    with pytest.raises(CommandError, match="no Pulse listener is connected"):
        call_command("listen_pulse", "--check")
