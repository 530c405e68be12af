"""Benchmark: one poll cycle over 1,000 watched pushes of 300 users, against the fake Treeherder over HTTP.

    .venv/bin/python bench/bench_poller.py [--pushes 1000] [--users 300] [--jobs 40] [--latency 0.01] [--cycles 3]

The fake answers every API request after `--latency` seconds. Between cycles simulated time moves one
poll interval (60 s), so jobs change state and incremental reads have something to return. Measured:
- upstream requests per cycle against the number of distinct unfinished pushes (the contract: equal
  or fewer; the first cycle also reads each push's title once);
- bytes per cycle, incremental (`last_modified__gt`) against re-fetching every job of every push;
- cycle wall time with 1 and 2 workers. A "worker" is a thread running poller.poll_push for the
  fanned-out pushes, as one Celery worker process of concurrency 1 would (the work is I/O-bound).
Runs on a throwaway SQLite database (or PostgreSQL with BENCH_DATABASE_URL=postgres://…). Prints
medians and ratios only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakeherder import FakeTreeherder  # noqa: E402
from fakeherder.builder import DEMO, Builder  # noqa: E402

POLL_SECONDS = 60


def build_fake(pushes: int, jobs: int, latency: float) -> FakeTreeherder:
    fake = FakeTreeherder(scenario="quick", speed=0)
    t0 = fake.now()
    builder = Builder(t0, seed=99, first_push_id=900_001, first_job_id=800_000_000)
    for n in range(pushes):
        # Pushed over the last 20 minutes at the demo pace: every push is somewhere mid-flight.
        builder.push(author=f"dev{n % 300}@mozilla.com", messages=[f"Bug {2_000_000 + n} - Bench push {n}. r=dev"],
                     pushed_at=t0 - (n % 20) * 60 - 30, size=jobs, plan="green", pace=DEMO)  # fmt: skip
    with fake._lock:
        fake.pushes.update(builder.pushes)
        fake._index()
    fake.start()
    fake.set_latency(latency)
    return fake


class Meter:
    """A requests response hook: counts requests and body bytes, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    def hook(self, response, *args, **kwargs):
        with self.lock:
            self.requests += 1
            self.bytes += len(response.content)
        return response

    def take(self) -> tuple[int, int]:
        with self.lock:
            taken = (self.requests, self.bytes)
            self.requests = self.bytes = 0
            return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=1000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=40, help="jobs per push")
    parser.add_argument("--latency", type=float, default=0.01, help="seconds the fake waits per request")
    parser.add_argument("--cycles", type=int, default=3, help="measured steady-state cycles per worker count")
    args = parser.parse_args()

    print(f"building {args.pushes} pushes x {args.jobs} jobs in the fake Treeherder…", flush=True)
    fake = build_fake(args.pushes, args.jobs, args.latency)
    tmp = tempfile.mkdtemp(prefix="bench-poller-")
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "buildwatch.settings",
        "BUILDWATCH_VAR_DIR": tmp,
        "TREEHERDER_URL": fake.url,
        "BUILDWATCH_POLL_SECONDS": str(POLL_SECONDS),
        "EMAIL_URL": "dummy://",
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", ""),
        "LOG_LEVEL": "ERROR",
    })  # fmt: skip

    import django

    django.setup()
    import requests
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from notifications import poller
    from notifications.models import PushState, Watch
    from pushes import services as pushes_services
    from pushes.treeherder import TreeherderClient

    call_command("migrate", verbosity=0)
    if connection.vendor == "postgresql":  # BENCH_DATABASE_URL: start from empty tables
        call_command("flush", "--noinput", verbosity=0)
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"user{n}", email=f"user{n}@example.com") for n in range(args.users)]
    )
    push_ids = sorted(fake.pushes)[-args.pushes:] if len(fake.pushes) > args.pushes else sorted(fake.pushes)
    push_ids = [p for p in push_ids if p >= 900_001]
    # 1,000 pushes across 300 users: each push has its author's watcher, every third a second watcher.
    watches = [Watch(user=users[n % args.users], repo="try", push_id=p) for n, p in enumerate(push_ids)]
    watches += [Watch(user=users[(n + 7) % args.users], repo="try", push_id=p)
                for n, p in enumerate(push_ids) if n % 3 == 0]  # fmt: skip
    Watch.objects.bulk_create(watches)

    meter = Meter()
    session = requests.Session()
    session.hooks["response"].append(meter.hook)
    client = TreeherderClient(fake.url, timeout=30, session=session)
    # Every poll in this process goes through the meter, and so do the failure summary's log reads.
    poller.get_client = lambda **kwargs: client
    pushes_services.get_client = lambda **kwargs: client

    def cycle(workers: int) -> dict:
        fanned: list[tuple[str, int]] = []
        started = time.perf_counter()
        summary = poller.poll_cycle(dispatch_poll=lambda repo, p: fanned.append((repo, p)),
                                      dispatch_delivery=lambda nid: None)  # fmt: skip
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda rp: poller.poll_push(*rp, min_interval=0), fanned))
        wall = time.perf_counter() - started
        requests_made, body_bytes = meter.take()
        fake.advance(POLL_SECONDS)
        return {
            "wall": wall, "requests": requests_made, "bytes": body_bytes, "pushes": len(summary.pushes),
            "full": sum(r.full_read for r in results), "errors": sum(bool(r.error) for r in results),
        }  # fmt: skip

    def full_refetch_bytes() -> int:
        """What one cycle would cost re-reading every job of every unfinished push."""
        meter.take()
        for p in PushState.objects.exclude(state="finished").values_list("push_id", flat=True):
            client.jobs("try", p)
        return meter.take()[1]

    print(f"{len(Watch.objects.all())} watches of {args.users} users on {len(push_ids)} pushes; "
          f"fake latency {args.latency * 1000:g} ms per request", flush=True)  # fmt: skip
    first = cycle(2)
    print(f"first cycle (full reads + one title read per push): {first['requests']} requests for "
          f"{first['pushes']} pushes, {first['bytes'] / 1e6:.1f} MB, {first['wall']:.1f} s with 2 workers")  # fmt: skip

    # Interleaved, so both worker counts see pushes at the same stages.
    by_workers: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(args.cycles):
        for workers in (1, 2):
            by_workers[workers].append(cycle(workers))
    rows = list(by_workers.items())
    unfinished = PushState.objects.exclude(state="finished").count()
    refetch = full_refetch_bytes()

    print("\nsteady-state cycles (incremental reads; a full re-read every 10 polls or when a push looks finished):")
    for workers, measured in rows:
        med = {key: statistics.median(m[key] for m in measured) for key in ("wall", "requests", "bytes", "pushes", "full")}
        ratio = med["requests"] / med["pushes"] if med["pushes"] else 0
        print(f"  {workers} worker(s): median {med['wall']:.2f} s/cycle; {med['requests']:.0f} requests for "
              f"{med['pushes']:.0f} distinct unfinished pushes ({ratio:.2f} per push); "
              f"{med['bytes'] / 1e3:.0f} kB/cycle; {med['full']:.0f} full reads")  # fmt: skip
    one = statistics.median(m["wall"] / max(m["pushes"], 1) for m in rows[0][1])
    two = statistics.median(m["wall"] / max(m["pushes"], 1) for m in rows[1][1])
    steady_bytes = statistics.median(m["bytes"] for w, ms in rows for m in ms)
    print(f"\nre-fetching every job of the {unfinished} unfinished pushes: {refetch / 1e6:.1f} MB per cycle; "
          f"incremental: {steady_bytes / 1e3:.0f} kB (ratio {refetch / max(steady_bytes, 1):.1f}x fewer bytes)")  # fmt: skip
    print(f"wall time per push, 1 worker: {one * 1000:.1f} ms, 2 workers: {two * 1000:.1f} ms "
          f"(2 workers {one / two:.2f}x faster); {unfinished} pushes still unfinished")
    worst = max(m["requests"] - m["pushes"] for _, ms in rows for m in ms)
    print("contract (requests per steady cycle <= distinct unfinished pushes):", "OK" if worst <= 0 else f"VIOLATED by {worst}")
    fake.stop()
    if worst > 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
