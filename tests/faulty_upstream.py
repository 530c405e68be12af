"""Upstreams that misbehave on the wire, on loopback: for the total deadline and the byte caps.

`FaultyServer(mode)` answers every request (any path) the same bad way:
- "drip": `200`, `Content-Length: 10000`, then one byte every `interval` seconds;
- "hang": accepts the connection, reads the request, never answers;
- "slow-headers": sends the status line, then nothing;
- "oversize": a valid JSON push list that never ends (well past any cap), sent as fast as possible;
- "ok": a small valid JSON answer (`body`).
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        try:
            sock.recv(65536)  # the request (small GETs and POSTs fit)
            self.server.hits += 1
            getattr(self, "_" + self.server.mode.replace("-", "_"))(sock)
        except OSError:
            pass  # the client gave up: that is the point

    def _wait(self, seconds: float) -> bool:
        return not self.server.stopping.wait(seconds)

    def _drip(self, sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n[")
        while self._wait(self.server.interval):
            sock.sendall(b" ")

    def _hang(self, sock: socket.socket) -> None:
        self._wait(60)

    def _slow_headers(self, sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        self._wait(60)

    def _oversize(self, sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        row = (
            b'{"id": 1, "revision": "abcdef0123456789abcdef0123456789abcdef01", "author": "a@example.com",'
            b' "push_timestamp": 1700000000, "revisions": []},'
        )
        sock.sendall(b'{"meta": {}, "results": [')
        chunk = row * 1000
        for _ in range(20_000):  # ~2.6 GB at most: the client must stop long before
            if self.server.stopping.is_set():
                return
            sock.sendall(chunk)

    def _ok(self, sock: socket.socket) -> None:
        body = self.server.body
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mode: str
    interval: float
    body: bytes
    hits: int
    stopping: threading.Event


class FaultyServer:
    def __init__(self, mode: str, *, interval: float = 0.5, body: bytes = b"[]") -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.mode, self.server.interval, self.server.body = mode, interval, body
        self.server.hits = 0
        self.server.stopping = threading.Event()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for serve_forever's next poll: 0.05 s, not the default 0.5 s, per server.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def hits(self) -> int:
        return self.server.hits

    def __enter__(self) -> FaultyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def timed(call: object) -> tuple[float, BaseException | None]:
    """(seconds taken, exception raised or None) of `call()`."""
    start = time.monotonic()
    try:
        call()  # type: ignore[operator]
    except Exception as problem:
        return time.monotonic() - start, problem
    return time.monotonic() - start, None
