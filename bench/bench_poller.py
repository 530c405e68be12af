"""Benchmark: the poll cycle at team scale, against the fake Treeherder in its own process over HTTP.

    .venv/bin/python bench/bench_poller.py [--sizes 10,100,1000] [--latency 0.05] [--steady 11]

For each N in --sizes: a fake Treeherder process serving N watched pushes of several sizes (40, 300,
1,000 and 2,500 jobs, plus one 5,202-job push; pushes past 2,000 jobs take several pages) that stay
mid-flight for the whole run, each request answered after --latency seconds; and a fresh BuildWatch
process on PostgreSQL + Redis when they answer on 127.0.0.1 (a throwaway SQLite database and the
local-memory cache otherwise: the output says which). That process runs the cycle as one worker does
(the beat task's `cycle.poll_cycle`), the first cycle, then --steady cycles each one simulated poll
interval later: the fake's clock and BuildWatch's (time-machine) move together, so the periodic full
re-read (every FULL_READ_EVERY_POLLS polls) falls due on the simulated clock inside the run.

Reported per N: first-cycle and steady-cycle wall time (median of the steady cycles; the steady cycle
with the most periodic full re-reads, and the slowest, separately), requests per push, bytes, database
time and queries per push (every query of the cycle's thread, which makes them all, and the COPY of new
job rows); the byte ratio incremental / full taken same-set and same-time (right after a steady cycle,
before the clock moves, every job of the pushes that cycle polled incrementally is read again), by push
size; and the database time of one incremental poll of the 5,202-job push. BuildWatch runs with DEBUG=0
as in production. Medians and ratios, no assertions on time; a failed poll stops the run with an error.
BENCH_PROFILE=DIR (with pyinstrument installed) writes a profile of each cycle's calling thread there.
(The numbers before issue 16, serial polls, came from this script at commit aeabd32, which also drove
the old fan-out; the script runs on any later commit, e.g. from a `git archive` of it.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLL_SECONDS = 60
BIG = 5202
SIZE_PATTERN = [40] * 40 + [300] * 7 + [1000] * 2 + [2500]  # per 50 pushes
MINUTE = 60.0
REDIS_DB = 13


def push_sizes(count: int) -> list[int]:
    sizes = [SIZE_PATTERN[n % len(SIZE_PATTERN)] for n in range(count - 1)]
    return [BIG, *sizes]


# --- The fake's process -------------------------------------------------------------------------------


def serve_fake(pushes: int, latency: float) -> None:
    from fakeherder import FakeTreeherder
    from fakeherder.builder import Builder, Pace

    fake = FakeTreeherder(scenario="quick", speed=0, latency=latency)
    t0 = fake.now()
    builder = Builder(t0, seed=99, first_push_id=900_001, first_job_id=800_000_000)
    # Slow, spread-out pushes: every one is mid-flight (jobs finishing every minute) for the whole run.
    pace = Pace(
        decision=120.0, build=(300.0, 900.0), test=(300.0, 1500.0), queue=(10.0, 60.0), spread=30 * MINUTE
    )
    for n, size in enumerate(push_sizes(pushes)):
        builder.push(author=f"dev{n % 300}@mozilla.com", messages=[f"Bug {2_000_000 + n} - Bench push {n}. r=dev"],
                     pushed_at=t0 - 10 * MINUTE - (n % 10) * 2 * MINUTE, size=size, plan="green", pace=pace)  # fmt: skip
    with fake._lock:
        fake.pushes.update(builder.pushes)
        fake._index()
    url = fake.listen("127.0.0.1", 0)
    print(json.dumps({"url": url, "now": fake.now(), "push_ids": sorted(builder.pushes)}), flush=True)
    fake.serve_forever()


def control(url: str, action: str, **params: object) -> dict:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    with urlopen(
        Request(f"{url}/__fake__/{action}?{query}", method="POST" if action != "state" else "GET")
    ) as answer:
        return json.load(answer)


# --- The BuildWatch process ---------------------------------------------------------------------------


class Meter:
    """Requests and body bytes, by push id, thread-safe. It wraps the client's one attempt (`_send`):
    the client reads bodies itself (stream=True, byte-capped), so a requests response hook would find
    the body unread, and reading it there would leave the client an empty one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.by_push: dict[int, int] = defaultdict(int)

    def count(self, response) -> None:
        push = parse_qs(urlsplit(response.url).query).get("push_id", ["0"])[0]
        with self.lock:
            self.requests += 1
            self.bytes += len(response.content)
            self.by_push[int(push) if push.isdigit() else 0] += len(response.content)

    def client(self, url: str, session):
        from pushes.treeherder.client import TreeherderClient

        meter = self

        class MeteredClient(TreeherderClient):
            def _send(self, *args, **kwargs):
                response = super()._send(*args, **kwargs)
                meter.count(response)
                return response

        return MeteredClient(url, timeout=60, session=session)

    def take(self) -> dict:
        with self.lock:
            taken = {"requests": self.requests, "bytes": self.bytes, "by_push": dict(self.by_push)}
            self.requests = self.bytes = 0
            self.by_push = defaultdict(int)
            return taken


