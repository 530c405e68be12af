"""Benchmark: triage at scale — the verdict of a try push with 60 and 300 failed jobs, and its later polls.

    .venv/bin/python bench/bench_triage.py [--runs 5] [--latency 0.05]

The fake Treeherder runs in its own process (`python -m fakeherder --scenario triage`, clock frozen) over
real HTTP, answering each request after --latency seconds, as a far-away Treeherder would. BuildWatch
runs here on a throwaway SQLite database and the local-memory cache, with its defaults
(BUILDWATCH_EVIDENCE_CONCURRENCY reads at once, BUILDWATCH_EVIDENCE_POLL_SECONDS a poll). Requests are
counted from the fake's own request log. For each push (`running-60`, `running-300`: that many known
intermittents failed and 10 more about to fail; `mixed`: 300 failed jobs, four of them failing on the
base push, two new), every run starts from nothing (the fake reset, an empty database and cache) and
measures:

- the first complete verdict: the push's jobs read, then `pushes.evidence.failure_summary` (what the
  push page, confirm, the early alert and the poller all call) until every failed job is triaged —
  requests and wall time (goals: at most 2 x failed jobs + 3 requests; the 300-job verdict inside one
  poll interval, 60 s);
- a restart: the cache cleared (the database kept) and the verdict again — evidence re-read (goal: 0);
- a later poll when 10 more jobs fail: the push watched and polled once (`poller.poll_push`), the fake's
  clock moved 10.5 minutes (10 more failures, their logs parsed), the next poll — its requests (goal: at
  most 2 x 10 + 2).

Then the push page's failure summary of `running-300`, cold, at --page-latency per request: each view
keeps to the page's Treeherder budget (TREEHERDER_PAGE_TIMEOUT) and says how many failed jobs it triaged;
views follow one another until the verdict is complete (wall time of each, triaged count).

Medians, with the range over the runs. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PUSHES = (("running-60", 60), ("running-300", 300), ("mixed", 300))
LATER = 10  # jobs that fail between the two polls
POLL_INTERVAL = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_fake(latency: float, scenario: str = "triage") -> tuple[subprocess.Popen, str]:
    """The fake Treeherder in its own process, its clock frozen; (process, url) once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "fakeherder", "--port", str(port), "--scenario", scenario,
               "--speed", "0", "--latency", str(latency)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/__fake__/state", timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the fake Treeherder did not start")


def control(url: str, action: str, method: str = "GET") -> dict:
    request = urllib.request.Request(f"{url}/__fake__/{action}", method=method)
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
    return json.loads(body) if body else {}


def requests_made(url: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in control(url, "requests")["requests"]]


def evidence_reads(paths: list[str]) -> int:
    return sum(1 for path in paths if "/bug_suggestions/" in path or "/job-log-url/" in path)


def spread(values: list[float], unit: str = "", digits: int = 0) -> str:
    median = statistics.median(values)
    low, high = min(values), max(values)
    fmt = f"{{:.{digits}f}}"
    if low == high:
        return f"{fmt.format(median)}{unit}"
    return f"{fmt.format(median)}{unit} ({fmt.format(low)}–{fmt.format(high)})"


