"""`manage.py listen_pulse`: follow try pushes on Pulse (notifications/pulse_listener.py) until SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications import tasks, wake
from notifications.pulse import Kind
from notifications.pulse_listener import PulseListener


def enqueue_wake(repo: str, push_id: int, kind: Kind) -> None:
    tasks.wake_push.apply_async((repo, push_id, kind.name.lower()), expires=tasks.WAKE_EXPIRES)


class Command(BaseCommand):
    help = (
        "Consume Taskcluster's task events from Pulse (PULSE_URL) and poll a watched push as soon as one "
        "of its tasks resolves; the beat keeps polling as the safety net. Runs until SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="do not listen: exit 0 when a listener is connected to Pulse now, 1 when none is "
            "(a health check; it reads the listener's status from the shared cache)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        if options["check"]:
            status = wake.listener_status()
            if not (isinstance(status, dict) and status.get("connected")):
                raise CommandError("no Pulse listener is connected")
            if time.time() - float(status.get("at", 0)) > wake.STATUS_STALE:
                raise CommandError("the Pulse listener has not reported for a while")
            self.stdout.write("A Pulse listener is connected.")
            return
        if not settings.PULSE_URL:
            raise CommandError(
                "PULSE_URL is not set: give it your Pulse account (amqps://user:password@pulse.mozilla.org:5671); "
                "without it the beat's polling alone notifies."
            )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        listener = PulseListener(
            settings.PULSE_URL,
            settings.PULSE_QUEUE,
            settings.PULSE_REPOS,
            wake=enqueue_wake,
            gap=settings.PULSE_WAKE_GAP_SECONDS,
            stop=stop,
        )
        self.stdout.write(
            f"Listening to Pulse for {', '.join(settings.PULSE_REPOS)} on {listener.queue_name} (Ctrl-C stops)"
        )
        listener.run()
        self.stdout.write("Stopped listening to Pulse.")
