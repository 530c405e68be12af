"""Benchmark: from the last job finishing to the notification sent, on the real stack.

    .venv/bin/python bench/bench_notify_latency.py [--poll 60] [--settle 15] [--pushes 4]

Runs what production runs: a `celery worker` and a `celery beat` process on PostgreSQL + Redis (a
scratch database; both must answer on 127.0.0.1), the fake Treeherder (`python -m fakeherder`, its
clock stopped so no push finishes on its own, 50 ms per request) in its own process, mail to a dummy backend. Each watched push is finished
(`/__fake__/finish`) at a different moment of the poll interval; the latency is the ledger row's
`sent_at` minus that moment. Expected: at most BUILDWATCH_POLL_SECONDS + BUILDWATCH_SETTLE_SECONDS
plus a cycle and a delivery; at least the settle delay.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import Request, urlopen

import psycopg
from bench_poller import database_env

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=int, default=60, help="BUILDWATCH_POLL_SECONDS")
    parser.add_argument("--settle", type=int, default=15, help="BUILDWATCH_SETTLE_SECONDS")
    parser.add_argument("--pushes", type=int, default=4, help="pushes finished across one interval")
    args = parser.parse_args()

    env_extra, backend, drop = database_env()
    if "REDIS_URL" not in env_extra:
        print(f"skipped: the real stack needs PostgreSQL and Redis on 127.0.0.1 ({backend})")
        return
    fake = subprocess.Popen([sys.executable, "-m", "fakeherder", "--port", "0", "--scenario", "default",
                             "--speed", "0", "--latency", "0.05"], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    processes: list[subprocess.Popen] = [fake]
    try:
        url = fake.stdout.readline().split(" on ", 1)[1].split()[0].rstrip("/")
        tmp = tempfile.mkdtemp(prefix="bench-latency-")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "buildwatch.settings", "BUILDWATCH_VAR_DIR": tmp,
               "TREEHERDER_URL": url, "BUILDWATCH_POLL_SECONDS": str(args.poll), "EMAIL_URL": "dummy://",
               "BUILDWATCH_SETTLE_SECONDS": str(args.settle), **env_extra}  # fmt: skip
        state = _json(f"{url}/__fake__/state")
        push_ids = [p["id"] for p in state["pushes"] if p["visible"] and not p["finished"]]
        push_ids = push_ids[: args.pushes]
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", (
            "from django.contrib.auth import get_user_model\nfrom notifications.models import Watch\n"
            "user = get_user_model().objects.create_user('bench', 'bench@example.com')\n"
            f"for push_id in {push_ids!r}:\n    Watch.objects.create(user=user, repo='try', push_id=push_id)\n"
        )], cwd=ROOT, env=env, check=True)  # fmt: skip
        for args_ in (["worker", "--concurrency=2", "--without-mingle", "--without-gossip"],
                      ["beat", f"--schedule={tmp}/beat-schedule"]):  # fmt: skip
            processes.append(subprocess.Popen([CELERY, "-A", "buildwatch", *args_, "--loglevel=WARNING"], cwd=ROOT,
                                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        dsn = env_extra["DATABASE_URL"]
        _wait(lambda: _query(dsn, "SELECT count(*) FROM notifications_pushstate WHERE job_count IS NOT NULL")[0][0]
              == len(push_ids), args.poll * 3)  # fmt: skip
        finished_at: dict[int, float] = {}
        for n, push_id in enumerate(push_ids):
            time.sleep(args.poll / len(push_ids) if n else 3.0)  # spread over one interval
            _json(f"{url}/__fake__/finish?push_id={push_id}", method="POST")
            finished_at[push_id] = time.time()
        _wait(lambda: len(_sent(dsn)) == len(push_ids), args.poll * 3 + args.settle)
        latencies = sorted(sent.timestamp() - finished_at[push_id] for push_id, sent in _sent(dsn).items())
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        drop()
    print(f"PostgreSQL + Redis, celery worker + beat, BUILDWATCH_POLL_SECONDS={args.poll}, "
          f"BUILDWATCH_SETTLE_SECONDS={args.settle}; {len(latencies)} pushes finished across one interval")  # fmt: skip
    print("finish -> notification sent (s): " + ", ".join(f"{value:.1f}" for value in latencies))
    print(f"median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s "
          f"(bound: poll + settle = {args.poll + args.settle} s)")  # fmt: skip


def _json(url: str, method: str = "GET") -> dict:
    import json

    with urlopen(Request(url, method=method)) as answer:
        return json.load(answer)


def _query(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _sent(dsn: str) -> dict[int, datetime]:
    rows = _query(dsn, "SELECT push_id, sent_at FROM notifications_notification WHERE status = 'sent'")
    return {push_id: sent.astimezone(UTC) for push_id, sent in rows}


def _wait(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"timed out after {timeout:g} s")


if __name__ == "__main__":
    main()
