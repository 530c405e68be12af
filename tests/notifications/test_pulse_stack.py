"""Pulse on the real stack: PostgreSQL + Redis, real `celery worker` and `celery beat`, the listener
(`manage.py listen_pulse`) on the machine's RabbitMQ (a virtual host of the test's own, tests/rabbitmq.py),
the fake Treeherder publishing its tasks' messages as they end, and a real SMTP server.

The beat runs at a production-like pace: a read every POLL_SECONDS, and a push is told at the earliest
at the next beat's read or the settle rule's confirming read (SETTLE_SECONDS later, may run 2 s early)
after the read that first saw it finished, so polling alone cannot tell anyone sooner than 18 s after a
push finishes here: a mail well before that came through Pulse. The listener reaches RabbitMQ through a TCP proxy
the test cuts or takes down, which breaks its connection and nothing else.

Skips (or fails, with BUILDWATCH_REQUIRE_SERVICES=1) when PostgreSQL, Redis or RabbitMQ is not on
127.0.0.1.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fakeherder.pulse import PulsePublisher
from tests.helpers import free_port, scratch_postgres_and_redis
from tests.rabbitmq import TcpProxy, amqp_url, pulse_vhost

from .test_real_stack import Mailbox, Stack, _migrate_with_users

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

REDIS_DB = int(os.environ.get("BUILDWATCH_TEST_REDIS_DB", "14"))
POLL_SECONDS = 20
SETTLE_SECONDS = 20
POLLING_AT_THE_EARLIEST = min(POLL_SECONDS, SETTLE_SECONDS - 2)  # finish -> mail, polling alone
QUIET = 6  # nothing more may arrive meanwhile


class PulseStack(Stack):
    def __init__(self, *args, publisher: PulsePublisher, proxy: TcpProxy, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.publisher, self.proxy = publisher, proxy

    @contextmanager
    def running(self, username: str, *, size: int = 6, followed: bool = True) -> Iterator[int]:
        """A new push (held running) that `username` watches, with one beat, one worker and one listener
        (through the proxy) running; with `followed`, once Pulse follows it. Everything stops after."""
        push_id = self.fake.add_push(
            messages=[f"Bug 1800200 - Pulse {uuid.uuid4().hex[:6]}. r=dev"], size=size, hold="running"
        )
        self.watch(username, push_id)
        self.beat("beat")
        self.worker("worker")
        self.listener()
        try:
            if followed:
                self.followed(push_id)
            yield push_id
        finally:
            self.stop_all()

    def followed(self, push_id: int) -> None:
        """Wait until the beat's first read has learned the push's task group, and the listener too."""
        self.wait_for(
            "the first read",
            lambda: self.query(
                "SELECT 1 FROM notifications_pushstate WHERE push_id = %s AND task_group <> ''", (push_id,)
            ),
            60,
        )
        time.sleep(2.5)  # the listener reads the watched task groups every 2 s

    def reads(self, push_id: int) -> int:
        """Reads of the push's jobs Treeherder served (first pages: one per poll)."""
        return sum(
            1
            for query in self.fake.queries("/api/jobs/")
            if query.get("push_id") == str(push_id) and "page" not in query
        )

    def log(self, name: str) -> str:
        return "\n".join(
            log.read_text(errors="replace") for _, log in self.processes if log.name.startswith(name)
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, fake_treeherder_server) -> Iterator[PulseStack]:
    with scratch_postgres_and_redis("buildwatch_pulse", REDIS_DB) as (dsn, redis_url), pulse_vhost() as vhost:
        from aiosmtpd.controller import Controller

        fake = fake_treeherder_server
        fake.reset("quick", speed=0)
        publisher = PulsePublisher(fake, amqp_url(vhost)).start()
        proxy = TcpProxy()
        mailbox = Mailbox()
        smtp_port = free_port()
        smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        tmp: Path = tmp_path_factory.mktemp("pulse-stack")
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DJANGO_", "CELERY_", "EMAIL_", "PULSE_"))
            },
            "DJANGO_SETTINGS_MODULE": "buildwatch.settings",
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_url,
            "TREEHERDER_URL": fake.url,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "BUILDWATCH_POLL_SECONDS": str(POLL_SECONDS),
            "BUILDWATCH_SETTLE_SECONDS": str(SETTLE_SECONDS),
            "BUILDWATCH_VAR_DIR": str(tmp),
            "PULSE_URL": proxy.url(vhost),
            "PULSE_QUEUE": f"stack-{uuid.uuid4().hex[:8]}",
            "PULSE_WAKE_GAP_SECONDS": "2",
            "SITE_URL": "http://buildwatch.test",
            "PYTHONUNBUFFERED": "1",
        }
        the_stack = PulseStack(env, dsn, fake, mailbox, tmp, publisher=publisher, proxy=proxy)
        try:
            _migrate_with_users(env, ("amy", "ben", "cat", "dan"))
            yield the_stack
        finally:
            the_stack.stop_all()
            proxy.close()
            publisher.stop()
            smtp.stop()


