"""The promise on the real stack: PostgreSQL + Redis + real `celery worker`/`celery beat` processes,
the fake Treeherder over HTTP and a real SMTP server (aiosmtpd) — exactly one mail per user and push,
with one beat, with two beats and two workers (each beat dispatching), with a worker SIGKILLed between
claim and send, and one message (a second copy with the same Message-ID at most) when it is SIGKILLed
after DATA, while it waits for the server's answer. "Nothing more arrives" is checked for QUIET seconds:
past the sweep of a dead worker's claim (time limit + 5 s) and past the first retry's backoff.

Every test runs twice: with polling alone, and with the Pulse listener (`manage.py listen_pulse`) running
too, woken by the fake's messages on the machine's RabbitMQ (tests/rabbitmq.py) — its polls go through
the same claims and ledger, so the promise holds with both.

Skips (or fails, with BUILDWATCH_REQUIRE_SERVICES=1) when PostgreSQL, Redis or (with Pulse) RabbitMQ is
not on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.helpers import free_port, scratch_postgres_and_redis
from tests.rabbitmq import amqp_url, pulse_vhost

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

BASE_DIR = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")
REDIS_DB = int(os.environ.get("BUILDWATCH_TEST_REDIS_DB", "14"))
TIME_LIMIT = 6  # hard task time limit in the workers: a claim older than this + 5 s is a dead worker's
RETRY_SECONDS = 4  # the first backoff after a failed send (BUILDWATCH_RETRY_SECONDS)
POLL_SECONDS = 1
SETTLE_SECONDS = 1  # the confirming read after a push first looks finished (BUILDWATCH_SETTLE_SECONDS)
QUIET = max(TIME_LIMIT + 5, RETRY_SECONDS) + 2 * POLL_SECONDS + 1  # a sweep or a retry would be here by now


# --- SMTP ------------------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler keeping every message; `slow_next` stalls the next RCPT (a send in progress),
    `slow_answer_next` keeps the next message and stalls before answering it (the worker is killed
    after DATA, not knowing the server took it)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], object]] = []
        self.slow_next = False
        self.slow_answer_next = False
        self.stalled = threading.Event()
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        if self.slow_next:
            self.slow_next = False
            self.stalled.set()
            await asyncio.sleep(20)  # the worker is killed while it waits here: DATA never comes
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        if self.slow_answer_next:
            self.slow_answer_next = False
            self.stalled.set()
            await asyncio.sleep(20)  # taken; the worker is killed before this answer reaches it
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        with self._lock:
            return [message for rcpts, message in self.messages if address in rcpts]


# --- The stack -------------------------------------------------------------------------------------


class Stack:
    def __init__(self, env: dict[str, str], dsn: str, fake, mailbox: Mailbox, tmp: Path) -> None:
        self.env, self.dsn, self.fake, self.mailbox, self.tmp = env, dsn, fake, mailbox, tmp
        self.processes: list[tuple[subprocess.Popen, Path]] = []
        self.pulse = bool(env.get("PULSE_URL"))

    def start(
        self, *args: str, name: str, command: tuple[str, ...] = (CELERY, "-A", "buildwatch")
    ) -> subprocess.Popen:
        log = self.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
        process = subprocess.Popen(
            [*command, *args],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes the pool children too
        )
        self.processes.append((process, log))
        return process

    def worker(self, name: str) -> subprocess.Popen:
        return self.start(
            "worker", "--loglevel=INFO", "--concurrency=1", "-n", f"{name}@%h",
            "--without-mingle", "--without-gossip", name=name,
        )  # fmt: skip

    def beat(self, name: str) -> subprocess.Popen:
        return self.start("beat", "--loglevel=INFO", f"--schedule={self.tmp / name}-schedule", name=name)

    def listener(self, name: str = "listener") -> subprocess.Popen:
        return self.start("listen_pulse", name=name, command=(sys.executable, "manage.py"))

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop_all(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(
            f"== {log.name}\n{log.read_text(errors='replace')[-3000:]}" for _, log in self.processes
        )

    # database, through psycopg: the test process's own Django database is SQLite
    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def watch(self, username: str, push_id: int) -> None:
        self.query(
            "INSERT INTO notifications_watch (user_id, repo, push_id, created_at, auto, last_state) "
            "SELECT id, 'try', %s, now(), false, '' FROM auth_user WHERE username = %s",
            (push_id, username),
        )

    def ledger(self, push_id: int) -> list[tuple]:
        return self.query(
            "SELECT u.username, n.status, n.attempts, n.uncertain FROM notifications_notification n "
            "JOIN auth_user u ON u.id = n.user_id WHERE n.push_id = %s ORDER BY u.username",
            (push_id,),
        )

    def dispatched(self, process: subprocess.Popen) -> bool:
        """Did this beat send the poll task at least once (its own log says so)?"""
        log = next(log for started, log in self.processes if started is process)
        return "Sending due task poll-watched-pushes" in log.read_text(errors="replace")

    def wait_for(self, what: str, check: Callable[[], object], timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{self.logs()}")


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, capture_output=True,
                   timeout=120)  # fmt: skip


def _migrate_with_users(env: dict[str, str], names: tuple[str, ...]) -> None:
    """The scratch database migrated, with a user `<name>@example.com` per name."""
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "shell", "-v0", "-c", (
        "from django.contrib.auth import get_user_model\n"
        f"for name in {names!r}:\n"
        "    get_user_model().objects.create_user(name, name + '@example.com')\n"
    ))  # fmt: skip


@pytest.fixture(scope="module", params=["polling", "pulse"])
def stack(request, tmp_path_factory, fake_treeherder_server) -> Iterator[Stack]:
    with scratch_postgres_and_redis("buildwatch_stack", REDIS_DB) as (dsn, redis_url), ExitStack() as pulse:
        from aiosmtpd.controller import Controller

        fake = fake_treeherder_server
        fake.reset("quick", speed=0)  # the module's tests share it (and its growing push ids) from here
        fake_url = fake.url
        mailbox = Mailbox()
        smtp_port = free_port()  # aiosmtpd 1.4.6: Controller(port=0) fails
        smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        tmp = tmp_path_factory.mktemp("stack")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "EMAIL_"))},
            "DJANGO_SETTINGS_MODULE": "buildwatch.settings",
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_url,
            "TREEHERDER_URL": fake_url,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_TIMEOUT": "30",
            "BUILDWATCH_POLL_SECONDS": str(POLL_SECONDS),
            "BUILDWATCH_RETRY_SECONDS": str(RETRY_SECONDS),
            "BUILDWATCH_SETTLE_SECONDS": str(SETTLE_SECONDS),
            "BUILDWATCH_VAR_DIR": str(tmp),
            "CELERY_TASK_TIME_LIMIT": str(TIME_LIMIT),
            "CELERY_TASK_SOFT_TIME_LIMIT": str(TIME_LIMIT - 1),
            "SITE_URL": "http://buildwatch.test",
            "PYTHONUNBUFFERED": "1",
        }
        if request.param == "pulse":  # the fake publishes as its jobs end; the listener wakes the polls
            from fakeherder.pulse import PulsePublisher

            vhost = pulse.enter_context(pulse_vhost())
            pulse.callback(PulsePublisher(fake, amqp_url(vhost)).start().stop)
            env.update(PULSE_URL=amqp_url(vhost), PULSE_QUEUE=f"stack-{uuid.uuid4().hex[:8]}")
        the_stack = Stack(env, dsn, fake, mailbox, tmp)
        try:
            _migrate_with_users(env, ("alice", "bob", "carol", "dave", "erin", "frank"))
            yield the_stack
        finally:
            the_stack.stop_all()
            smtp.stop()


@pytest.fixture(autouse=True)
def listening(stack: Stack) -> None:
    """With Pulse, the listener runs through each test (stop_all at its end stops it with the rest)."""
    if stack.pulse:
        stack.listener()


def _new_push(stack: Stack) -> int:
    return stack.fake.add_push(messages=[f"Bug 1800100 - Real stack {uuid.uuid4().hex[:6]}. r=dev"], size=6)


def _seen_by_poller(stack: Stack, push_id: int) -> bool:
    return bool(stack.query(
        "SELECT 1 FROM notifications_pushstate WHERE push_id = %s AND job_count IS NOT NULL", (push_id,)
    ))  # fmt: skip


def test_one_beat_and_one_worker_send_exactly_one_mail(stack):
    push_id = _new_push(stack)
    stack.watch("alice", push_id)
    stack.beat("beat")
    stack.worker("worker")
    try:
        stack.wait_for("the first poll", lambda: _seen_by_poller(stack, push_id), 60)
        assert stack.mailbox.to("alice@example.com") == []
        finished = time.monotonic()
        stack.fake.finish_push(push_id)
        [mail] = stack.wait_for("the mail", lambda: stack.mailbox.to("alice@example.com"), 30)
        latency = time.monotonic() - finished
        print(
            f"notification latency: {latency:.2f} s (polls every {POLL_SECONDS} s, settle {SETTLE_SECONDS} s)"
        )
        # One poll sees it finished; the confirming full read SETTLE_SECONDS later notifies.
        assert latency < POLL_SECONDS + SETTLE_SECONDS + 3
        assert mail["Subject"].startswith("Try push passed: Bug 1800100 - Real stack")
        assert mail["List-Unsubscribe"].startswith("<http://buildwatch.test/unsubscribe/")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        time.sleep(QUIET)  # past any sweep or retry: nothing more may arrive
        assert len(stack.mailbox.to("alice@example.com")) == 1
        assert stack.ledger(push_id) == [("alice", "sent", 1, False)]
    finally:
        stack.stop_all()


def test_two_beats_and_two_workers_still_send_one_mail_per_user_and_push(stack):
    push_id = _new_push(stack)
    stack.watch("bob", push_id)
    stack.watch("carol", push_id)
    beats = []
    for n in (1, 2):
        beats.append(stack.beat(f"beat{n}"))
        stack.worker(f"worker{n}")
    try:
        stack.wait_for("the first poll", lambda: _seen_by_poller(stack, push_id), 60)
        stack.fake.finish_push(push_id, failures=2)
        stack.wait_for(
            "both mails",
            lambda: stack.mailbox.to("bob@example.com") and stack.mailbox.to("carol@example.com"),
            30,
        )
        time.sleep(QUIET)
        for address in ("bob@example.com", "carol@example.com"):
            [mail] = stack.mailbox.to(address)
            assert mail["Subject"].startswith("Try push failed: ")
        assert stack.ledger(push_id) == [("bob", "sent", 1, False), ("carol", "sent", 1, False)]
        assert all(stack.dispatched(beat) for beat in beats), stack.logs()  # two beats really ran
    finally:
        stack.stop_all()


def test_a_worker_killed_between_claim_and_send_still_delivers_once(stack):
    push_id = _new_push(stack)
    stack.watch("dave", push_id)
    stack.beat("beat")
    first = stack.worker("doomed")
    try:
        stack.wait_for("the first poll", lambda: _seen_by_poller(stack, push_id), 60)
        stack.mailbox.slow_next = True
        stack.fake.finish_push(push_id)
        assert stack.mailbox.stalled.wait(30), stack.logs()
        assert stack.ledger(push_id) == [("dave", "sending", 1, False)]  # claimed, mid-send
        stack.kill(first)  # SIGKILL: no cleanup, no ack
        stack.worker("rescuer")
        # The beat's sweep re-queues the dead worker's claim once it is older than the hard time limit.
        [mail] = stack.wait_for(
            "the rescued mail", lambda: stack.mailbox.to("dave@example.com"), TIME_LIMIT + 40
        )
        assert mail["Subject"].startswith("Try push passed: ")
        time.sleep(QUIET)
        assert len(stack.mailbox.to("dave@example.com")) == 1
        # Taken over from a dead worker: it may have sent (here it had not), so the row says so.
        assert stack.ledger(push_id) == [("dave", "sent", 2, True)]
    finally:
        stack.stop_all()


def test_a_worker_killed_after_data_sends_at_most_a_second_copy_of_the_same_message(stack):
    push_id = _new_push(stack)
    stack.watch("frank", push_id)
    stack.beat("beat")
    first = stack.worker("doomed")
    try:
        stack.wait_for("the first poll", lambda: _seen_by_poller(stack, push_id), 60)
        stack.mailbox.stalled.clear()
        stack.mailbox.slow_answer_next = True
        stack.fake.finish_push(push_id)
        assert stack.mailbox.stalled.wait(30), stack.logs()
        assert len(stack.mailbox.to("frank@example.com")) == 1  # the server has it; the worker does not know
        stack.kill(first)
        stack.worker("rescuer")
        copies = stack.wait_for(
            "the re-sent copy",
            lambda: (m := stack.mailbox.to("frank@example.com")) and len(m) == 2 and m,
            TIME_LIMIT + 40,
        )
        time.sleep(QUIET)
        assert len(stack.mailbox.to("frank@example.com")) == 2  # never a third
        assert copies[0]["Message-ID"] == copies[1]["Message-ID"]  # one message to the mail client
        assert stack.ledger(push_id) == [("frank", "sent", 2, True)]
    finally:
        stack.stop_all()


def test_two_beats_send_one_early_alert_then_the_final_mail(stack):
    push_id = stack.fake.add_push(
        messages=["Bug 1800101 - Early alert on the real stack. r=dev"], size=6, hold="running"
    )
    stack.watch("erin", push_id)
    for n in (1, 2):
        stack.beat(f"beat{n}")
        stack.worker(f"worker{n}")
    try:
        stack.wait_for("the first poll", lambda: _seen_by_poller(stack, push_id), 60)
        line = "TEST-UNEXPECTED-FAIL | dom/base/test/test_early.html | got 1, expected 2"
        stack.fake.add_job(push_id, "completed", result="testfailed", errors=[line])
        [early] = stack.wait_for("the early alert", lambda: stack.mailbox.to("erin@example.com"), 30)
        assert early["Subject"].startswith("Try push: early alert, new test failure: Bug 1800101")
        assert early["X-BuildWatch-Kind"] == "early"
        time.sleep(3)  # more beats from both: still one early alert
        assert len(stack.mailbox.to("erin@example.com")) == 1
        stack.fake.finish_push(push_id)
        stack.wait_for("the final mail", lambda: len(stack.mailbox.to("erin@example.com")) >= 2, 30)
        time.sleep(3)
        _, final = stack.mailbox.to("erin@example.com")
        assert final["X-BuildWatch-Kind"] == "final" and final["Subject"].startswith("Try push failed: ")
        kinds = stack.query(
            "SELECT kind, status, attempts FROM notifications_notification WHERE push_id = %s ORDER BY kind",
            (push_id,),
        )
        assert kinds == [("early", "sent", 1), ("final", "sent", 1)]
    finally:
        stack.stop_all()
