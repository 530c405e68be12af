"""Benchmark: from the last job finishing to the notification sent, with polling alone and with Pulse, on
the real stack; and what each costs Treeherder.

    .venv/bin/python bench/bench_notify_latency.py [--poll 60] [--settle 15] [--pushes 10] [--wait 360]
                                                   [--busy 10] [--no-pulse]

Runs what production runs: a `celery worker` and a `celery beat` on PostgreSQL + Redis (a scratch
database, Redis DB $BUILDWATCH_BENCH_REDIS_DB, default 13; both must answer on 127.0.0.1), the fake
Treeherder (`python -m fakeherder`: the default scenario, its clock stopped, 50 ms per request) in its own
process, publishing its tasks' messages (`--pulse`) to the machine's RabbitMQ (127.0.0.1:5672, guest, a
virtual host of its own when `rabbitmqctl` works), and for the Pulse phases `manage.py listen_pulse`.
Mail goes to a dummy backend. Every phase watches new pushes (one user):

1. polling alone, *wait, then finish*: `--pushes` pushes of 40 jobs, held running; once each has been
   read, nothing moves for `--wait` seconds (the requests meanwhile are the cost of a push that waits),
   then the bench finishes them (`/__fake__/finish`) one after another across one poll interval: the
   latency is the ledger row's `sent_at` minus that moment;
2. polling alone, *busy*: `--busy` pushes of 40 jobs that run and end on the fake's timeline, the bench
   moving its clock one second per second (their task messages flow all along) until all are told;
3. and 4. the same with the listener running.

Treeherder requests: every API request the fake served (BuildWatch is its only client), per watched push
and hour while the pushes wait (their first reads done), per push from the first finish to the last
notification, and for the busy pushes per watched push and hour over their whole watch (watch created →
notification sent).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from urllib.request import Request, urlopen

import psycopg
from bench_poller import database_env

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
REDIS_DB = int(os.environ.get("BUILDWATCH_BENCH_REDIS_DB", "13"))
PUSH_SIZE = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=int, default=60, help="BUILDWATCH_POLL_SECONDS")
    parser.add_argument("--settle", type=int, default=15, help="BUILDWATCH_SETTLE_SECONDS")
    parser.add_argument(
        "--pushes", type=int, default=10, help="pushes finished across one interval, per mode"
    )
    parser.add_argument(
        "--busy", type=int, default=10, help="pushes running on the fake's timeline (0: skip)"
    )
    parser.add_argument("--wait", type=int, default=360, help="seconds the finish phase's pushes wait, read")
    parser.add_argument("--no-pulse", action="store_true", help="polling alone only")
    args = parser.parse_args()

    env_extra, backend, drop = database_env()
    if "REDIS_URL" not in env_extra:
        print(f"skipped: the real stack needs PostgreSQL and Redis on 127.0.0.1 ({backend})")
        return
    env_extra["REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
    vhost, drop_vhost = _vhost() if not args.no_pulse else (None, lambda: None)
    pulse_url = f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}" if vhost else ""
    tmp = tempfile.mkdtemp(prefix="bench-latency-")
    fake_args = ["--port", "0", "--scenario", "default", "--speed", "0", "--latency", "0.05"]
    fake = subprocess.Popen([sys.executable, "-m", "fakeherder", *fake_args, *(["--pulse", pulse_url] if vhost else [])],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    processes: list[subprocess.Popen] = [fake]
    results: dict[str, dict] = {}
    try:
        url = fake.stdout.readline().split(" on ", 1)[1].split()[0].rstrip("/")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "buildwatch.settings", "BUILDWATCH_VAR_DIR": tmp,
               "TREEHERDER_URL": url, "BUILDWATCH_POLL_SECONDS": str(args.poll), "EMAIL_URL": "dummy://",
               "BUILDWATCH_SETTLE_SECONDS": str(args.settle), "PULSE_URL": pulse_url,
               "PULSE_QUEUE": f"bench-{uuid.uuid4().hex[:8]}", **env_extra}  # fmt: skip
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c",
                        "from django.contrib.auth import get_user_model\n"
                        "get_user_model().objects.create_user('bench', 'bench@example.com')"],
                       cwd=ROOT, env=env, check=True)  # fmt: skip
        quiet = {"cwd": ROOT, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        for args_ in (["worker", "--concurrency=2", "--without-mingle", "--without-gossip"],
                      ["beat", f"--schedule={tmp}/beat-schedule"]):  # fmt: skip
            processes.append(
                subprocess.Popen([CELERY, "-A", "buildwatch", *args_, "--loglevel=WARNING"], **quiet)
            )
        bench = Bench(url, env_extra["DATABASE_URL"], args)
        modes = ["polling"] + (["pulse"] if vhost else [])
        for mode in modes:
            if mode == "pulse":
                log = Path(tmp) / "listener.log"
                processes.append(subprocess.Popen([sys.executable, "manage.py", "listen_pulse"], cwd=ROOT, env=env,
                                                  stdout=log.open("wb"), stderr=subprocess.STDOUT))  # fmt: skip
                _wait(lambda log=log: "Listening to Pulse on" in log.read_text(errors="replace"), 60)
            results[mode] = {"finish": bench.finish_phase(pulse=mode == "pulse")}
            if args.busy:
                results[mode]["busy"] = bench.busy_phase(pulse=mode == "pulse")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        drop()
        drop_vhost()
        shutil.rmtree(tmp, ignore_errors=True)
    _report(results, args, vhost)


class Bench:
    def __init__(self, url: str, dsn: str, args: argparse.Namespace) -> None:
        self.url, self.dsn, self.args = url, dsn, args

    def finish_phase(self, *, pulse: bool) -> dict:
        """Held pushes: what they cost while they wait; then finished by the bench across one poll
        interval: latency, and what telling them cost."""
        n = self.args.pushes
        push_ids = [self._add_push(hold=True) for _ in range(n)]
        self._watch(push_ids)
        self._ready(push_ids, pulse)
        self._control("clear-requests")
        time.sleep(self.args.wait)
        waiting = self._control("requests", method="GET")["count"]
        self._control("clear-requests")
        finished_at: dict[int, float] = {}
        for index, push_id in enumerate(push_ids):
            time.sleep(self.args.poll / n if index else 0.0)  # spread over one interval
            self._control(f"finish?push_id={push_id}")
            finished_at[push_id] = time.time()
        _wait(lambda: len(self._sent(push_ids)) == n, self.args.poll * 3 + self.args.settle + 60)
        sent = self._sent(push_ids)
        latencies = sorted(sent[push_id].timestamp() - finished_at[push_id] for push_id in push_ids)
        finishing = self._control("requests", method="GET")["count"]
        return {
            "latencies": latencies,
            "waiting_per_push_hour": waiting / (n * self.args.wait / 3600),
            "finishing_per_push": finishing / n,
        }

    def busy_phase(self, *, pulse: bool) -> dict:
        """Pushes whose jobs run and end on the fake's timeline, its clock moved a second per second."""
        push_ids = [self._add_push(hold=False) for _ in range(self.args.busy)]
        self._control("clear-requests")
        self._watch(push_ids)
        started = time.monotonic()
        deadline = started + 30 * 60
        while len(self._sent(push_ids)) < len(push_ids):
            if time.monotonic() > deadline:
                sys.exit("timed out: the busy pushes were not all told within 30 minutes")
            self._control("advance?seconds=1")
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started) % 1.0))
        return self._cost(push_ids)

    def _cost(self, push_ids: list[int]) -> dict:
        requests = self._control("requests", method="GET")["count"]
        rows = _query(self.dsn, "SELECT w.created_at, n.sent_at FROM notifications_watch w JOIN notifications_notification n "
                      "ON n.push_id = w.push_id AND n.user_id = w.user_id WHERE w.push_id = ANY(%s)", (push_ids,))  # fmt: skip
        watched = sum((sent - created).total_seconds() for created, sent in rows)
        return {"requests": requests, "watched_hours": watched / 3600, "pushes": len(push_ids),
                "per_push_hour": requests / (watched / 3600)}  # fmt: skip

    def _add_push(self, *, hold: bool) -> int:
        return self._control(f"add-push?size={PUSH_SIZE}" + ("&hold=running" if hold else ""))["push_id"]

    def _watch(self, push_ids: list[int]) -> None:
        _query(self.dsn, "INSERT INTO notifications_watch (user_id, repo, push_id, created_at, auto, last_state) "
               "SELECT id, 'try', p, now(), false, '' FROM auth_user, unnest(%s::bigint[]) AS p WHERE username = 'bench'",
               (push_ids,))  # fmt: skip

    def _ready(self, push_ids: list[int], pulse: bool) -> None:
        """Every push read once (with Pulse: its task group known to the listener too)."""
        column = "task_group <> ''" if pulse else "job_count IS NOT NULL"
        _wait(lambda: _query(self.dsn, f"SELECT count(*) FROM notifications_pushstate WHERE push_id = ANY(%s) AND {column}",
                             (push_ids,))[0][0] == len(push_ids), self.args.poll * 3)  # fmt: skip
        if pulse:
            time.sleep(3)  # the listener reads the watched task groups every 2 s

    def _sent(self, push_ids: list[int]) -> dict[int, datetime]:
        rows = _query(self.dsn, "SELECT push_id, sent_at FROM notifications_notification WHERE status = 'sent' "
                      "AND push_id = ANY(%s)", (push_ids,))  # fmt: skip
        return {push_id: sent.astimezone(UTC) for push_id, sent in rows}

    def _control(self, action: str, method: str = "POST") -> dict:
        with urlopen(Request(f"{self.url}/__fake__/{action}", method=method), timeout=60) as answer:
            return json.load(answer)


