"""manage.py fake_treeherder: serve the offline fake Treeherder (and Taskcluster) on loopback."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pushes.fake.scenarios import DEMO_AUTHOR, SCENARIOS
from pushes.fake.server import FakeTreeherder


class Command(BaseCommand):
    help = (
        "Serve a fake Treeherder with the real API's shapes whose pushes move forward in time "
        "(pending -> running -> completed). Point TREEHERDER_URL and TASKCLUSTER_ROOT_URL at it. "
        "Ctrl-C stops."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8100, help="port (default 8100; 0 picks a free one)")
        parser.add_argument(
            "--scenario", default="default", choices=sorted(SCENARIOS), help="which pushes to serve (default: default)"
        )
        parser.add_argument(
            "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1; 0 freezes time)"
        )
        parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each API answer")
        parser.add_argument("--verbose", action="store_true", help="log every request")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["speed"] < 0:
            raise CommandError("--speed must be >= 0")
        fake = FakeTreeherder(options["scenario"], speed=options["speed"], latency=options["latency"])
        try:
            url = fake.listen(options["host"], options["port"], verbose=options["verbose"])
        except OSError as error:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {error}") from error
        roles = ", ".join(f"{role}={push_id}" for role, push_id in fake.roles().items() if not role.startswith("recorded"))
        self.stdout.write(f"Fake Treeherder on {url}/ (scenario {fake.scenario}, speed {fake.speed:g}x)")
        self.stdout.write(f"  TREEHERDER_URL={url} TASKCLUSTER_ROOT_URL={url}")
        self.stdout.write(f"  demo author: {DEMO_AUTHOR}; pushes: {roles}")
        self.stdout.write(
            f"  control: GET {url}/__fake__/state · POST {url}/__fake__/advance?seconds=60 · "
            f"POST {url}/__fake__/reset?scenario=quick"
        )
        self.stdout.write("  Ctrl-C stops.")
        self.stdout.flush()
        signal.signal(signal.SIGTERM, _stop)  # `make demo`, docker and systemd stop with SIGTERM
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