def database_env() -> tuple[dict[str, str], str, object]:
    """PostgreSQL + Redis on 127.0.0.1 when both answer (a scratch database), else SQLite + locmem."""
    import socket

    def answers(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    if os.environ.get("BENCH_SQLITE") or not (answers(5432) and answers(6379)):
        return {"DATABASE_URL": ""}, "SQLite (PostgreSQL or Redis not answering on 127.0.0.1)", lambda: None
    import psycopg

    name = f"bench_poller_{uuid.uuid4().hex[:8]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}",
           "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}"}  # fmt: skip
    return env, "PostgreSQL + Redis", drop


def run_buildwatch(fake: dict, steady: int, latency: float) -> dict:  # noqa: C901, PLR0915 - one script
    import time_machine

    traveller = time_machine.travel(fake["now"], tick=True).start()
    import django

    django.setup()
    import requests
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection

    from notifications import cycle as poll_cycle_module
    from notifications import jobstore, poller
    from notifications.models import Watch
    from pushes import services as pushes_services

    call_command("migrate", verbosity=0)
    cache.clear()
    push_ids = fake["push_ids"]
    sizes = dict(zip(push_ids, push_sizes(len(push_ids)), strict=True))
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"user{n}", email=f"user{n}@example.com") for n in range(300)]
    )
    watches = [Watch(user=users[n % 300], repo="try", push_id=p) for n, p in enumerate(push_ids)]
    watches += [
        Watch(user=users[(n + 7) % 300], repo="try", push_id=p) for n, p in enumerate(push_ids) if n % 3 == 0
    ]
    Watch.objects.bulk_create(watches)

    meter = Meter()
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64))
    client = meter.client(fake["url"], session)
    poller.get_client = lambda **kwargs: client
    pushes_services.get_client = lambda **kwargs: client
    refetch_session = requests.Session()
    refetch_session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
    refetch_meter = Meter()
    refetch = refetch_meter.client(fake["url"], refetch_session)

    profiled = {"cycles": 0}

    def profile_start():
        """BENCH_PROFILE=DIR (pyinstrument installed): the cycle's thread, sampled, one file per cycle."""
        if not os.environ.get("BENCH_PROFILE"):
            return None
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
        return profiler

    def profile_stop(profiler) -> None:
        if profiler is None:
            return
        profiler.stop()
        path = Path(os.environ["BENCH_PROFILE"]) / f"n{len(push_ids)}-cycle{profiled['cycles']}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profiler.output_text(unicode=True, show_all=False))
        profiler.last_session.save(str(path.with_suffix(".pyisession")))  # pyinstrument --load=FILE
        profiled["cycles"] += 1

    database = {"seconds": 0.0, "queries": 0}
    copy_rows = getattr(jobstore, "insert_fresh_rows", None)  # (absent before the batched writes)

    def timed_copy(rows):  # COPY goes around execute(): timed here, as one query
        began = time.perf_counter()
        try:
            return copy_rows(rows)
        finally:
            database["seconds"] += time.perf_counter() - began
            database["queries"] += 1

    if copy_rows is not None:
        jobstore.insert_fresh_rows = timed_copy

    def one_cycle() -> dict:
        database.update(seconds=0.0, queries=0)

        def timed(execute, sql, params, many, context):  # the cycle's thread: every query of the cycle
            began = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                database["seconds"] += time.perf_counter() - began
                database["queries"] += 1

        profiler = profile_start()
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            summary = poll_cycle_module.poll_cycle(
                dispatch_delivery=lambda nid: None, client=client, min_interval=0
            )
        wall = time.perf_counter() - started
        profile_stop(profiler)
        results = summary.results
        incremental = [r.push_id for r in results if r.polled and not r.full_read]
        errors = [r.error for r in results if r.error]
        if errors:  # a cycle of failed reads measures nothing: say so, loudly
            print(f"{len(errors)} poll(s) failed, e.g. {errors[0]}", file=sys.stderr)
        return {"wall": wall, **meter.take(), "pushes": len(summary.pushes), "incremental": incremental,
                "full": sum(r.full_read for r in results), "errors": len(errors),
                "db_seconds": database["seconds"], "queries": database["queries"]}  # fmt: skip

    def same_time_full_bytes(push_ids: list[int]) -> dict[int, int]:
        refetch_meter.take()
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda p: refetch.jobs("try", p), push_ids))
        return refetch_meter.take()["by_push"]

    def tick() -> None:
        control(fake["url"], "advance", seconds=POLL_SECONDS)
        traveller.shift(POLL_SECONDS)

    first = one_cycle()
    cycles = []
    ratios: dict[int, list[float]] = defaultdict(list)
    for n in range(steady):
        tick()
        cycle = one_cycle()
        if n % 3 == 1:  # compare the bytes of this cycle's incremental polls with full reads, now
            full = same_time_full_bytes(cycle["incremental"])
            for push_id, incremental in cycle["by_push"].items():
                if push_id in full:
                    ratios[sizes[push_id]].append(incremental / full[push_id])
        cycles.append({k: v for k, v in cycle.items() if k not in ("by_push", "incremental")})
    first = {k: v for k, v in first.items() if k not in ("by_push", "incremental")}

    # One incremental poll of the 5,202-job push: database time only (execute_wrapper on this thread).
    big = push_ids[0]
    db_times = []
    for _ in range(11):
        tick()
        spent = [0.0]

        def timed(execute, sql, params, many, context, spent=spent):
            began = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                spent[0] += time.perf_counter() - began

        with connection.execute_wrapper(timed):
            result = poller.poll_push("try", big, min_interval=0)
        if result.polled and not result.full_read:
            db_times.append(spent[0])
    meter.take()
    return {"first": first, "cycles": cycles, "ratios": dict(ratios), "big_db": db_times, "latency": latency}


