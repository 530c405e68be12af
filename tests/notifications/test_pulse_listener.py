"""The Pulse listener against the machine's RabbitMQ: the fake Treeherder publishes Taskcluster-shaped
messages as its jobs end (fakeherder/pulse.py), the listener (notifications/pulse_listener.py) runs in a
thread with its queue, bindings and acks, and a recording `wake` stands for the Celery task. A TCP proxy
between them breaks just this listener's connection. The whole stack (worker, beat, mail) is
test_pulse_stack.py.

Skips (or fails, with BUILDWATCH_REQUIRE_SERVICES=1) when RabbitMQ is not on 127.0.0.1:5672.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kombu import Connection

from fakeherder import FakeTreeherder
from fakeherder.pulse import PulsePublisher
from notifications import pulse_listener, wake
from notifications.models import PushState
from notifications.pulse import Kind
from notifications.pulse_listener import PulseListener
from tests.rabbitmq import TcpProxy, amqp_url, pulse_vhost

from .test_poller import make_user, watch

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def vhost() -> Iterator[str]:
    with pulse_vhost() as name:
        yield name


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, vhost: str) -> Iterator[tuple[FakeTreeherder, PulsePublisher]]:
    publisher = PulsePublisher(fake_treeherder, amqp_url(vhost)).start()
    yield fake_treeherder, publisher
    publisher.stop()


class Wakes:
    """The listener's `wake`: records each wake-up; `refuse` makes it raise, as a broker that is down."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, Kind]] = []
        self.refuse = False
        self._lock = threading.Lock()

    def __call__(self, repo: str, push_id: int, kind: Kind) -> None:
        if self.refuse:
            raise ConnectionError("the Celery broker is down")
        with self._lock:
            self.calls.append((repo, push_id, kind))

    def of(self, push_id: int) -> list[Kind]:
        with self._lock:
            return [kind for _, pushed, kind in self.calls if pushed == push_id]


@pytest.fixture
def listen(vhost: str, settings) -> Iterator[Callable[..., tuple[PulseListener, Wakes]]]:
    """Start a listener in a thread on a queue of its own (through `proxy` when given); stopped and its
    queue deleted at the end."""
    started: list[tuple[PulseListener, threading.Thread]] = []
    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.PULSE_URL = amqp_url(vhost)

    def start(*, gap: float = 60.0, proxy: TcpProxy | None = None) -> tuple[PulseListener, Wakes]:
        wakes = Wakes()
        url = proxy.url(vhost) if proxy else amqp_url(vhost)
        listener = PulseListener(url, queue, ["try"], wake=wakes, gap=gap)
        thread = threading.Thread(target=listener.run, daemon=True)
        thread.start()
        started.append((listener, thread))
        assert listener.connected.wait(20), "the listener did not connect"
        return listener, wakes

    yield start
    for listener, thread in started:
        listener.stop.set()
        thread.join(timeout=15)
    with Connection(amqp_url(vhost)) as conn:
        conn.default_channel.queue_delete(f"queue/guest/{queue}")


def left_in_queue(vhost: str, listener: PulseListener) -> int:
    """Messages waiting in the listener's queue. With the listener stopped, what it had not acked is
    back there too."""
    with Connection(amqp_url(vhost)) as conn:
        return conn.default_channel.queue_declare(listener.queue_name, passive=True).message_count


def stop(listener: PulseListener) -> None:
    listener.stop.set()
    deadline = time.monotonic() + 15
    while listener.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the broker requeues what the closed channel had not acked


def wait_for(what: str, check: Callable[[], object], timeout: float = 20) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def watched_push(fake: FakeTreeherder, publisher: PulsePublisher, size: int = 6) -> int:
    """A running push, watched, whose task group the poller knows (as after its first poll); its
    decision task's end is published at once (before a listener's queue exists)."""
    push_id = fake.add_push(size=size, hold="running")
    publisher.sync()
    watch(make_user(f"user{push_id}"), push_id)
    PushState.objects.create(
        repo="try", push_id=push_id, state="running", task_group=fake.decision_task_id(push_id)
    )
    return push_id


def test_a_burst_of_two_thousand_task_messages_wakes_a_handful_of_polls_and_is_all_acked(fake, listen, vhost):
    upstream, publisher = fake
    push_id = watched_push(upstream, publisher, size=2001)
    other = upstream.add_push(size=6, hold="running")  # nobody watches it
    publisher.sync()  # their decision tasks ended before the listener's queue existed
    listener, wakes = listen(gap=60)
    upstream.finish_push(push_id)
    upstream.finish_push(other)
    publisher.sync()
    assert publisher.published["task-completed"] == 2 + 2000 + 5
    wait_for("the resolution's wake-up", lambda: Kind.RESOLVED in wakes.of(push_id))
    wait_for("every message taken", lambda: listener.counts["messages"] == 2000 + 5 + 2)
    time.sleep(1.5)
    assert 1 <= len(wakes.of(push_id)) <= 3  # at once, then at most one more: not one per message
    assert wakes.of(push_id)[-1] == Kind.RESOLVED and wakes.of(other) == []
    assert listener.counts["ignored"] == 5 + 1  # the unwatched push's tasks and its resolution
    stop(listener)
    assert left_in_queue(vhost, listener) == 0  # all acked: none comes back