def main() -> None:  # noqa: PLR0915 - one script
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--page-latency", type=float, default=0.2)
    args = parser.parse_args()
    process, url = start_fake(args.latency)
    database = Path(tempfile.mkdtemp(prefix="bench-triage-")) / "db.sqlite3"
    try:
        # A short refresh interval: an incomplete failure view is cached this long (the page views below).
        os.environ.update(
            TREEHERDER_URL=url,
            DATABASE_URL=f"sqlite:///{database}",
            REDIS_URL="",
            BUILDWATCH_REFRESH_SECONDS="3",
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "buildwatch.settings")
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.cache import cache
        from django.core.management import call_command

        from notifications import poller
        from notifications.models import PushState, Watch
        from pushes import evidence
        from pushes.models import JobEvidence
        from pushes.treeherder.client import get_client

        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user("bench", "bench@example.com")
        rows: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.runs):
            for role, _failed in PUSHES:
                control(url, "reset?scenario=triage", "POST")
                cache.clear()
                JobEvidence.objects.all().delete()
                Watch.objects.all().delete()
                PushState.objects.all().delete()
                push_id = next(p["id"] for p in control(url, "state")["pushes"] if p["role"] == role)
                revision = get_client().push("try", push_id).revision  # the page and the poller have it
                row = rows.setdefault(role, {})

                control(url, "clear-requests", "POST")
                started = time.perf_counter()
                jobs = get_client(background=True).jobs("try", push_id)
                summary = evidence.failure_summary("try", jobs, revision=revision, background=True)
                row.setdefault("seconds", []).append(time.perf_counter() - started)
                first = requests_made(url)
                row.setdefault("requests", []).append(len(first))
                row.setdefault("evidence", []).append(evidence_reads(first))
                row.setdefault("complete", []).append(summary.complete)
                row.setdefault("failed", []).append(summary.failed_total)
                row["verdict"] = [summary.triage_line]

                cache.clear()  # a restart: the cache is gone, the database stays
                control(url, "clear-requests", "POST")
                jobs = get_client(background=True).jobs("try", push_id)
                again = evidence.failure_summary("try", jobs, revision=revision, background=True)
                restart = requests_made(url)
                row.setdefault("restart_evidence", []).append(evidence_reads(restart))
                row.setdefault("restart_requests", []).append(len(restart))
                row.setdefault("same_after_restart", []).append(again.groups == summary.groups)

                if role.startswith("running"):
                    Watch.objects.create(user=user, repo="try", push_id=push_id)
                    poller.poll_push("try", push_id, min_interval=0)
                    control(url, f"advance?seconds={10 * 60 + 30}", "POST")
                    control(url, "clear-requests", "POST")
                    result = poller.poll_push("try", push_id, min_interval=0)
                    later = requests_made(url)
                    assert result.polled and not result.full_read, result
                    row.setdefault("later", []).append(len(later))
                    row.setdefault("later_evidence", []).append(evidence_reads(later))

        print(
            f"Triage at scale: fake Treeherder in its own process, {args.latency * 1000:.0f} ms per request, "
            f"{args.runs} runs, BUILDWATCH_EVIDENCE_CONCURRENCY={settings.BUILDWATCH_EVIDENCE_CONCURRENCY}, "
            f"medians (range)"
        )
        print()
        print("| push | failed jobs | requests to the first complete verdict (goal) | time to it | "
              "evidence re-read after a restart | requests of a later poll, 10 more failed (goal) |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for role, failed in PUSHES:
            row = rows[role]
            goal = 2 * failed + 3
            later = (
                f"{spread(row['later'])} ({spread(row['later_evidence'])} evidence) (≤ {2 * LATER + 2})"
                if "later" in row
                else "—"
            )
            print(
                f"| {role} | {failed} | {spread(row['requests'])} (≤ {goal}) | {spread(row['seconds'], ' s', 2)} "
                f"(≤ {POLL_INTERVAL} s) | {spread(row['restart_evidence'])} of "
                f"{spread(row['restart_requests'])} requests | {later} |"
            )
        print()
        for role, _ in PUSHES:
            row = rows[role]
            print(
                f"{role}: complete in every run: {all(row['complete'])}; same verdict after a restart: "
                f"{all(row['same_after_restart'])}; evidence read on the first verdict {spread(row['evidence'])}; "
                f"verdict: {row['verdict'][0]}"
            )
        page_views(url, args.page_latency, settings)
    finally:
        process.terminate()
        process.wait(timeout=10)


def page_views(url: str, latency: float, settings: object) -> None:
    """The failure summary of `running-300` as a page shows it, cold, view after view."""
    import re

    from django.core.cache import cache
    from django.test import Client

    from pushes.models import JobEvidence

    control(url, "reset?scenario=triage", "POST")
    control(url, f"latency?seconds={latency}", "POST")
    cache.clear()
    JobEvidence.objects.all().delete()
    push_id = next(p["id"] for p in control(url, "state")["pushes"] if p["role"] == "running-300")
    settings.ALLOWED_HOSTS = ["testserver"]
    print()
    print(
        f"Push page, failure summary of running-300 (300 failed jobs), cold, {latency * 1000:.0f} ms per request, "
        f"TREEHERDER_PAGE_TIMEOUT={settings.TREEHERDER_PAGE_TIMEOUT:g} s:"
    )
    for view in range(1, 8):
        started = time.perf_counter()
        html = Client().get(f"/try/pushes/{push_id}/failures/", HTTP_HX_REQUEST="true").content.decode()
        seconds = time.perf_counter() - started
        found = re.search(r'data-triaged="(\d+)"', html)
        triaged = int(found.group(1)) if found else 300
        print(f"  view {view}: {seconds:.2f} s, triaged {triaged} of 300")
        if not found:
            break
        time.sleep(cache_wait(settings))


def cache_wait(settings: object) -> float:
    """A view is cached for the refresh interval while triage is incomplete: the next one comes after it."""
    from pushes import cached

    return cached.short_ttl() + 0.1


if __name__ == "__main__":
    main()