# --- The driver -----------------------------------------------------------------------------------------


def measure(count: int, latency: float, steady: int) -> tuple[dict, str]:
    fake_process = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(count), "--latency", str(latency)],
                                    stdout=subprocess.PIPE, text=True)  # fmt: skip
    env_extra, backend, drop = database_env()
    try:
        fake = json.loads(fake_process.stdout.readline())
        tmp = tempfile.mkdtemp(prefix="bench-poller-")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "buildwatch.settings", "BUILDWATCH_VAR_DIR": tmp,
               "TREEHERDER_URL": fake["url"], "BUILDWATCH_POLL_SECONDS": str(POLL_SECONDS), "EMAIL_URL": "dummy://",
               "LOG_LEVEL": "ERROR", "REDIS_URL": "", "DEBUG": "0", "SECRET_KEY": "bench-only", **env_extra}  # fmt: skip
        child = subprocess.run([sys.executable, __file__, "--buildwatch", json.dumps(fake), "--steady", str(steady),
                                "--latency", str(latency)], env=env, capture_output=True, text=True, check=False)  # fmt: skip
        if child.returncode:
            sys.exit(f"the BuildWatch process failed:\n{child.stderr[-4000:]}")
        return json.loads(child.stdout.strip().splitlines()[-1]), backend
    finally:
        fake_process.terminate()
        fake_process.wait(timeout=10)
        drop()