def _report(results: dict[str, dict], args: argparse.Namespace, vhost: str | None) -> None:
    print(f"PostgreSQL + Redis, celery worker + beat, BUILDWATCH_POLL_SECONDS={args.poll}, "
          f"BUILDWATCH_SETTLE_SECONDS={args.settle}; fake Treeherder: default scenario, 50 ms per request; "
          f"Pulse: {'RabbitMQ on 127.0.0.1, vhost ' + vhost if vhost else 'off'}")  # fmt: skip
    for mode, phases in results.items():
        latencies = phases["finish"]["latencies"]
        label = "polling alone" if mode == "polling" else "with Pulse"
        print(f"\n{label}: finish -> notification sent (s), {len(latencies)} pushes finished across one interval: "
              + ", ".join(f"{value:.1f}" for value in latencies))  # fmt: skip
    print("\n| | polling alone | with Pulse |\n|---|---|---|")
    cells: dict[str, list[str]] = {"latency": [], "waiting": [], "finishing": [], "busy": []}
    for phases in results.values():
        finish, busy = phases["finish"], phases.get("busy")
        v = finish["latencies"]
        cells["latency"].append(f"{statistics.median(v):.1f} s ({min(v):.1f}–{max(v):.1f})")
        cells["waiting"].append(f"{finish['waiting_per_push_hour']:.0f}")
        cells["finishing"].append(f"{finish['finishing_per_push']:.1f}")
        if busy:
            cells["busy"].append(
                f"{busy['requests'] / busy['pushes']:.1f} per push ({busy['per_push_hour']:.0f} per push-hour, "
                f"{busy['watched_hours'] * 60:.0f} push-minutes)"
            )
    rows = {
        "latency": f"finish → notification sent, median (range), {args.pushes} pushes",
        "waiting": f"Treeherder requests per watched push per hour while it waits ({args.wait} s, nothing moves)",
        "finishing": "Treeherder requests per push, from its finish to its notification",
        "busy": f"Treeherder requests, {args.busy} pushes whose jobs end all along (watch → notification)",
    }
    for key, label in rows.items():
        if len(cells[key]) == len(results):
            print(f"| {label} | " + " | ".join(cells[key]) + " |")


def _vhost() -> tuple[str | None, Callable[[], None]]:
    """A RabbitMQ virtual host of the bench's own (rabbitmqctl), else the default one; None without RabbitMQ."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=0.5).close()
    except OSError:
        print("RabbitMQ is not answering on 127.0.0.1:5672: polling alone only")
        return None, lambda: None
    name = f"bench-{os.getpid()}"
    ctl = shutil.which("rabbitmqctl")

    def run(*args: str) -> bool:
        return (
            ctl is not None and subprocess.run([ctl, *args], capture_output=True, timeout=60).returncode == 0
        )

    if run("add_vhost", name) and run("set_permissions", "-p", name, "guest", ".*", ".*", ".*"):
        return name, lambda: run("delete_vhost", name)
    return "/", lambda: None


def _query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _wait(check: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"timed out after {timeout:g} s")


if __name__ == "__main__":
    main()
