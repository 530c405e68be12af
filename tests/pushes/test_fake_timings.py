"""The fake Treeherder's timings (issue 26): `duration` counted the way Treeherder counts it, and the
VARIED pace's realistic spreads — each kind its own typical run time, chunks and runs that vary,
stragglers, runs lost to the infrastructure and run again as the same task."""

from __future__ import annotations

import statistics
from collections import defaultdict

import pytest
import requests

from fakeherder import UI_PROPERTY_NAMES, FakeTreeherder
from fakeherder.builder import VARIED, Builder, job_kind
from fakeherder.scenarios import HISTORY_PUSHES, scenario_history

T0 = 1_795_000_000


def ui_rows(fake: FakeTreeherder, push_id: int) -> dict[int, dict]:
    body = requests.get(f"{fake.url}/api/jobs/", params={"push_id": push_id}, timeout=10).json()
    rows = [dict(zip(UI_PROPERTY_NAMES, row, strict=True)) for row in body["results"]]
    return {row["id"]: row for row in rows}


def test_duration_counts_whole_minutes_from_submit_while_waiting_and_from_start_once_running(fake_treeherder):
    fake = fake_treeherder
    fake.reset("quick", start_time=T0)
    push_id = fake.add_push(size=3, hold="running")
    waiting = fake.add_job(push_id, "pending", at=fake.now() - 400)
    running = fake.add_job(push_id, "running", at=fake.now() - 10)
    fake.advance(100)

    rows = ui_rows(fake, push_id)
    assert rows[waiting]["duration"] == 8  # 500 s since it was submitted, Treeherder's Job.get_duration
    assert rows[running]["duration"] == 2  # 110 s since it started
    fake.set_job(running, "completed", "success")
    fake.advance(600)  # a completed job's duration stays its run time
    assert ui_rows(fake, push_id)[running]["duration"] == 2
    fresh = fake.add_job(push_id, "running")
    assert ui_rows(fake, push_id)[fresh]["duration"] == 1  # never below one minute


def test_a_running_jobs_duration_ticks_on_with_the_clock(fake_treeherder):
    fake = fake_treeherder
    fake.reset("quick", start_time=T0)
    push_id = fake.add_push(size=2, hold="running")
    job_id = fake.add_job(push_id, "running")
    seen = []
    for _ in range(4):
        seen.append(ui_rows(fake, push_id)[job_id]["duration"])
        fake.advance(60)
    assert seen == [1, 1, 2, 3]


@pytest.fixture(scope="module")
def history() -> list:
    return sorted(scenario_history(T0).values(), key=lambda push: push.id)


def test_the_history_scenario_is_pushes_one_after_another_none_visible_at_first(history):
    assert len(history) == HISTORY_PUSHES
    assert all(push.push_timestamp > T0 for push in history)
    assert [push.role for push in history[:2]] == ["history-1", "history-2"]
    assert [len(p.jobs) for p in sorted(scenario_history(T0).values(), key=lambda p: p.id)] == [
        len(p.jobs) for p in history
    ]  # deterministic


def test_each_kind_keeps_its_own_typical_run_time_from_push_to_push(history):
    runs = defaultdict(list)
    for push in history:
        for job in push.jobs:
            if job.kind == "test" and job.result == "success" and job.retry_id == 0:
                runs[(job.platform, job.platform_option, job_kind(job.job_type_name))].append(
                    job.end_at - job.start_at
                )
    typical = {kind: statistics.median(values) for kind, values in runs.items() if len(values) >= 20}
    assert len(typical) >= 10
    # Kinds differ far more than runs of one kind do: the middle half of one kind's runs spans a small
    # part of the range the kinds' typical times span.
    spread_between = max(typical.values()) / min(typical.values())
    spread_within = statistics.median(
        statistics.quantiles(runs[kind], n=4)[2] / statistics.quantiles(runs[kind], n=4)[0]
        for kind in typical
    )
    assert spread_between > 2.5 and 1.1 < spread_within < 1.8


def test_some_jobs_straggle_and_some_runs_are_lost_and_run_again(history):
    ratios, lost, jobs = [], [], 0
    for push in history:
        by_kind = defaultdict(list)
        for job in push.jobs:
            if job.kind == "test":
                jobs += 1
                by_kind[(job.platform, job.platform_option, job_kind(job.job_type_name))].append(job)
        for members in by_kind.values():
            done = [job.end_at - job.start_at for job in members if job.result != "retry"]
            if len(done) >= 4:
                middle = statistics.median(done)
                ratios += [run / middle for run in done]
        lost += [job for job in push.jobs if job.result == "retry"]
    assert 0.005 < sum(ratio > 1.8 for ratio in ratios) / len(ratios) < 0.05  # stragglers: a few in 100
    assert 0.005 < len(lost) / jobs < 0.04
    by_task = defaultdict(list)
    for push in history:
        for job in push.jobs:
            by_task[job.task_id].append(job)
    for job in lost:
        rerun = next(other for other in by_task[job.task_id] if other.retry_id == job.retry_id + 1)
        assert rerun.appear_at == job.end_at < rerun.start_at < rerun.end_at
        assert rerun.submitted_at == job.submitted_at  # a task's runs share its submit time


def test_without_variation_a_pace_draws_exactly_as_before():
    """The quick and demo scenarios' timings (which tests pin) do not change with the VARIED pace."""
    plain = Builder(T0, seed=3, first_push_id=1, first_job_id=1).push(
        author="a@mozilla.com", messages=["x"], pushed_at=T0, size=30
    )
    assert [round(job.end_at - T0, 3) for job in plain.jobs[:4]] == [
        150.0,
        587.291,
        486.312,
        535.542,
    ]  # as at the commit before issue 26
    varied = Builder(T0, seed=3, first_push_id=1, first_job_id=1).push(
        author="a@mozilla.com", messages=["x"], pushed_at=T0, size=30, pace=VARIED
    )
    assert [job.end_at for job in varied.jobs] != [job.end_at for job in plain.jobs]
