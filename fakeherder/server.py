"""`FakeTreeherder`: the fake's world served over HTTP on loopback, with failure modes and a request log.

    from fakeherder import FakeTreeherder
    fake = FakeTreeherder("quick", speed=0)   # speed 0: only advance() moves the clock
    url = fake.start()                        # http://127.0.0.1:<port>, daemon thread
    fake.advance(300)                         # pending -> running -> completed
    fake.stop()

Reading and changing the world (push_ids, push_id, jobs, job_ids, add_push, add_job, set_job,
finish_push, bulk_update, ...): see world.py. Here: `set_down(True)` (503 HTML), `set_garbage(True)`
(200 truncated JSON), `fail_next(n, status, retry_after)`, `fail_path(prefix, status, times)`,
`set_latency(seconds)`, `delay_path(prefix, seconds)`; `request_count`,
`requests` [(method, path)], `request_paths(contains)`, `queries(path)`, `clear_requests()`; `triggers`
(every hook trigger: payload, authorization, new_job_ids); `state()`. A path without its trailing slash,
or an unknown path, answers 200 HTML like the real server.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import control, taskcluster_api, treeherder_api
from .errors import HttpError
from .payloads import iso
from .scenarios import SCENARIOS
from .timeline import load_recording
from .world import World

HTML_PAGE = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Treeherder</title></head>'
    b'<body><noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div>'
    b"</body></html>"
)
GARBAGE_BODY = b'{"results": [[1, 2, "'
DOWN_BODY = b"<html><body><h1>503 Service Unavailable</h1>No server is available.</body></html>"


class FakeTreeherder(World):
    """See the module docstring. All public methods are thread-safe."""

    def __init__(
        self,
        scenario: str = "default",
        speed: float = 1.0,
        *,
        start_time: float | None = None,
        latency: float = 0.0,
    ) -> None:
        self.latency = latency
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.requests: deque[tuple[str, str]] = deque(maxlen=20_000)
        self.actions_template = load_recording("initialActions.json")
        self.task_template = load_recording("originalTask.json")
        self.repositories = load_recording("repositories.json")
        self.classifications = [
            {"id": row["pk"], "name": row["fields"]["name"]}
            for row in load_recording("failure_classification.json")
        ]
        self.known_bugs = treeherder_api.known_bugs()
        super().__init__(scenario, speed, start_time=start_time)

    def reset(
        self, scenario: str | None = None, *, speed: float | None = None, start_time: float | None = None
    ) -> None:
        """Start over: the scenario rebuilt (see World.reset), no failure mode (down, garbage, failing
        requests), an empty request log and no triggers. The latency stays."""
        with self._lock:
            super().reset(scenario, speed=speed, start_time=start_time)
            self.down = False
            self.garbage = False
            self._fail_next: deque[tuple[int, float | None]] = deque()
            self._fail_paths: dict[str, list[int | None]] = {}  # part: [status, answers left or None]
            self._delays: dict[str, float] = {}
            self.triggers: list[dict] = []
            self.requests.clear()
            self.request_count = 0

    # --- server ---------------------------------------------------------------------------------------

    def listen(self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False) -> str:
        """Bind the socket (port 0 picks a free one) without serving yet; returns the base URL."""
        server = _Server((host, port), _Handler)
        server.fake = self
        server.verbose = verbose
        self._server = server
        self.url = f"http://{host}:{server.server_address[1]}"
        return self.url

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL (also the Taskcluster root URL)."""
        url = self.listen(host, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-treeherder",
            daemon=True,
        )
        self._thread.start()
        return url

    def serve_forever(self) -> None:
        """Serve the socket bound by listen() in the calling thread (the CLI); Ctrl-C stops it."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTreeherder:
        if not self.url:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- failure modes and request log ------------------------------------------------------------------

    def set_down(self, down: bool = True) -> None:
        """Answer every API request with 503 (HTML body)."""
        self.down = down

    def set_garbage(self, garbage: bool = True) -> None:
        """Answer every API request with 200 and truncated JSON."""
        self.garbage = garbage

    def set_latency(self, seconds: float) -> None:
        """Sleep this long before answering each API request."""
        self.latency = seconds

    def fail_next(self, count: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """The next `count` API requests answer `status` (with `Retry-After` when given)."""
        with self._lock:
            self._fail_next.extend([(status, retry_after)] * count)

    def fail_path(self, part: str, status: int = 500, times: int | None = None) -> None:
        """API requests whose path contains `part` (`/api/project/try/jobs/5/`, `/bug_suggestions/`)
        answer `status`: every one until reset, or the next `times` of them (Treeherder's bug_suggestions
        answers 500 now and then under concurrent reads)."""
        with self._lock:
            self._fail_paths[part] = [status, times]

    def delay_path(self, part: str, seconds: float) -> None:
        """API requests whose path contains `part` wait this much longer (Push Health is slow)."""
        with self._lock:
            self._delays[part] = seconds

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.request_count = 0

    def request_paths(self, contains: str = "") -> list[str]:
        with self._lock:
            return [path for _, path in self.requests if contains in path]

    def queries(self, path: str) -> list[dict[str, str]]:
        """The query of every API request to exactly this path (e.g. "/api/jobs/"), oldest first."""
        with self._lock:
            splits = [urlsplit(full) for _, full in self.requests]
        return [
            {k: v[-1] for k, v in parse_qs(s.query, keep_blank_values=True).items()}
            for s in splits
            if s.path == path
        ]

    def state(self) -> dict:
        self.arrivals()
        now = self.now()
        pushes = []
        with self._lock:
            for push in sorted(self.pushes.values(), key=lambda p: p.id, reverse=True):
                states: dict[str, int] = {}
                for _, state, _ in self.snapshot(push).views:
                    states[state] = states.get(state, 0) + 1
                total = sum(states.values())
                pushes.append({
                    "id": push.id, "repo": push.repo, "role": push.role, "author": push.author,
                    "visible": push.push_timestamp <= now, "push_timestamp": push.push_timestamp,
                    "jobs": total, "states": states,
                    "finished": bool(total) and states.get("completed", 0) == total,
                    "decision_task": self.decision_task_id(push.id),
                })  # fmt: skip
            return {
                "scenario": self.scenario, "scenarios": sorted(SCENARIOS), "speed": self.speed,
                "t0": self.t0, "now": now, "now_iso": iso(now), "elapsed": now - self.t0, "down": self.down,
                "garbage": self.garbage, "latency": self.latency, "request_count": self.request_count,
                "pushes": pushes,
            }  # fmt: skip


# --- HTTP ----------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeTreeherder
    verbose = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive plus Nagle's algorithm and delayed ACKs cost ~40 ms per request on loopback.
    disable_nagle_algorithm = True
    server_version = "FakeTreeherder/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = split.path
        query_list = parse_qs(split.query, keep_blank_values=True)
        query = {key: values[-1] for key, values in query_list.items()}
        fake.arrivals()
        try:
            if path.startswith(control.PREFIX):
                self._json(200, control.answer(fake, method, path, query))
                return
            with fake._lock:
                fake.request_count += 1
                fake.requests.append((method, self.path))
                failure = fake._fail_next.popleft() if fake._fail_next else None
                for part, rule in fake._fail_paths.items():
                    if failure is None and part in path and rule[1] != 0:
                        failure = (rule[0], None)
                        rule[1] = None if rule[1] is None else rule[1] - 1
                delay = fake.latency + sum(extra for part, extra in fake._delays.items() if part in path)
            if delay:
                time.sleep(delay)
            if failure is not None:
                status, retry_after = failure
                headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
                self._send(status, DOWN_BODY, "text/html; charset=utf-8", headers)
            elif fake.down:
                self._send(503, DOWN_BODY, "text/html; charset=utf-8")
            elif fake.garbage:
                self._send(200, GARBAGE_BODY, "application/json")
            else:
                self._route(fake, method, path, query, query_list, body)
        except HttpError as error:
            self._json(error.status, error.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self, fake: FakeTreeherder, method: str, path: str, query: dict[str, str],
               query_list: dict[str, list[str]], body: bytes) -> None:  # fmt: skip
        with fake._lock:
            answer = taskcluster_api.answer(fake, method, path, self.headers.get("Authorization"), body)
        if isinstance(answer, tuple):
            self._send(200, answer[1], answer[0])
            return
        if answer is not None:
            self._json(200, answer)
            return
        if method != "GET":
            self._json(405, {"detail": f'Method "{method}" not allowed.'})
            return
        base = f"http://{self.headers.get('Host') or fake.url.removeprefix('http://')}"
        with fake._lock:
            data = treeherder_api.answer(fake, path, query, query_list, base)
        if data is None:
            self._send(200, HTML_PAGE, "text/html; charset=utf-8")
        else:
            self._json(200, data)
