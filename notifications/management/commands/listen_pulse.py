"""`manage.py listen_pulse`: follow try pushes on Pulse (notifications/pulse_listener.py) until SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notifications import tasks
from notifications.pulse import Kind
from notifications.pulse_listener import PulseListener


def enqueue_wake(repo: str, push_id: int, kind: Kind) -> None:
    tasks.wake_push.apply_async((repo, push_id, kind.name.lower()), expires=tasks.WAKE_EXPIRES)


class Command(BaseCommand):
    help = (
        "Consume Taskcluster's task events from Pulse (PULSE_URL) and poll a watched push as soon as one "
        "of its tasks resolves; the beat keeps polling as the safety net. Runs until SIGTERM or Ctrl-C."
    )

    def handle(self, *args: object, **options: Any) -> None:
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