def report(count: int, result: dict) -> dict:
    first, cycles = result["first"], result["cycles"]
    most_full = max(cycles, key=lambda c: (c["full"], c["wall"]))

    def per_push(cycle: dict) -> dict:
        pushes = max(cycle["pushes"], 1)
        return {"requests": cycle["requests"] / pushes, "db_ms": 1000 * cycle["db_seconds"] / pushes,
                "queries": cycle["queries"] / pushes}  # fmt: skip

    steady = {key: statistics.median(c[key] for c in cycles) for key in ("wall", "bytes", "pushes", "full")}
    steady.update({key: statistics.median(per_push(c)[key] for c in cycles) for key in ("requests", "db_ms", "queries")})  # fmt: skip
    print(f"\nN = {count} watched pushes ({first['pushes']} unfinished at the first cycle):")
    f = per_push(first)
    print(f"  first cycle: {first['wall']:.2f} s, {first['requests']} requests ({f['requests']:.2f} per push), "
          f"{first['bytes'] / 1e6:.1f} MB; database {f['db_ms']:.1f} ms and {f['queries']:.1f} queries per push; "
          f"{first['errors']} errors")  # fmt: skip
    print(f"  steady cycles (median of {len(cycles)}): {steady['wall']:.2f} s, {steady['requests']:.2f} requests "
          f"per push, {steady['bytes'] / 1e3:.0f} kB, {steady['full']:g} full reads; database "
          f"{steady['db_ms']:.1f} ms and {steady['queries']:.1f} queries per push; slowest "
          f"{max(c['wall'] for c in cycles):.2f} s; {sum(c['errors'] for c in cycles)} errors")  # fmt: skip
    print(f"  steady cycle with the most periodic full re-reads: {most_full['wall']:.2f} s, {most_full['full']} "
          f"full reads, {most_full['bytes'] / 1e6:.1f} MB")  # fmt: skip
    for size, values in sorted(result["ratios"].items(), key=lambda kv: int(kv[0])):
        print(f"  bytes incremental / full, same pushes same moment, {size}-job pushes: "
              f"median {statistics.median(values):.3f} ({len(values)} polls)")  # fmt: skip
    if result["big_db"]:
        print(f"  database time of one incremental poll of the {BIG}-job push: median "
              f"{1000 * statistics.median(result['big_db']):.1f} ms ({len(result['big_db'])} polls)")  # fmt: skip
    return {"n": count, "first": first["wall"], "steady": steady["wall"], "reread": most_full["wall"],
            "full": most_full["full"], "db_ms": steady["db_ms"], "first_db_ms": f["db_ms"],
            "requests": steady["requests"], "first_requests": f["requests"],
            "errors": first["errors"] + sum(c["errors"] for c in cycles)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated numbers of watched pushes")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake waits per request")
    parser.add_argument(
        "--steady", type=int, default=11, help="cycles after the first (11 reach the full re-read)"
    )
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--buildwatch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        return serve_fake(args.serve_fake, args.latency)
    if args.buildwatch:
        print(json.dumps(run_buildwatch(json.loads(args.buildwatch), args.steady, args.latency)))
        return None

    rows = []
    for count in (int(n) for n in args.sizes.split(",")):
        started = time.perf_counter()
        result, backend = measure(count, args.latency, args.steady)
        if not rows:
            mode = f"BUILDWATCH_POLL_CONCURRENCY={os.environ.get('BUILDWATCH_POLL_CONCURRENCY') or 16}"
            print(f"BuildWatch on {backend}; fake Treeherder in its own process, {args.latency * 1000:g} ms per "
                  f"request; {mode}; DEBUG=0 as in production; poll interval {POLL_SECONDS} s (simulated)")  # fmt: skip
        rows.append(report(count, result))
        print(f"  (measured in {time.perf_counter() - started:.0f} s)", flush=True)
    print("\ngrowth:   N  first (s)  steady median (s)  most re-reads (s, reads)  DB ms/push first, steady  "
          "requests/push first, steady")  # fmt: skip
    for row in rows:
        print(f"  {row['n']:>6}  {row['first']:>9.2f}  {row['steady']:>17.2f}  {row['reread']:>14.2f} "
              f"({row['full']:>4})  {row['first_db_ms']:>15.1f}, {row['db_ms']:>5.1f}  "
              f"{row['first_requests']:>19.2f}, {row['requests']:>5.2f}")  # fmt: skip
    if any(row["errors"] for row in rows):
        sys.exit("some polls failed: these numbers measure failures (see the errors above)")
    return None


if __name__ == "__main__":
    main()
