"""The Pulse listener (`manage.py listen_pulse`, its own process): consume Taskcluster's queue events
from a durable queue it owns and wake the poll of the watched push each one is about.

One thread, one AMQP connection (kombu over py-amqp). It declares `queue/<user>/<PULSE_QUEUE>`
(durable: messages wait there while the listener restarts), binds it as notifications/pulse.py says,
and consumes with manual acks:

- a message it cannot read is logged and acked (never redelivered forever);
- a message about a task group that is not a watched push's is acked: most of try is not watched
  (its group is remembered for a few seconds: should the poller learn meanwhile that a watched push
  has it, the next read of the watched groups wakes that push's poll);
- a message about a watched push joins that push's pending wake-up (`Coalescer`); the wake-up is
  enqueued as the Celery task `wake_push`, and only then are its messages acked, so a listener that
  dies in between leaves them to be delivered again (a second poll changes nothing). Of the messages
  folded into one wake-up, one per kind is kept unacked; the others say nothing more and are acked.

The connection has AMQP heartbeats; when it drops (Pulse restarted, the network) the listener
reconnects with exponential backoff (1 s doubling to 60 s, jittered), and the beat polls as without
Pulse meanwhile (the listener's status, notifications/wake.py). Which task group is which push comes
from PushState.task_group (the poller learns it from the decision task), re-read every INDEX_EVERY s.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from django.db import close_old_connections
from kombu import Connection, Consumer, Queue
from kombu.message import Message

from . import pulse, wake
from .pulse import Kind

logger = logging.getLogger(__name__)

PREFETCH = 500  # unacked messages Pulse sends ahead; only a few per pending push are held
HEARTBEAT = 30  # AMQP heartbeat, seconds
TICK = 1.0  # the longest the loop waits for a message before doing its chores
COLLECT = 0.2  # after a message, wait this long for more before waking any poll: a burst is one wake-up
RESOLVED_GAP = 1.0  # a task group's resolution wakes its push at once, at most once per this many s
INDEX_EVERY = 2.0  # seconds between reads of the watched pushes' task groups
# Task groups of recent messages not (yet) known to be watched: at most this many, for this long.
UNKNOWN_KEPT, UNKNOWN_FOR = 50_000, 3 * INDEX_EVERY
ENQUEUE_RETRY = 5.0  # the broker did not take a wake-up: try again this much later
BACKOFF_START, BACKOFF_MAX = 1.0, 60.0

Push = tuple[str, int]
Wake = Callable[[str, int, Kind], None]


@dataclass
class Pending:
    kind: Kind
    due: float
    messages: dict[Kind, Message] = field(default_factory=dict)


@dataclass
class WakeUp:
    push: Push
    kind: Kind
    messages: dict[Kind, Message]  # acked once the wake-up is enqueued


class Coalescer:
    """Many messages, few polls. Per push, a message after a quiet spell wakes a poll at once; task
    messages within `gap` seconds of that poll are folded into one more, when the gap ends (the last
    message of a burst is never left unread); a task group's resolution waits at most `resolved_gap`.
    A wake-up takes the strongest kind it folded (resolved > failed > completed). Times are the
    caller's monotonic clock."""

    def __init__(self, gap: float, resolved_gap: float = RESOLVED_GAP) -> None:
        self.gap, self.resolved_gap = gap, resolved_gap
        self.pending: dict[Push, Pending] = {}
        self.last: dict[Push, float] = {}  # when a wake-up of the push was last handed out

    def add(self, push: Push, kind: Kind, message: Message | None, now: float) -> bool:
        """Fold a message in; True when the message is kept (ack it once its wake-up is enqueued),
        False when an earlier message of the same push and kind already stands for it (ack it now)."""
        last = self.last.get(push)
        wait = self.resolved_gap if kind == Kind.RESOLVED else self.gap
        due = now if last is None else max(now, last + wait)
        pending = self.pending.get(push)
        if pending is None:
            pending = self.pending[push] = Pending(kind, due)
        else:
            pending.kind = max(pending.kind, kind)
            pending.due = min(pending.due, due)
        if message is None or kind in pending.messages:
            return False
        pending.messages[kind] = message
        return True

    def due(self, now: float) -> list[WakeUp]:
        """The wake-ups due now, handed out once each."""
        ready = [push for push, pending in self.pending.items() if pending.due <= now]
        wakeups = []
        for push in ready:
            pending = self.pending.pop(push)
            self.last[push] = now
            wakeups.append(WakeUp(push, pending.kind, pending.messages))
        if len(self.last) > 10_000:  # forget pushes quiet for longer than any gap
            horizon = now - max(self.gap, self.resolved_gap)
            self.last = {push: at for push, at in self.last.items() if at > horizon}
        return wakeups

    def retry(self, wakeup: WakeUp, at: float) -> list[Message]:
        """A wake-up that could not be enqueued comes back, due at `at`, with its messages; returns
        those a message folded in meanwhile already stands for (ack them)."""
        pending = self.pending.setdefault(wakeup.push, Pending(wakeup.kind, at))
        pending.kind = max(pending.kind, wakeup.kind)
        pending.due = min(pending.due, at)
        redundant = []
        for kind, message in wakeup.messages.items():
            if pending.messages.setdefault(kind, message) is not message:
                redundant.append(message)
        return redundant

    def next_due(self) -> float | None:
        return min((pending.due for pending in self.pending.values()), default=None)

    def forget_messages(self) -> None:
        """The connection is gone and with it the right to ack: Pulse delivers those messages again.
        The wake-ups stay due."""
        for pending in self.pending.values():
            pending.messages.clear()


