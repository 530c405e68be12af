"""Ambiguous sends (issue 17, item 3): a real SMTP server on loopback (aiosmtpd) that takes the message
and answers only after the client's timeout, and a worker that died mid-send. A retried send is the
same message (one Message-ID per ledger row), made at most once more; then the row is "delivery
uncertain", on /watching/ and in the admin."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications import outbox
from notifications.models import Notification, PushState
from tests.helpers import free_port

pytestmark = pytest.mark.django_db

EMAIL_TIMEOUT = 1


class SlowAnswers:
    """Keeps every message; answers DATA only after `delay` seconds for the next `slow` messages."""

    def __init__(self, slow: int, delay: float = EMAIL_TIMEOUT + 1.0) -> None:
        self.slow, self.delay = slow, delay
        self.messages: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
            slow = self.slow > 0
            self.slow -= 1
        if slow:
            await asyncio.sleep(self.delay)  # taken, but the answer comes after the client gave up
        return "250 OK"


@pytest.fixture
def smtp(settings):
    from aiosmtpd.controller import Controller

    def start(handler: SlowAnswers) -> SlowAnswers:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        settings.MAILERS = {
            "default": {
                "BACKEND": settings.SMTP_BACKEND,
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": EMAIL_TIMEOUT},
            }
        }
        return handler

    started: list = []
    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def row(clock) -> Notification:
    user = get_user_model().objects.create_user("una", "una@example.com")
    PushState.objects.create(repo="try", push_id=700, state="finished", title="Bug 7 - Seven")
    return Notification.objects.create(
        user=user, repo="try", push_id=700, channel="email", title="Try push passed"
    )


def _due_again(row: Notification, clock) -> None:
    clock.shift(timedelta(seconds=outbox.BACKOFF_MAX_SECONDS + 1))


def test_an_answer_lost_after_data_is_retried_once_as_the_same_message(smtp, row, clock):
    server = smtp(SlowAnswers(slow=1))

    first = outbox.deliver(row.pk)
    assert first.status == "retry" and "delivery uncertain" in first.error
    _due_again(row, clock)
    assert outbox.deliver(row.pk).status == "sent"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.uncertain) == ("sent", 2, True)
    assert len(server.messages) == 2  # the server did take both
    first_id, second_id = (message["Message-ID"] for message in server.messages)
    assert first_id == second_id  # so a mail client shows one
    assert first_id.startswith(f"<buildwatch.{row.pk}.")


def test_a_second_lost_answer_stops_as_delivery_uncertain(smtp, row, clock):
    server = smtp(SlowAnswers(slow=5))

    assert outbox.deliver(row.pk).status == "retry"
    _due_again(row, clock)
    assert outbox.deliver(row.pk).status == "uncertain"
    _due_again(row, clock)
    assert outbox.deliver(row.pk).status == "not-claimed"
    assert outbox.due_deliveries() == []

    row.refresh_from_db()
    assert row.status == "uncertain" and row.get_status_display() == "delivery uncertain"
    assert len(server.messages) == 2 and len({m["Message-ID"] for m in server.messages}) == 1


def test_a_refusal_before_or_after_data_is_an_ordinary_failure(smtp, row, clock, settings):
    settings.MAILERS = {"default": {"BACKEND": settings.SMTP_BACKEND,
                                    "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 1}}}  # fmt: skip
    outcome = outbox.deliver(row.pk)
    row.refresh_from_db()
    assert outcome.status == "retry" and not row.uncertain  # nothing was sent: retry as often as needed


def test_a_dead_workers_claim_is_sent_once_more_then_never_again(row, clock):
    from django.core import mail

    Notification.objects.filter(pk=row.pk).update(status="sending", claimed_at=timezone.now(), attempts=1)
    clock.shift(timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 6))
    assert outbox.deliver(row.pk).status == "sent"
    row.refresh_from_db()
    assert row.uncertain and row.attempts == 2
    assert len(mail.outbox) == 1

    # That one died mid-send too: no third copy.
    Notification.objects.filter(pk=row.pk).update(status="sending", claimed_at=timezone.now())
    clock.shift(timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 6))
    assert outbox.deliver(row.pk).status == "uncertain"
    assert len(mail.outbox) == 1


def test_watching_and_the_admin_show_delivery_uncertain(client, row):
    Notification.objects.filter(pk=row.pk).update(status="uncertain", uncertain=True, attempts=2,
                                                  last_error="delivery uncertain: the answer was lost")  # fmt: skip
    client.force_login(row.user)
    html = client.get("/watching/").content.decode()
    assert "delivery uncertain" in html and "may have arrived" in html

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client.force_login(admin)
    listing = client.get("/admin/notifications/notification/?status__exact=uncertain").content.decode()
    assert "delivery uncertain" in listing and "una" in listing
