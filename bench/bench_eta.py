"""Benchmark: how close is a push's estimated finish (issue 26) to when it really finished?

    .venv/bin/python bench/bench_eta.py [--warmup 15] [--pushes 120] [--poll 60] [--raw FILE]

The fake Treeherder runs in its own process (`python -m fakeherder --scenario history --speed 0`): 120 try
pushes one every 10 simulated minutes, at the fake's VARIED pace (each kind of job its own typical run
time, chunks and runs that vary, a push-wide speed and queue load, stragglers, runs lost to the
infrastructure and run again; fakeherder/builder.py `Variation`). A BuildWatch process (a throwaway
SQLite database) watches every push as it appears and runs the real poll cycle every --poll simulated
seconds over real HTTP (`cycle.poll_cycle`: the batch writes learn the job durations), its clock
(time-machine) moving with the fake's. The first --warmup pushes only build the history. For every
later push, at the first poll where 25 %, 50 % and 75 % of its jobs (as then known) are done, it reads
the push's jobs as a page does (`/api/jobs/`) and asks `pushes.durations.push_eta`; beside it the naive
estimate, elapsed ÷ fraction done. Once every push has finished, its true finish is its last job's end
(`/api/project/try/jobs/` end_timestamp).

Reported per point: how many pushes got an estimate (the rest: "no estimate yet"); the median absolute
error of ours and of the naive estimate as a fraction of the push's total duration (push → last job
end), with the 25th–75th percentiles; how often the true finish fell inside our range (early–late); and
the time one estimate takes (median). Goals (issue 26): ≤ 15 % at 50 % done, the range holding the
truth ≥ 80 % of the time, and ours beating the naive estimate. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_triage import control, start_fake  # noqa: E402 - the fake in its own process, as there

POINTS = (0.25, 0.5, 0.75)


# --- The BuildWatch process -----------------------------------------------------------------------------


def run_buildwatch(url: str, warmup: int, count: int, poll: int) -> dict:  # noqa: C901, PLR0915 - one script
    import time_machine

    state = control(url, "state")
    traveller = time_machine.travel(state["now"], tick=False).start()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from notifications import cycle
    from notifications.models import Watch
    from pushes import durations, rules
    from pushes.treeherder.client import TreeherderClient

    call_command("migrate", verbosity=0)
    client = TreeherderClient(url, timeout=60)
    user = get_user_model().objects.create_user("bench", "bench@example.com")
    pushes = sorted(
        (p for p in state["pushes"] if p["role"].startswith("history-")),
        key=lambda p: int(p["role"].split("-")[1]),
    )[:count]
    pushed_at = {p["id"]: float(p["push_timestamp"]) for p in pushes}
    measured = [p["id"] for p in pushes[warmup:]]
    watched: set[int] = set()
    points: dict[int, dict[float, dict]] = {push_id: {} for push_id in measured}
    finished: set[int] = set()
    costs: list[float] = []
    now = state["now"]
    while len(finished) < len(measured):
        for push_id, at in pushed_at.items():
            if at <= now and push_id not in watched:
                Watch.objects.create(user=user, repo="try", push_id=push_id)
                watched.add(push_id)
        cycle.poll_cycle(dispatch_delivery=lambda _id: None, client=client, min_interval=0)
        for push_id in measured:
            if push_id in finished or push_id not in watched:
                continue
            jobs = client.jobs("try", push_id)
            work = [job for job in jobs if not rules.is_decision_or_action(job)]
            if work and rules.looks_finished(jobs):
                finished.add(push_id)
                continue
            done = sum(job.state == "completed" for job in work) / len(work) if work else 0.0
            for point in POINTS:
                if point in points[push_id] or done < point:
                    continue
                began = time.perf_counter()
                eta = durations.push_eta("try", jobs, timezone.now())
                costs.append(time.perf_counter() - began)
                elapsed = now - pushed_at[push_id]
                points[push_id][point] = {
                    "push": push_id,
                    "point": point,
                    "done": done,
                    "now": now,
                    "naive": pushed_at[push_id] + elapsed / done,
                    "eta": None if eta is None else [eta.early, eta.median, eta.late],
                    "jobs": len(work),
                    "known": None if eta is None else eta.known,
                    "unfinished": None if eta is None else eta.unfinished,
                }
        control(url, f"advance?seconds={poll}", "POST")
        traveller.shift(poll)
        now += poll
    for push_id in measured:
        ends = [job.end_timestamp for job in client.project_jobs("try", push_id) if job.end_timestamp]
        for measure in points[push_id].values():
            measure.update(pushed=pushed_at[push_id], finished=max(ends))
    return {"points": [measure for at in points.values() for measure in at.values()], "costs": costs}


# --- The report -------------------------------------------------------------------------------------------


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        value = values[0] if values else float("nan")
        return value, value, value
    low, middle, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, middle, high


def report(result: dict) -> None:
    measured = {point["push"]: point["finished"] - point["pushed"] for point in result["points"]}
    totals = list(measured.values())
    print(f"{len(totals)} pushes measured; their durations (push → last job end): median "
          f"{statistics.median(totals) / 60:.0f} min, range {min(totals) / 60:.0f}–{max(totals) / 60:.0f} min")  # fmt: skip
    print()
    print("done  estimates  ours: median error (25–75 %)  naive: median error (25–75 %)  "
          "truth in range  ours better")  # fmt: skip
    for point in POINTS:
        at = [measure for measure in result["points"] if measure["point"] == point]
        ours, naive, inside, better = [], [], 0, 0
        for measure in at:
            if measure["eta"] is None:
                continue
            total = measure["finished"] - measure["pushed"]
            early, median, late = measure["eta"]
            error = abs(median - measure["finished"]) / total
            naive_error = abs(measure["naive"] - measure["finished"]) / total
            ours.append(error)
            naive.append(naive_error)
            inside += early <= measure["finished"] <= late
            better += error < naive_error
        if not ours:
            print(f"{point:>4.0%}  0 of {len(at)}")
            continue
        n, o, v = len(ours), quartiles(ours), quartiles(naive)
        print(f"{point:>4.0%}  {n:>3} of {len(at):<3}  {o[1]:>10.1%} ({o[0]:.1%}–{o[2]:.1%})  "
              f"{v[1]:>15.1%} ({v[0]:.1%}–{v[2]:.1%})  {inside / n:>14.0%}  {better / n:>11.0%}")  # fmt: skip
    costs = result["costs"]
    if costs:
        low, middle, high = quartiles([1000 * c for c in costs])
        print(f"\none estimate (push_eta: the query and the computation): median {middle:.1f} ms "
              f"(25–75 %: {low:.1f}–{high:.1f} ms, {len(costs)} estimates)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=15, help="pushes that only build the history")
    parser.add_argument("--pushes", type=int, default=120, help="pushes in all (the scenario has 120)")
    parser.add_argument("--poll", type=int, default=60, help="simulated seconds between poll cycles")
    parser.add_argument("--raw", help="also write every point, estimate and truth to this JSON file")
    parser.add_argument("--buildwatch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.buildwatch:
        print(json.dumps(run_buildwatch(args.buildwatch, args.warmup, args.pushes, args.poll)))
        return
    started = time.perf_counter()
    fake, url = start_fake(0.0, scenario="history")
    try:
        tmp = tempfile.mkdtemp(prefix="bench-eta-")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "buildwatch.settings", "BUILDWATCH_VAR_DIR": tmp,
               "DATABASE_URL": "", "REDIS_URL": "", "TREEHERDER_URL": url, "EMAIL_URL": "dummy://",
               "BUILDWATCH_POLL_SECONDS": str(args.poll), "LOG_LEVEL": "ERROR", "DEBUG": "0",
               "SECRET_KEY": "bench-only"}  # fmt: skip
        child = subprocess.run(
            [sys.executable, __file__, "--buildwatch", url, "--warmup", str(args.warmup),
             "--pushes", str(args.pushes), "--poll", str(args.poll)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if child.returncode:
            sys.exit(f"the BuildWatch process failed:\n{child.stderr[-4000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        if args.raw:
            Path(args.raw).write_text(json.dumps(result, indent=1))
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    print(f"fake Treeherder (scenario history, VARIED pace) in its own process; BuildWatch on SQLite, a poll "
          f"cycle every {args.poll} simulated s; history from the first {args.warmup} pushes, then "
          f"{args.pushes - args.warmup} pushes predicted ({time.perf_counter() - started:.0f} s)")  # fmt: skip
    report(result)


if __name__ == "__main__":
    main()
