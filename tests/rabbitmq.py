"""RabbitMQ for the Pulse tests: a virtual host of their own on the machine's broker (127.0.0.1:5672,
guest/guest), and a TCP proxy a test can cut or take down to break just its listener's connection.

The virtual host is `BUILDWATCH_TEST_PULSE_VHOST` (default: one named after this process), made and
removed with `rabbitmqctl`; parallel runs never see each other's exchanges or queues. Where rabbitmqctl
cannot be used (not installed, not allowed), the tests share the default virtual host `/` and keep
apart by their own queue names: the exchanges are then shared, and each listener ignores messages
about task groups it does not know.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from tests.helpers import port_open, skip_or_fail

RABBITMQ = ("127.0.0.1", 5672)


def _rabbitmqctl(*args: str) -> bool:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    try:
        return subprocess.run([ctl, *args], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def amqp_url(vhost: str, host: str = RABBITMQ[0], port: int = RABBITMQ[1]) -> str:
    return f"amqp://guest:guest@{host}:{port}/{quote(vhost, safe='')}"


@contextmanager
def pulse_vhost() -> Iterator[str]:
    """The virtual host the test's fake Pulse and listener share (see the module docstring); skips
    (fails with BUILDWATCH_REQUIRE_SERVICES=1) when RabbitMQ does not answer."""
    if not port_open(*RABBITMQ):
        skip_or_fail(f"RabbitMQ is not answering on {RABBITMQ[0]}:{RABBITMQ[1]}")
    vhost = (
        os.environ.get("BUILDWATCH_TEST_PULSE_VHOST")
        or f"buildwatch-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    made = _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
        "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"
    )
    if not made and not _rabbitmqctl("list_permissions", "-p", vhost):
        vhost = "/"  # no rabbitmqctl here: share the default virtual host (queue names keep runs apart)
    try:
        yield vhost
    finally:
        if made and not os.environ.get("BUILDWATCH_TEST_PULSE_VHOST"):
            _rabbitmqctl("delete_vhost", vhost)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`. `cut()` closes every connection through it (the broker
    went away); `down()` also refuses new ones until `up()` (it stays away)."""

    def __init__(self, target: tuple[str, int] = RABBITMQ) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._down = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.accepted = 0
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def url(self, vhost: str) -> str:
        return amqp_url(vhost, "127.0.0.1", self.port)

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def down(self) -> None:
        self._down = True
        self.cut()

    def up(self) -> None:
        self._down = False

    def close(self) -> None:
        self.down()
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
