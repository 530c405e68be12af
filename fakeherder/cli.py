"""The fake's command line, shared by `manage.py fake_treeherder` and `python -m fakeherder`."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from .pulse import PulsePublisher
from .scenarios import DEMO_AUTHOR, SCENARIOS
from .server import FakeTreeherder

DESCRIPTION = (
    "Serve a fake Treeherder with the real API's shapes whose pushes move forward in time "
    "(pending -> running -> completed). Point TREEHERDER_URL and TASKCLUSTER_ROOT_URL at it. Ctrl-C stops."
)


class UsageError(Exception):
    """A bad option or an address the fake cannot listen on."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8100, help="port (default 8100; 0 picks a free one)")
    parser.add_argument(
        "--scenario",
        default="default",
        choices=sorted(SCENARIOS),
        help="which pushes to serve (default: default)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (default 1; 0 freezes time)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each API answer")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--pulse",
        default="",
        metavar="AMQP_URL",
        help="publish Taskcluster-shaped task messages to this RabbitMQ as jobs end "
        "(e.g. amqp://guest:guest@127.0.0.1:5672/%%2F; see fakeherder/pulse.py)",
    )


def serve(*, host: str, port: int, scenario: str, speed: float, latency: float, verbose: bool,
          out: TextIO, pulse: str = "") -> None:  # fmt: skip
    """Listen, print where and how to use it, and serve until Ctrl-C or SIGTERM."""
    if speed < 0:
        raise UsageError("--speed must be >= 0")
    fake = FakeTreeherder(scenario, speed=speed, latency=latency)
    try:
        url = fake.listen(host, port, verbose=verbose)
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error}") from error
    roles = ", ".join(
        f"{role}={push_id}" for role, push_id in fake.roles().items() if not role.startswith("recorded")
    )
    out.write(f"Fake Treeherder on {url}/ (scenario {fake.scenario}, speed {fake.speed:g}x)\n")
    out.write(f"  TREEHERDER_URL={url} TASKCLUSTER_ROOT_URL={url}\n")
    out.write(f"  demo author: {DEMO_AUTHOR}; pushes: {roles}\n")
    out.write(
        f"  control: GET {url}/__fake__/state · POST {url}/__fake__/advance?seconds=60 · "
        f"POST {url}/__fake__/reset?scenario=quick\n"
    )
    publisher = None
    if pulse:
        try:
            publisher = PulsePublisher(fake, pulse).start()
        except Exception as error:  # noqa: BLE001 - any way RabbitMQ refuses is a usage problem here
            raise UsageError(f"cannot publish to Pulse at {_without_password(pulse)}: {error}") from error
        out.write(f"  Pulse: task messages published to {_without_password(pulse)} as jobs end\n")
    out.write("  Ctrl-C stops.\n")
    out.flush()
    signal.signal(signal.SIGTERM, _stop)  # `make demo`, docker and systemd stop with SIGTERM
    try:
        fake.serve_forever()
    except KeyboardInterrupt:
        out.write("Stopped.\n")
    finally:
        if publisher is not None:
            publisher.stop()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakeherder", description=DESCRIPTION)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        serve(**options, out=sys.stdout)
    except UsageError as error:
        parser.error(str(error))
    return 0