def test_unreadable_messages_are_logged_acked_and_the_listener_goes_on(fake, listen, vhost, caplog):
    upstream, publisher = fake
    push_id = watched_push(upstream, publisher)
    listener, wakes = listen(gap=0.5)
    key = "route.tc-treeherder.v2.try.0123456789abcdef"
    caplog.set_level(logging.WARNING, logger="notifications.pulse_listener")
    publisher.publish("task-completed", key, b"{not json", cc=())
    publisher.publish("task-failed", key, b"\x00\xff binary", content_type="application/octet-stream")
    publisher.publish("task-exception", key, {"version": 1, "status": {"taskGroupId": "../../etc"}})
    publisher.publish("task-group-resolved", "primary.x.gecko-level-1._", {"schedulerId": "gecko-level-1"})
    publisher.publish("task-completed", key, b"[" * 300_000)
    upstream.add_job(push_id, "completed", result="testfailed")  # then a good one
    publisher.sync()
    wait_for("the good message's wake-up", lambda: wakes.of(push_id))
    assert wakes.of(push_id) == [Kind.FAILED]
    assert listener.counts["unreadable"] == 5
    warnings = [r.getMessage() for r in caplog.records if "Unreadable Pulse message" in r.getMessage()]
    assert len(warnings) == 5 and "not JSON" in warnings[0] and "too large" in warnings[-1]
    stop(listener)
    assert left_in_queue(vhost, listener) == 0  # never redelivered


def test_a_message_is_acked_only_once_its_poll_is_enqueued(fake, listen, vhost, monkeypatch):
    monkeypatch.setattr(pulse_listener, "ENQUEUE_RETRY", 0.5)
    upstream, publisher = fake
    push_id = watched_push(upstream, publisher)
    listener, wakes = listen(gap=60)
    wakes.refuse = True  # Celery's broker is down
    upstream.add_job(push_id, "completed")
    publisher.sync()
    wait_for("the message", lambda: listener.counts["messages"])
    time.sleep(1.2)  # tried and refused, twice
    assert wakes.of(push_id) == [] and listener.coalescer.pending  # held, unacked
    wakes.refuse = False
    wait_for("the wake-up once the broker is back", lambda: wakes.of(push_id))
    assert wakes.of(push_id) == [Kind.COMPLETED]
    stop(listener)
    assert left_in_queue(vhost, listener) == 0


def test_a_listener_cut_off_from_pulse_reconnects_and_nothing_is_lost_or_doubled(
    fake, listen, vhost, settings
):
    """Pulse goes away (the connection cut, new ones refused) while a push finishes; its messages wait
    in the durable queue; the listener reconnects with backoff and wakes the poll once. A message it
    held unacked when the connection dropped is delivered again, and still wakes one poll."""
    upstream, publisher = fake
    push_id = watched_push(upstream, publisher)
    proxy = TcpProxy()
    try:
        listener, wakes = listen(gap=60, proxy=proxy)
        wakes.refuse = True
        upstream.add_job(push_id, "completed")  # held: its wake-up cannot be enqueued yet
        publisher.sync()
        wait_for("the first message", lambda: listener.counts["messages"])
        proxy.down()
        wait_for("the listener to notice", lambda: not listener.connected.is_set(), timeout=10)
        assert not wake.pulse_live()  # the beat polls as without Pulse meanwhile
        wakes.refuse = False
        upstream.finish_push(push_id)  # published to RabbitMQ while the listener is away
        publisher.sync()
        time.sleep(2)
        assert wakes.of(push_id) in ([], [Kind.COMPLETED])  # at most the wake-up it already had
        proxy.up()
        wait_for("the reconnection", listener.connected.is_set, timeout=30)
        wait_for("the finishing wake-up", lambda: Kind.RESOLVED in wakes.of(push_id))
        time.sleep(1.5)
        assert wakes.of(push_id)[-1] == Kind.RESOLVED and len(wakes.of(push_id)) <= 3
        assert wake.pulse_live()
        assert proxy.accepted >= 2
        stop(listener)
        assert left_in_queue(vhost, listener) == 0
    finally:
        proxy.close()


def test_a_message_heard_just_before_the_poller_learned_its_push_s_task_group_still_wakes_it(
    fake, listen, vhost, monkeypatch
):
    monkeypatch.setattr(pulse_listener, "INDEX_EVERY", 0.5)
    upstream, publisher = fake
    push_id = watched_push(upstream, publisher)
    PushState.objects.filter(push_id=push_id).update(task_group="")  # not read by the poller yet
    listener, wakes = listen(gap=60)
    upstream.add_job(push_id, "completed", result="busted")
    publisher.sync()
    wait_for("the message", lambda: listener.counts["ignored"])
    PushState.objects.filter(push_id=push_id).update(task_group=upstream.decision_task_id(push_id))
    wait_for("the wake-up", lambda: wakes.of(push_id))
    assert wakes.of(push_id) == [Kind.FAILED]
    stop(listener)
    assert left_in_queue(vhost, listener) == 0
