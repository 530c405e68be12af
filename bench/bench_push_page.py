"""Benchmark: the detail page of a 5,000-job push, against the floor of just decoding its JSON.

    .venv/bin/python bench/bench_push_page.py [--runs 15] [--jobs 5000]

Treeherder is simulated with `responses` (no network): 5,000 jobs over three `/api/jobs/` pages, as
the real server pages them. "cold" renders start from an empty cache (every Treeherder read happens);
"warm" renders are what viewers of a cached push get, and what each live refresh costs. Prints medians
and ratios only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "buildwatch.settings")
os.environ["TREEHERDER_URL"] = "https://treeherder.example"

import django  # noqa: E402

django.setup()

import responses  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402

TH = "https://treeherder.example"
PUSH_ID = 777
NAMES = [
    "duration", "failure_classification_id", "id", "job_group_name", "job_group_symbol", "job_type_name",
    "job_type_symbol", "last_modified", "option_collection_hash", "platform", "platform_option", "push_id",
    "result", "signature", "state", "tier", "task_id", "retry_id",
]  # fmt: skip
PLATFORMS = [(f"platform-{p}", option) for p in range(24) for option in ("opt", "debug")]


def job_row(i: int) -> list:
    platform, option = PLATFORMS[i % len(PLATFORMS)]
    state = "running" if i % 7 == 0 else "completed"
    result = "testfailed" if i % 97 == 0 else "success"
    values = {
        "duration": 10 + i % 50, "failure_classification_id": 1, "id": 1_000_000 + i,
        "job_group_name": "Mochitests", "job_group_symbol": f"M{i % 5}",
        "job_type_name": f"test-{platform}/{option}-mochitest-{i}", "job_type_symbol": str(i % 40),
        "last_modified": "2026-11-24T10:00:00.000000", "option_collection_hash": "x", "platform": platform,
        "platform_option": option, "push_id": PUSH_ID, "result": result if state == "completed" else "unknown",
        "signature": "s", "state": state, "tier": 1 if i % 10 else 2, "task_id": f"T{i:021d}", "retry_id": 0,
    }  # fmt: skip
    return [values[name] for name in NAMES]


def pages(total: int, size: int = 2000) -> list[str]:
    bodies = []
    for number, start in enumerate(range(0, total, size), start=1):
        rows = [job_row(i) for i in range(start, min(total, start + size))]
        more = start + size < total
        next_url = f"{TH}/api/jobs/?push_id={PUSH_ID}&count={size}&page={number + 1}" if more else None
        bodies.append(json.dumps({"count": total, "next": next_url, "previous": None, "results": rows,
                                  "job_property_names": NAMES}))
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=5000)
    args = parser.parse_args()
    bodies = pages(args.jobs)
    push = {"id": PUSH_ID, "revision": "a" * 40, "author": "dev@mozilla.com", "push_timestamp": 1764000000,
            "revisions": [{"revision": "a" * 40, "author": "dev", "comments": "Bug 1 - Benchmark. r=me"}]}
    client = Client()
    url = f"/try/pushes/{PUSH_ID}/"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{TH}/api/repository/", json=[{"name": "try"}])
        rsps.get(f"{TH}/api/project/try/push/{PUSH_ID}/", json=push)
        rsps.get(f"{TH}/api/project/try/push/decisiontask/", json={str(PUSH_ID): {"id": "D", "run": "0"}})
        for number, body in enumerate(bodies, start=1):
            params = {"push_id": str(PUSH_ID), "count": "2000"} | ({"page": str(number)} if number > 1 else {})
            rsps.get(f"{TH}/api/jobs/", body=body, content_type="application/json",
                     match=[responses.matchers.query_param_matcher(params)])

        def timed(warm: bool, headers: dict) -> tuple[float, int]:
            if not warm:
                cache.clear()
            calls = len(rsps.calls)
            start = time.perf_counter()
            response = client.get(url, **headers)
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, response.status_code
            return elapsed, len(rsps.calls) - calls

        cold = [timed(False, {}) for _ in range(args.runs)]
        timed(False, {})
        warm = [timed(True, {}) for _ in range(args.runs)]
        refresh = [timed(True, {"HTTP_HX_REQUEST": "true"}) for _ in range(args.runs)]
        size = len(client.get(url).content)

    decode = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for body in bodies:
            json.loads(body)
        decode.append(time.perf_counter() - start)

    floor = statistics.median(decode)
    print(f"push of {args.jobs} jobs, {len(bodies)} pages of /api/jobs/, {args.runs} runs, page {size // 1024} KiB")
    print(f"  json-decode only (floor)   median {floor * 1000:7.1f} ms")
    for name, samples in (("cold page (empty cache)", cold), ("warm page (cached)", warm),
                          ("live refresh (htmx)", refresh)):
        median = statistics.median(t for t, _ in samples)
        upstream = statistics.median(n for _, n in samples)
        print(f"  {name:26} median {median * 1000:7.1f} ms  x{median / floor:5.1f} floor"
              f"  upstream requests {upstream:g}")


if __name__ == "__main__":
    main()
