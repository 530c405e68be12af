"""Benchmark: what failure triage adds to a cold failure summary of the 5,000-job push.

    .venv/bin/python bench/bench_triage.py [--runs 9] [--latency 0.05]

The fake Treeherder runs in its own process (`python -m fakeherder`, default scenario, clock frozen
two hours in, when the big push has finished)
over real HTTP with `--latency` seconds before each answer, as a far-away Treeherder would. Each run
starts from an empty cache with the push's jobs already read (the page has them: that read is the same
with or without triage), then builds the failure summary of the "big" push (5,200 jobs) twice,
interleaved: with triage (error lines + bug suggestions of at most 15 failed jobs, one concurrent round)
and without (error lines only: bug suggestions switched off). Prints medians, the ratio and the upstream
requests each made (from the fake's own request log). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_fake(latency: float, scenario: str = "default") -> tuple[subprocess.Popen, str]:
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
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    return json.loads(body) if body else {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    process, url = start_fake(args.latency)
    try:
        os.environ["TREEHERDER_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "buildwatch.settings")
        import django

        django.setup()
        from django.core.cache import cache

        from pushes import evidence, rules, services

        control(url, "advance?seconds=7200", "POST")  # the big push finished, all its failures in
        push_id = next(p["id"] for p in control(url, "state")["pushes"] if p["role"] == "big")
        real_suggestions = evidence._suggestions

        def measure(triage: bool) -> tuple[float, int, rules.FailureSummary]:
            cache.clear()
            jobs = services.jobs("try", push_id).value  # what the page already read
            evidence._suggestions = real_suggestions if triage else (lambda *a, **k: None)
            control(url, "clear-requests", "POST")
            start = time.perf_counter()
            summary = evidence.failure_summary("try", jobs, finished=rules.looks_finished(jobs))
            elapsed = time.perf_counter() - start
            return elapsed, control(url, "requests")["count"], summary

        with_triage, without = [], []
        for _ in range(args.runs):
            with_triage.append(measure(True))
            without.append(measure(False))
        evidence._suggestions = real_suggestions
        jobs = len(services.jobs("try", push_id).value)
        summary = with_triage[-1][2]
        base = statistics.median(t for t, _, _ in without)
        full = statistics.median(t for t, _, _ in with_triage)
        print(
            f"cold failure summary of the {jobs}-job push, {summary.failed_total} failed jobs "
            f"({len(summary.logs)} logs read), {args.runs} runs, {args.latency * 1000:.0f} ms upstream latency"
        )
        print(f"  verdict: {summary.verdict_label} ({summary.triage_line})")
        for name, samples in (("without triage", without), ("with triage", with_triage)):
            median = statistics.median(t for t, _, _ in samples)
            requests = statistics.median(n for _, n, _ in samples)
            print(f"  {name:15} median {median * 1000:7.1f} ms  upstream requests {requests:g}")
        extra = statistics.median(n for _, n, _ in with_triage) - statistics.median(n for _, n, _ in without)
        print(
            f"  triage adds x{full / base:.2f} time and {extra:g} upstream requests "
            f"(goal: one concurrent round, one bug-suggestions read per failed job read)"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