class PulseListener:
    """See the module docstring. `wake(repo, push_id, kind)` enqueues a poll (and raises when it
    cannot); `run()` returns once `stop` is set."""

    def __init__(
        self,
        url: str,
        queue: str,
        repos: list[str],
        *,
        wake: Wake,
        gap: float,
        stop: threading.Event | None = None,
    ) -> None:
        self.url = url
        self.user = unquote(urlsplit(url).username or "")
        self.queue_name = pulse.queue_name(self.user, queue)
        self.bindings = pulse.bindings(repos)
        self.wake = wake
        self.stop = stop or threading.Event()
        self.coalescer = Coalescer(gap)
        self.index: dict[str, Push] = {}
        self.unknown: dict[str, tuple[Kind, float]] = {}  # task group -> strongest kind, when last heard
        self.connected = threading.Event()  # set while a session consumes (tests wait on it)
        self.last_message = time.time()
        self.counts: dict[str, int] = {"messages": 0, "unreadable": 0, "ignored": 0, "wakeups": 0}
        self._index_at = self._status_at = float("-inf")
        self._backoff = BACKOFF_START

    # --- the process ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until stopped; reconnect with backoff whenever the connection or channel fails."""
        errors = _errors(self.url)
        while not self.stop.is_set():
            try:
                self._session()
            except errors as problem:
                logger.warning("Pulse connection lost or refused: %s", problem or type(problem).__name__)
            except Exception:  # never give up on Pulse for a bug in one message's handling
                logger.exception("Pulse listener failed")
            self.connected.clear()
            self.coalescer.forget_messages()
            wake.record_status(connected=False, last_message=self.last_message)
            if self.stop.is_set():
                break
            delay = self._backoff * random.uniform(0.7, 1.0)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            logger.info("Reconnecting to Pulse in %.1f s", delay)
            self.stop.wait(delay)

    def _session(self) -> None:
        with Connection(self.url, heartbeat=HEARTBEAT, connect_timeout=10) as conn:
            conn.connect()
            channel = conn.channel()
            channel.basic_qos(prefetch_size=0, prefetch_count=PREFETCH, a_global=False)
            queue = Queue(self.queue_name, durable=True, auto_delete=False, channel=channel)
            queue.declare()
            for exchange, routing_key in self.bindings:
                queue.bind_to(exchange=exchange, routing_key=routing_key)
            self.last_message = time.time()  # a connection is a sign of life too
            self._index_at = self._status_at = float("-inf")
            self._chores(time.monotonic())  # know the watched task groups before the first message
            consumer = Consumer(channel, queues=[queue], on_message=self._on_message, auto_declare=False)
            consumer.consume()
            self._backoff = BACKOFF_START
            logger.info("Listening to Pulse on %s (%d bindings)", self.queue_name, len(self.bindings))
            self.connected.set()
            while not self.stop.is_set():
                self._drain(conn)
                conn.heartbeat_check()
                now = time.monotonic()
                self._flush(now)
                self._chores(now)

    def _drain(self, conn: Connection) -> None:
        """Wait for a message (at most TICK, less when a wake-up falls due), then take whatever else
        arrives within COLLECT: a burst becomes one wake-up per push, not one per message."""
        now = time.monotonic()
        due = self.coalescer.next_due()
        wait = TICK if due is None else min(TICK, max(due - now, 0.01))
        try:
            conn.drain_events(timeout=wait)
        except TimeoutError:
            return
        end = time.monotonic() + COLLECT
        while (left := end - time.monotonic()) > 0:
            try:
                conn.drain_events(timeout=left)
            except TimeoutError:
                return

    # --- messages -------------------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        self.last_message = time.time()
        self.counts["messages"] += 1
        info = message.delivery_info or {}
        exchange, routing_key = info.get("exchange", ""), info.get("routing_key", "")
        try:
            event = pulse.parse(exchange, pulse.decode(message.body))
        except pulse.BadMessage as problem:
            self.counts["unreadable"] += 1
            logger.warning(
                "Unreadable Pulse message on %s %s, dropped: %s", exchange, routing_key[:200], problem
            )
            message.ack()
            return
        push = self.index.get(event.task_group)
        if push is None:
            self.counts["ignored"] += 1
            kind, _ = self.unknown.pop(event.task_group, (event.kind, 0.0))
            self.unknown[event.task_group] = (max(kind, event.kind), time.monotonic())
            message.ack()
            return
        if not self.coalescer.add(push, event.kind, message, time.monotonic()):
            message.ack()

    def _flush(self, now: float) -> None:
        for wakeup in self.coalescer.due(now):
            repo, push_id = wakeup.push
            try:
                self.wake(repo, push_id, wakeup.kind)
            except Exception:
                logger.exception("Could not enqueue the poll of %s push %s: trying again", repo, push_id)
                for message in self.coalescer.retry(wakeup, now + ENQUEUE_RETRY):
                    message.ack()
                continue
            self.counts["wakeups"] += 1
            logger.info("Woke the poll of %s push %s (%s)", repo, push_id, wakeup.kind.name.lower())
            for message in wakeup.messages.values():
                message.ack()

    def _wake_newly_known(self, now: float) -> None:
        """Messages heard just before the poller learned their push's task group still wake it (without
        a message to ack: those were acked as not ours)."""
        horizon = now - UNKNOWN_FOR
        for group, (kind, heard) in list(self.unknown.items()):
            if heard < horizon or len(self.unknown) > UNKNOWN_KEPT:
                del self.unknown[group]
            elif (push := self.index.get(group)) is not None:
                del self.unknown[group]
                self.coalescer.add(push, kind, None, now)

    def _chores(self, now: float) -> None:
        if now - self._index_at >= INDEX_EVERY:
            self._index_at = now
            close_old_connections()  # a long-running process: as Django does around each request
            index = wake.followed_task_groups()
            if index is not None:
                self.index = index
                self._wake_newly_known(now)
        if now - self._status_at >= wake.STATUS_EVERY:
            self._status_at = now
            wake.record_status(connected=True, last_message=self.last_message)


def _errors(url: str) -> tuple[type[BaseException], ...]:
    """What a lost or refused connection, or a refused binding, raises (kombu's, and the socket's)."""
    probe = Connection(url)
    return (OSError, socket.timeout, *probe.connection_errors, *probe.channel_errors)
