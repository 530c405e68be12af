"""A push's estimated finish (pushes/eta.py, issue 26): what the poller learns from one read of a job
row, and the estimate — no history, stragglers, retries, jobs added mid-run, the push's own speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushes import eta, rules
from pushes.eta import SHAPE, History, Kind, Timing, estimate, job_chunk, job_kind, learn, observe
from tests.test_imports import imported_modules

NOW = 1_800_000_000.0
LINUX = "linux1804-64-qr"
NAME = "test-linux1804-64-qr/opt-mochitest-browser-chrome"
KIND = Kind(LINUX, "opt", NAME)


def job(job_id: int = 1, state: str = "running", *, name: str = f"{NAME}-1", result: str = "unknown",
        duration: float | None = 1.0, retry_id: int = 0, platform: str = LINUX, **fields) -> rules.Job:  # fmt: skip
    values = dict(
        id=job_id, push_id=9, task_id=f"task{job_id}", platform=platform, platform_option="opt",
        job_type_name=name, job_type_symbol="bc", job_group_name="Mochitests", job_group_symbol="M",
        state=state, result=result if state == "completed" else "unknown", start_timestamp=None,
        end_timestamp=None, tier=1, retry_id=retry_id, duration=duration,
    )  # fmt: skip
    return rules.Job(**{**values, **fields})


def decision(state: str = "completed") -> rules.Job:
    return job(
        0, state, name="Gecko Decision Task", result="success", job_type_symbol="D", platform="gecko-decision"
    )


def history(runs=(600.0,) * 20, waits=(120.0,) * 20, retries=0, queues=(30.0,) * 20, shape=None):
    """A kind whose runs take 10 minutes, and (by default) a SHAPE of runs that all take their kind's
    typical time."""
    return {KIND: History.of(runs, waits, retries, queues), SHAPE: shape or History.of([1.0] * 400)}


# --- The module stays pure -------------------------------------------------------------------------------


def test_the_eta_module_imports_no_django_http_or_clock():
    imported = {name.split(".")[0] for name in imported_modules("pushes.eta", Path(eta.__file__))}
    assert "pushes" in imported, "the walk found no imports at all: the check itself is broken"
    assert not imported & {"django", "requests", "time", "datetime", "urllib3", "httpx", "socket"}


# --- Kinds ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "chunk"),
    [
        ("test-linux1804-64-qr/opt-mochitest-browser-chrome-3", "test-linux1804-64-qr/opt-mochitest-browser-chrome", "3"),
        ("test-linux1804-64-qr/opt-mochitest-browser-chrome-12", "test-linux1804-64-qr/opt-mochitest-browser-chrome", "12"),
        ("test-android-hw-p2-8-0-arm7-api-16/debug-fennec-jittest-1proc-3",
         "test-android-hw-p2-8-0-arm7-api-16/debug-fennec-jittest-1proc", "3"),
        ("test-linux1804-64-shippable-qr/opt-web-platform-tests-fis-e10s-7",
         "test-linux1804-64-shippable-qr/opt-web-platform-tests-fis-e10s", "7"),
        ("build-linux64/opt", "build-linux64/opt", ""),
        ("source-test-mozlint-eslint", "source-test-mozlint-eslint", ""),
        ("test-linux64-shippable-qr/opt-talos-tabswitch-e10s", "test-linux64-shippable-qr/opt-talos-tabswitch-e10s", ""),
    ],
)  # fmt: skip
def test_a_kind_is_platform_option_and_the_name_without_its_chunk_number(name, kind, chunk):
    one = job(name=name)
    assert job_kind(one) == Kind(LINUX, "opt", kind)
    assert job_chunk(one) == chunk


# --- Learning ------------------------------------------------------------------------------------------


def test_a_jobs_times_are_worked_out_from_its_minutes_and_last_modified_and_learned_once():
    submitted = NOW - 300
    waiting = job(state="unscheduled", duration=5.0)  # 5 minutes since it was submitted
    first = observe(waiting, None, NOW, modified_at=submitted)
    assert first == Timing(submitted=round(submitted))
    assert learn(waiting, None, None, first, NOW, submitted) is None

    pending = job(state="pending", duration=7.0)
    queued = NOW + 100  # its last_modified: when it turned pending
    second = observe(pending, first, NOW + 120, modified_at=queued)
    assert second == Timing(submitted=round(submitted), queued=round(queued))

    running = job(state="running", duration=1.0)
    started = NOW + 150  # its last_modified: when it started, which its minutes agree with
    third = observe(running, second, NOW + 180, modified_at=started)
    assert third.started == round(started)
    sample = learn(running, "pending", second, third, NOW + 180, started)
    assert (sample.kind, sample.wait, sample.queue, sample.run) == (KIND, 450.0, 50.0, None)

    done = job(state="completed", result="success", duration=10.0)
    ended = started + 610
    fourth = observe(done, third, ended + 40, modified_at=ended)
    assert fourth == third  # nothing new about its submit, queue or start
    sample = learn(done, "running", third, fourth, ended + 40, ended)
    assert (sample.run, sample.wait, sample.retried) == (610.0, None, False)  # to the second, not 10 min
    assert learn(done, "completed", fourth, fourth, ended + 100, ended) is None  # once


def test_without_last_modified_the_minutes_alone_tell():
    timing = observe(job(state="running", duration=4.0), None, NOW)
    assert timing == Timing(started=round(NOW - 240))
    done = job(state="completed", result="testfailed", duration=12.0)
    first_seen_done = observe(done, None, NOW)
    assert learn(done, None, None, first_seen_done, NOW).run == 720.0  # a push read when it was over


@pytest.mark.parametrize("result", ["usercancel", "superseded", "exception", "busted"])
def test_a_run_that_did_not_run_through_teaches_no_run_time(result):
    done = job(state="completed", result=result, duration=3.0)
    assert learn(done, "running", Timing(started=1), Timing(started=1), NOW) is None


def test_a_lost_run_is_learned_as_such_and_its_reruns_wait_says_nothing():
    lost = job(state="completed", result="retry", duration=4.0)
    sample = learn(lost, "running", Timing(started=1), Timing(started=1), NOW)
    assert (sample.retried, sample.run) == (True, None)

    rerun = job(2, state="running", retry_id=1, duration=1.0)
    before = Timing(submitted=round(NOW - 3000), queued=round(NOW - 90))  # submitted: its task's creation
    now = observe(rerun, before, NOW, modified_at=NOW - 40)
    sample = learn(rerun, "pending", before, now, NOW, NOW - 40)
    assert (sample.wait, sample.queue) == (None, 50.0)


def test_decision_and_action_tasks_teach_nothing():
    assert learn(decision(), "running", Timing(started=1), Timing(started=1), NOW) is None


def test_a_kind_keeps_its_newest_samples_and_none_too_old():
    old = [[NOW - 40 * 86400, 5.0]] + [[NOW - 100 + n, float(n)] for n in range(60)]
    kept = eta.keep(old, [[NOW, 99.0]], NOW)
    assert len(kept) == eta.WINDOW and kept[-1] == [NOW, 99.0] and kept[0][0] > NOW - 86400


def test_a_chunks_own_runs_move_its_kinds_typical_time():
    runs = [600.0] * 20
    assert eta.scale(runs) == 600.0
    assert eta.scale([600.0, 600.0]) is None  # too few
    assert eta.scale(runs, [900.0] * 5) == pytest.approx(600 * 1.5 ** (5 / 6))  # believed n/(n+1)
    assert eta.ratio(1200.0, runs) == 2.0


def test_the_shape_separates_a_pushs_speed_from_how_its_runs_spread():
    slow = [[NOW, ratio * 1.3, 1] for ratio in (0.9, 1.0, 1.0, 1.1, 1.0)]
    fast = [[NOW, ratio * 0.8, 2] for ratio in (0.9, 1.0, 1.0, 1.1, 1.0)]
    shape = eta.shape_history(slow + fast, retries=3)
    assert shape.speeds == pytest.approx((0.8, 1.3))
    assert shape.runs == pytest.approx(tuple(sorted([0.9, 1.0, 1.0, 1.1, 1.0] * 2)))
    assert shape.retries == 3


# --- Predicting: when there is no honest answer -------------------------------------------------------------


def test_no_history_no_estimate():
    assert estimate([decision(), job()], {}, NOW) is None
    assert estimate([decision(), job()], {KIND: History.of([600.0, 600.0])}, NOW) is None  # two runs: too few


def test_too_few_jobs_with_history_no_estimate_but_a_few_unknown_ones_are_estimated_like_the_rest():
    known = [job(n, name=f"{NAME}-{n}") for n in range(1, 5)]
    unknown = [job(10 + n, name=f"test-linux1804-64-qr/opt-new-suite-{n}") for n in range(2)]
    assert estimate([decision(), *known, *unknown], history(), NOW) is None  # 4 of 6 known: < 80 %
    result = estimate([decision(), *known, *unknown[:1]], history(), NOW)  # 4 of 5
    assert result is not None and (result.unfinished, result.known) == (5, 4)


def test_while_the_decision_task_runs_or_nothing_is_left_there_is_no_estimate():
    assert estimate([decision("running")], history(), NOW) is None
    assert estimate([decision("running"), job()], history(), NOW) is None
    done = job(state="completed", result="success", duration=10.0)
    assert estimate([decision(), done], history(), NOW) is None


# --- Predicting -------------------------------------------------------------------------------------------


def test_a_running_job_ends_when_its_kind_usually_does():
    result = estimate([decision(), job(duration=None, start_timestamp=int(NOW - 100))], history(), NOW)
    assert result.early <= result.median <= result.late
    assert result.median == pytest.approx(NOW + 500, abs=eta.PRECISION)


def test_minutes_read_earlier_count_on_to_now():
    read = job(duration=2.0)  # 2 minutes run when it was read, 60 s ago
    result = estimate([decision(), read], history(), NOW, observed_at=NOW - 60)
    assert result.median == pytest.approx(NOW + 600 - 180, abs=eta.PRECISION)


def test_the_push_ends_when_its_slowest_job_ends():
    early = job(1, duration=None, start_timestamp=int(NOW - 500))
    late = job(2, name=f"{NAME}-2", duration=None, start_timestamp=int(NOW - 60))
    alone = estimate([decision(), early], history(), NOW)
    both = estimate([decision(), early, late], history(), NOW)
    assert alone.median == pytest.approx(NOW + 100, abs=eta.PRECISION)
    assert both.median == pytest.approx(NOW + 540, abs=eta.PRECISION)


def test_a_waiting_job_waits_then_runs():
    unscheduled = job(state="unscheduled", duration=1.0)  # its build still runs: waits 120 s in all
    result = estimate([decision(), unscheduled], history(), NOW, observed_at=NOW)
    assert result.median == pytest.approx(NOW + 60 + 600, abs=eta.PRECISION)
    pending = job(state="pending", duration=3.0)  # queued since 10 s ago: queues take 30 s
    result = estimate([decision(), pending], history(), NOW, changed_at={pending.id: NOW - 10})
    assert result.median == pytest.approx(NOW + 20 + 600, abs=eta.PRECISION)


def test_a_straggler_past_all_its_history_is_never_done_sooner_than_the_floor():
    straggler = job(duration=None, start_timestamp=int(NOW - 1500))  # its kind takes 600 s
    result = estimate([decision(), straggler], history(), NOW)
    assert result.early >= NOW + eta.FLOOR
    # It may end any moment, or overrun as much again as it has overrun so far.
    assert result.late == pytest.approx(NOW + eta.FLOOR + 0.95 * (900 - eta.FLOOR), abs=eta.PRECISION)


def test_a_job_past_its_kinds_usual_time_expects_its_kinds_stragglers():
    runs = [600.0] * 18 + [1800.0, 2400.0]  # one run in ten straggles
    history_with_stragglers = history(runs=runs, shape=History.of([r / 600 for r in runs] * 20))
    on_time = estimate(
        [decision(), job(duration=None, start_timestamp=int(NOW - 100))], history_with_stragglers, NOW
    )
    overdue = estimate(
        [decision(), job(duration=None, start_timestamp=int(NOW - 900))], history_with_stragglers, NOW
    )
    assert on_time.median == pytest.approx(NOW + 500, abs=eta.PRECISION)
    assert NOW + 900 <= overdue.median <= NOW + 1500  # now it is one of the long ones


def test_a_retried_jobs_rerun_is_waited_for_and_lost_runs_widen_the_range():
    lost = job(1, state="completed", result="retry", duration=4.0)
    rerun = job(2, state="pending", retry_id=1, duration=30.0)  # 30 min since its task's creation
    others = [
        job(10 + n, name=f"{NAME}-{n}", duration=None, start_timestamp=int(NOW - 500)) for n in range(5)
    ]
    result = estimate([decision(), lost, rerun, *others], history(), NOW, changed_at={2: NOW - 5})
    assert result.unfinished == 6
    assert result.median == pytest.approx(NOW + 25 + 600, abs=eta.PRECISION)  # queued, then a whole run

    runs_lost = history(shape=History.of([1.0] * 400, retries=40))  # one run in eleven is lost
    never_lost = estimate([decision(), *others], history(), NOW)
    sometimes_lost = estimate([decision(), *others], runs_lost, NOW)
    assert sometimes_lost.late > never_lost.late + 300
    assert sometimes_lost.median >= never_lost.median


def test_jobs_added_mid_run_move_the_estimate_later():
    nearly = [job(n, name=f"{NAME}-{n}", duration=None, start_timestamp=int(NOW - 550)) for n in range(1, 4)]
    before = estimate([decision(), *nearly], history(), NOW)
    action = job(50, state="completed", result="success", name="Action: Retrigger", job_type_symbol="rt")
    added = [job(60 + n, state="pending", name=f"{NAME}-{n}", duration=1.0) for n in range(1, 3)]
    after = estimate(
        [decision(), *nearly, action, *added], history(), NOW, changed_at={60 + n: NOW for n in (1, 2)}
    )
    assert before.median == pytest.approx(NOW + 50, abs=eta.PRECISION + 10)
    assert after.median == pytest.approx(NOW + 30 + 600, abs=eta.PRECISION)
    assert (after.unfinished, after.known) == (5, 5)


def test_a_push_running_slower_than_its_kinds_is_expected_to_go_on_so():
    speeds = [[NOW, ratio * speed, push] for push, speed in enumerate((0.7, 0.85, 1.0, 1.15, 1.3) * 4)
              for ratio in (0.8, 0.9, 1.0, 1.1, 1.25)]  # fmt: skip
    shaped = history(shape=eta.shape_history(speeds, retries=0))
    other = Kind(LINUX, "opt", "test-linux1804-64-qr/opt-xpcshell")
    shaped[other] = History.of([300.0] * 20)
    # xpcshell chunks that started long ago and took 1.3 times their kind's usual time
    slow = [job(20 + n, state="completed", result="success", name=f"test-linux1804-64-qr/opt-xpcshell-{n}",
                duration=6.5) for n in range(6)]  # fmt: skip
    on_time = [job(20 + n, state="completed", result="success", name=f"test-linux1804-64-qr/opt-xpcshell-{n}",
                   duration=5.0) for n in range(6)]  # fmt: skip
    ended = {20 + n: NOW - 1000 for n in range(6)}
    running = job(1, duration=None, start_timestamp=int(NOW - 60))
    as_usual = estimate([decision(), *on_time, running], shaped, NOW, changed_at=ended)
    slower = estimate([decision(), *slow, running], shaped, NOW, changed_at=ended)
    assert as_usual.median == pytest.approx(NOW + 540, abs=30)
    assert slower.median > as_usual.median + 100