def _mail_once(stack: PulseStack, address: str, username: str, push_id: int, started: float) -> float:
    """Wait for the one mail; the seconds it took from `started`; then nothing more arrives."""
    stack.wait_for(f"the mail to {address}", lambda: stack.mailbox.to(address), 90)
    latency = time.monotonic() - started
    time.sleep(QUIET)
    assert len(stack.mailbox.to(address)) == 1
    assert stack.ledger(push_id) == [(username, "sent", 1, False)]
    return latency


def test_a_finished_push_is_told_within_seconds_through_pulse_and_unreadable_messages_change_nothing(stack):
    with stack.running("amy") as push_id:
        key = "route.tc-treeherder.v2.try.0123456789abcdef"
        for body in (b"{not json", b"\xff\xfe", b'{"version": 1, "status": {"taskGroupId": "x"}}'):
            stack.publisher.publish("task-completed", key, body)
        finished = time.monotonic()
        stack.fake.finish_push(push_id)
        latency = _mail_once(stack, "amy@example.com", "amy", push_id, finished)
        print(
            f"finish -> mail with Pulse: {latency:.1f} s (polling alone: at least {POLLING_AT_THE_EARLIEST} s)"
        )
        assert (
            latency < POLLING_AT_THE_EARLIEST - 3
        )  # sooner than polling alone can tell: Pulse woke the poll
        listener = stack.log("listener")
        assert listener.count("Unreadable Pulse message") == 3 and "Woke the poll" in listener


def test_a_burst_of_two_thousand_task_messages_costs_a_handful_of_reads(stack):
    with stack.running("ben", size=2001) as push_id:
        before = stack.reads(push_id)
        sent = stack.publisher.published["task-completed"]
        finished = time.monotonic()
        stack.fake.finish_push(push_id)
        _mail_once(stack, "ben@example.com", "ben", push_id, finished)
        assert stack.publisher.published["task-completed"] - sent == 2000
        reads = stack.reads(push_id) - before
        print(f"2,000 task messages and the group's resolution: {reads} reads of the push")
        assert 1 <= reads <= 5


def test_pulse_cut_off_mid_push_the_listener_reconnects_and_nothing_is_lost_or_doubled(stack):
    try:
        with stack.running("cat") as push_id:
            stack.proxy.down()  # Pulse goes away: the connection drops and new ones are refused
            stack.wait_for(
                "the listener to notice", lambda: "Pulse connection lost" in stack.log("listener"), 30
            )
            finished = time.monotonic()
            stack.fake.finish_push(push_id)  # its messages wait in the listener's durable queue
            time.sleep(3)
            stack.proxy.up()
            _mail_once(stack, "cat@example.com", "cat", push_id, finished)
            listener = stack.log("listener")
            assert listener.count("Listening to Pulse on") >= 2 and "Woke the poll of try push" in listener
    finally:
        stack.proxy.up()


def test_with_pulse_down_polling_alone_still_notifies(stack):
    stack.proxy.down()
    try:
        with stack.running("dan", followed=False) as push_id:
            stack.wait_for(
                "the first read",
                lambda: stack.query(
                    "SELECT 1 FROM notifications_pushstate WHERE push_id = %s AND job_count > 0", (push_id,)
                ),
                60,
            )
            finished = time.monotonic()
            stack.fake.finish_push(push_id)
            latency = _mail_once(stack, "dan@example.com", "dan", push_id, finished)
            print(f"finish -> mail with Pulse down: {latency:.1f} s")
            listener = stack.log("listener")
            assert "Pulse connection lost or refused" in listener and "Woke the poll" not in listener
    finally:
        stack.proxy.up()
