"""When will a push finish? Its estimated finish, from how long each kind of job took before (issue 26).

Pure, like pushes/rules.py: no Django, no HTTP, no clock (`now` is an argument). Two halves:

- **Learning** (`observe`, `learn`, `keep`, `ratio`, `shape_history`): what one read of a job row tells
  about its kind. Treeherder's `/api/jobs/` rows, which the poller reads, carry no timestamps: only
  `duration` in whole minutes (from the start, or from the submit time while the job waits: Treeherder's
  `Job.get_duration`) and `last_modified` (the moment of the job's latest change: when it turned
  pending, started, ended). The poller keeps the submit, queue and start moments it worked out
  (`Timing`) on the job's row; a job that just started gives its kind a wait (submit → start) and a
  queue (pending → start), one that just completed a run time, one lost to the infrastructure (`retry`)
  a lost run. pushes/durations.py keeps each kind's newest samples and each chunk's last runs, and the
  SHAPE: every run ÷ its kind's typical time, by push.
- **Predicting** (`estimate`): each unfinished job's remaining time as a distribution. Its run takes its
  kind's typical time (its chunk's, `scale`) times the SHAPE's spread, which every kind shares — a
  kind's own 50 runs cannot say how rare a straggler is, two thousand runs can — times the push's own
  speed (`_speeds`: how pushes' speeds vary, and how this push's runs went so far). A running job has
  what is left of the runs that lasted longer than it has run (never less than FLOOR; past all of them, a
  straggler, it may end any moment or overrun as much again); a pending job queues as its kind queued,
  from the moment it turned pending; an unscheduled one waits as its kind waited from submit to start;
  any run may be lost and run again (the SHAPE's rate of lost runs). The push ends when its slowest job
  ends: P(finished by t) is the product of its jobs' P(done by t), running jobs independent, waiting
  jobs of one platform and option sharing their wait (one build, one pool of workers), averaged over the
  push's possible speeds. The answer is a range (the EARLY and LATE quantiles) around the median, or
  None — "no estimate yet" — while fewer than COVERAGE of the unfinished jobs have MIN_RUNS runs of their
  kind on record, while the decision task runs (the push's jobs are not known yet), or when nothing is
  left to run. bench/bench_eta.py measures how often the range holds the truth.

A kind is (platform, option, job type name without its chunk number): `mochitest-browser-chrome-3` and
`-12` are one kind (`job_kind`), chunks 3 and 12 (`job_chunk`).

Longer than the ~450-line guide on purpose: it is one model, measured whole by bench/bench_eta.py; what
the learning half keeps (samples, chunk runs, the SHAPE) is exactly what the predicting half reads, and
the numbers that tune one (WINDOW, MIN_SHAPE, FLOOR …) are read beside the other.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from .rules import UNFINISHED_STATES, Job, is_decision_or_action

WINDOW = 50  # samples kept per kind and measure: the newest, about three pushes' worth of a chunked suite
SHAPE_WINDOW = 2000  # run ÷ kind median ratios kept for SHAPE, across every kind
MIN_SHAPE = 200  # ratios on record before SHAPE is used rather than the push's own kinds' runs
MIN_SPEED_RUNS = 5  # ratios of one push that tell its speed
SPEED_LEVELS = (1 / 6, 1 / 2, 5 / 6)  # the push's speed, integrated over these quantiles
MAX_AGE = 28 * 86400  # seconds; older samples are dropped (pools, tests and machines change)
MIN_RUNS = 3  # runs of a kind on record before its jobs count as known
COVERAGE = 0.8  # share of a push's unfinished jobs that must be known for an estimate
FLOOR = 60.0  # seconds: a running job is never expected to end sooner
PRECISION = 5.0  # seconds: how closely the quantiles of the push's finish are worked out
EARLY, LATE = 0.05, 0.95  # the range: the push's finish at these quantiles (see estimate)
# Results whose run time tells how long the kind takes (a busted build stops early; a cancelled or
# superseded job stops whenever it was stopped), and those of runs that started.
RAN_THROUGH = frozenset({"success", "testfailed"})
STARTED = frozenset({"success", "testfailed", "busted", "retry"})
_CHUNK = re.compile(r"-\d+$")


@dataclass(frozen=True, slots=True, order=True)
class Kind:
    platform: str
    option: str
    name: str  # the job type name without its chunk number


def job_kind(job: Job) -> Kind:
    return Kind(job.platform or "", job.platform_option or "", _CHUNK.sub("", job.job_type_name or ""))


def job_chunk(job: Job) -> str:
    """The chunk number of a chunked job ("3" of `...-browser-chrome-3`), "" for others."""
    found = _CHUNK.search(job.job_type_name or "")
    return found.group()[1:] if found else ""


# Not a kind of job: the shape every kind's run times share. Its History's `runs` are ratios, each run
# ÷ the median of its kind's runs on record before it, and its `retries` the runs lost to the
# infrastructure over the same window, whatever their kind: a kind's own 50 runs cannot say how rare a
# straggler or a lost run is (a few in a hundred), every kind's runs together can.
SHAPE = Kind("", "", "")


# --- Learning ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    """When a job was submitted, queued (turned pending: its dependencies done, waiting for a worker) and
    started, in epoch seconds, as far as the reads so far could tell."""

    submitted: int | None = None
    queued: int | None = None
    started: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """What one job told about its kind: a run time, a wait (submit → start), a queue (pending → start),
    or a run lost to the infrastructure."""

    kind: Kind
    at: float  # epoch seconds: when it was learned
    run: float | None = None
    wait: float | None = None
    queue: float | None = None
    retried: bool = False
    push: int = 0  # the push's id: the SHAPE's ratios are grouped by push
    chunk: str = ""  # job_chunk


def _moment(since_minutes: float, modified_at: float | None) -> int:
    """The moment `duration` counts from: `last_modified` when it agrees (to the minute Treeherder rounds
    to), which is exact; else the read time less the whole minutes."""
    if modified_at is not None and abs(modified_at - since_minutes) <= 60:
        return round(modified_at)
    return round(since_minutes)


def observe(job: Job, before: Timing | None, read_at: float, modified_at: float | None = None) -> Timing:
    """The job's Timing after this read: what `before` knew, and what this row adds (`read_at`: when it
    was read; `modified_at`: its `last_modified`, the moment of its latest change, if known). A waiting
    job's `duration` counts from its submit time (for a rerun of a retried task, `retry_id` > 0, its
    task's creation), a running one's from its start; a pending job's `last_modified` is when it turned
    pending. A job first seen running has no known submit or queue time."""
    submitted, queued, started = (before.submitted, before.queued, before.started) if before else (None,) * 3
    fresh = modified_at is not None and modified_at <= read_at + 60
    if job.state == "pending" and queued is None and fresh:
        queued = round(modified_at)
    if job.duration is None:
        return Timing(submitted, queued, started)
    since = read_at - job.duration * 60
    if job.state in ("unscheduled", "pending") and submitted is None:
        submitted = _moment(since, modified_at if job.state == "unscheduled" else None)
    elif job.state == "running" and started is None:
        started = _moment(since, modified_at)
    elif job.state == "completed" and started is None and job.result in STARTED:
        started = round((modified_at if fresh else read_at) - job.duration * 60)
    return Timing(submitted, queued, started)


def learn(
    job: Job,
    before_state: str | None,
    before: Timing | None,
    now: Timing,
    read_at: float,
    modified_at: float | None = None,
) -> Sample | None:
    """The sample a job gives on this read, if any: its run time when it just completed (through: not
    busted, cancelled or superseded), its wait and queue when it just started (the wait only for the
    first run of its task: a rerun's submit time is its task's creation), a lost run when it just ended
    in `retry`. Decision and action tasks teach nothing about the push's jobs."""
    if is_decision_or_action(job):
        return None
    run = wait = queue = None
    retried = False
    if job.state == "completed" and before_state != "completed":
        retried = job.result == "retry"
        if job.result in RAN_THROUGH and job.duration is not None:
            run = job.duration * 60.0
            ended = modified_at if modified_at is not None and modified_at <= read_at else None
            if ended is not None and before is not None and before.started is not None:
                exact = ended - before.started  # both from last_modified: to the second
                if abs(exact - run) <= 60:
                    run = exact
    just_started = now.started is not None and (before is None or before.started is None)
    ran = job.state == "running" or (job.state == "completed" and job.result in STARTED)
    if just_started and ran:
        if now.submitted is not None and not job.retry_id:
            wait = float(max(0, now.started - now.submitted))
        if now.queued is not None:
            queue = float(max(0, now.started - now.queued))
    if run is None and wait is None and queue is None and not retried:
        return None
    return Sample(job_kind(job), read_at, run, wait, queue, retried, job.push_id, job_chunk(job))


def keep(
    old: Sequence[Sequence[float]], new: Iterable[Sequence[float]], now: float, window: int = WINDOW
) -> list[list[float]]:
    """A kind's samples ([at, seconds] or [at]) after adding `new`: the newest `window`, none older than
    MAX_AGE, oldest first."""
    merged = sorted([list(item) for item in old] + [list(item) for item in new], key=lambda item: item[0])
    return [item for item in merged if item[0] >= now - MAX_AGE][-window:]


def scale(runs: Sequence[float], chunk_runs: Sequence[float] = ()) -> float | None:
    """How long a run of a kind takes, typically: the median of its runs, and for one chunk of a chunked
    suite times how much longer or shorter that chunk's last runs were (its tests are the same from push
    to push; chunks are not split evenly), believed n/(n+1) for n of them. None while the kind has fewer
    than MIN_RUNS runs."""
    if len(runs) < MIN_RUNS:
        return None
    middle = _median(sorted(runs))
    if middle <= 0:
        return None
    own = [run for run in chunk_runs if run > 0]
    if not own:
        return middle
    weight = len(own) / (len(own) + 1)
    return middle * math.exp(weight * math.log(_median(sorted(own)) / middle))


def ratio(run: float, runs: Sequence[float], chunk_runs: Sequence[float] = ()) -> float | None:
    """A run ÷ its scale from the runs on record before it (a SHAPE sample); None while the kind has
    fewer than MIN_RUNS."""
    typical = scale(runs, chunk_runs)
    return None if typical is None else run / typical


def shape_history(samples: Iterable[Sequence[float]], retries: int) -> History:
    """The SHAPE's History from its samples ([at, ratio, push id]): a push's speed is the median of its
    ratios (pushes with MIN_SPEED_RUNS of them: `speeds`), and the shape of a run is its ratio ÷ its
    push's speed (`runs`), what is left once the push's speed is known."""
    by_push: dict[float, list[float]] = {}
    for sample in samples:
        by_push.setdefault(sample[2] if len(sample) > 2 else 0, []).append(sample[1])
    runs: list[float] = []
    speeds: list[float] = []
    for ratios in by_push.values():
        speed = _median(sorted(ratios)) if len(ratios) >= MIN_SPEED_RUNS else 1.0
        if len(ratios) >= MIN_SPEED_RUNS and speed > 0:
            speeds.append(speed)
            runs.extend(value / speed for value in ratios)
        else:
            runs.extend(ratios)
    return History(tuple(sorted(runs)), retries=retries, speeds=tuple(sorted(speeds)))


# --- Predicting -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """What is on record for one kind, in seconds (sorted): run times, waits (submit → start) and queues
    (pending → start); and how many runs were lost to the infrastructure over the same window."""

    runs: tuple[float, ...] = ()
    waits: tuple[float, ...] = ()
    retries: int = 0
    queues: tuple[float, ...] = ()
    speeds: tuple[float, ...] = ()  # SHAPE only: the pushes' speeds (see shape_history)
    chunks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # chunk: its last runs

    @classmethod
    def of(
        cls,
        runs: Iterable[float],
        waits: Iterable[float] = (),
        retries: int = 0,
        queues: Iterable[float] = (),
        chunks: Mapping[str, Iterable[float]] | None = None,
    ) -> History:
        own = {chunk: tuple(values) for chunk, values in (chunks or {}).items()}
        return cls(tuple(sorted(runs)), tuple(sorted(waits)), retries, tuple(sorted(queues)), chunks=own)


@dataclass(frozen=True, slots=True)
class Eta:
    """A push's estimated finish, epoch seconds: likely (`median`), and the range it should fall in
    (`early` to `late`: the EARLY and LATE quantiles); `unfinished` jobs left, `known` of them with a
    history of their kind."""

    early: float
    median: float
    late: float
    unfinished: int
    known: int


# The probabilities at which each job's remaining time is kept: evenly spaced, and finer in the upper
# tail, where the stragglers that decide a push's finish are.
GRID = tuple([(i + 0.5) / 40 for i in range(40)] + [0.99, 0.995, 0.999])
# The levels of the wait shared by the waiting jobs of one platform and option (see `estimate`).
LEVELS = tuple((i + 0.5) / 6 for i in range(6))


def _at(values: Sequence[float], p: float) -> float:
    """The p-quantile of sorted values, interpolated between them."""
    position = p * (len(values) - 1)
    index = int(position)
    if index + 1 >= len(values):
        return values[-1]
    return values[index] + (values[index + 1] - values[index]) * (position - index)


def _share(values: Sequence[float], t: float, levels: Sequence[float] | None = None) -> float:
    """The share of sorted values at or below t, interpolated between them (the inverse of `_at`); with
    `levels`, values are those quantiles (a job's GRID quantiles) rather than samples."""
    index = bisect_right(values, t)
    if index == 0:
        return 0.0
    if index >= len(values):
        return 1.0
    low, high = values[index - 1], values[index]
    if levels is None:
        return (index - 1 + (t - low) / (high - low)) / (len(values) - 1)
    return levels[index - 1] + (levels[index] - levels[index - 1]) * (t - low) / (high - low)


def _left(
    values: Sequence[float], scale: float, elapsed: float, floor: float, levels: Sequence[float] = GRID
) -> list[float]:
    """The quantiles (at `levels`) of what is left of a run (or wait) that has lasted `elapsed`, when
    such runs take `scale` × `values`: those that lasted longer, less `elapsed`, never below `floor`.
    Past all of them (a straggler), it may end any moment or run as long again as it has overrun
    `scale`."""
    done = _share(values, elapsed / scale)
    if done >= 1.0:
        overrun = max(floor, elapsed - scale)
        return [floor + p * (overrun - floor) for p in levels]
    return [max(floor, scale * _at(values, done + p * (1 - done)) - elapsed) for p in levels]


class _Remaining:
    """One job's remaining time: its GRID quantiles, and with probability `retry` those of the run lost
    and done again."""

    __slots__ = ("again", "retry", "top", "values")

    def __init__(self, values: Sequence[float], retry: float = 0.0, again: Sequence[float] = ()) -> None:
        self.values = values
        self.retry = retry if again else 0.0
        self.again = again
        self.top = self.longest()

    def cdf(self, t: float) -> float:
        if t >= self.top:
            return 1.0
        done = _share(self.values, t, GRID)
        if self.retry:
            done = (1 - self.retry) * done + self.retry * _share(self.again, t, GRID)
        return done

    def longest(self) -> float:
        return max(self.values[-1], self.again[-1] if self.retry else 0.0)


def _median(values: Sequence[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _is_decision(job: Job) -> bool:
    """The decision task (not an action's task: its jobs come on top of a push already known)."""
    return "Decision Task" in (job.job_type_name or "") or job.job_type_symbol == "D"


def _ran(job: Job, now: float, observed_at: float, changed_at: float | None) -> float:
    """Seconds a running job has run by `now`: from its start time when the row has one, else from its
    `last_modified` (`changed_at`, the moment it started) when that agrees with its `duration`, else from
    `duration`, whole minutes as of the read at `observed_at`."""
    if job.start_timestamp:
        return max(0.0, now - job.start_timestamp)
    if job.duration is None:
        return 0.0 if changed_at is None else max(0.0, now - changed_at)
    if changed_at is not None and abs(changed_at - (observed_at - job.duration * 60)) <= 60:
        return max(0.0, now - changed_at)
    return max(0.0, job.duration * 60 + now - observed_at)


def estimate(
    jobs: Sequence[Job],
    history: Mapping[Kind, History],
    now: float,
    *,
    observed_at: float | None = None,
    changed_at: Mapping[int, float] | None = None,
) -> Eta | None:
    """When the push of `jobs` (as read at `observed_at`, default `now`; `changed_at`: each job's
    `last_modified` in epoch seconds, where known) should finish, from the history of their kinds; None
    when there is no honest estimate (see the module docstring).

    A kind's runs give its scale (their median); the shape of a run time — how much longer than its
    kind's median a run may take, stragglers included — is learned from every kind's runs at once
    (SHAPE), so that a kind's 50 runs need not say alone how rare a straggler is. A job whose kind has
    fewer than MIN_RUNS runs (at most 1 - COVERAGE of them) takes the push's median scale. A pending job
    waits as its kind queued before, from the moment it turned pending (its `last_modified`); an
    unscheduled one (its dependencies still running) as its kind waited from submit to start. Jobs added
    since (retriggers, action tasks, reruns of retried jobs) are unfinished jobs like the others; a
    retried run is finished, its rerun is not.

    The range is the model's EARLY to LATE quantiles, 5 % to 95 %: the model takes running jobs as
    independent once the push's speed is set, and real jobs move together more than that (the same
    machines, the same load), so a nominal 90 % holds the truth less often; bench/bench_eta.py measures
    how often (README)."""
    observed_at = now if observed_at is None else observed_at
    changed_at = changed_at or {}
    unfinished = [job for job in jobs if job.state in UNFINISHED_STATES]
    if any(_is_decision(job) for job in unfinished):
        return None  # the push's jobs are not known until its decision task is done
    work = [job for job in unfinished if not is_decision_or_action(job)]
    if not work:
        return None
    kinds = {job.id: job_kind(job) for job in work}
    known = [job for job in work if len(history.get(kinds[job.id], History()).runs) >= MIN_RUNS]
    if len(known) < COVERAGE * len(work):
        return None
    records = {kind: history[kind] for kind in {job_kind(job) for job in jobs} if kind in history}
    scales = {kind: _median(record.runs) for kind, record in records.items() if len(record.runs) >= MIN_RUNS}
    job_scales = {
        job.id: scale(records[kind].runs, records[kind].chunks.get(job_chunk(job), ())) or scales[kind]
        for job in jobs
        if (kind := job_kind(job)) in scales
    }
    shared = history.get(SHAPE, History())
    if len(shared.runs) >= MIN_SHAPE:
        shape, retry = shared.runs, shared.retries / (len(shared.runs) + shared.retries)
    else:  # not enough on record yet: the shape and the lost runs of this push's kinds alone
        shape = sorted(
            run / scales[kind] for kind in scales for run in records[kind].runs if scales[kind] > 0
        )
        attempts = sum(len(record.runs) + record.retries for record in records.values())
        retry = sum(record.retries for record in records.values()) / attempts if attempts else 0.0
    if not shape:
        return None
    typical = _median(sorted(scales.values()))
    pooled_waits = sorted(wait for record in records.values() for wait in record.waits)
    pooled_queues: dict[str, list[float]] = {}
    for kind, record in records.items():
        pooled_queues.setdefault(kind.platform, []).extend(record.queues)
    every_queue = sorted(queue for queues in pooled_queues.values() for queue in queues)

    speeds = _speeds(shared, work + [job for job in jobs if job.state == "completed"], job_scales, shape, now,
                     observed_at, changed_at)  # fmt: skip

    # What each job is, whatever the push's speed: running ones by (kind, chunk, time run so far),
    # waiting ones by their platform and option and (kind, chunk, what they wait for, how long so far).
    shape_grid = [_at(shape, p) for p in GRID]
    ran: dict[tuple, list] = {}  # key: [scale, elapsed, record, count]
    waiting: dict[
        tuple[str, str], dict[tuple, list]
    ] = {}  # platform, option: key: [scale, wait, record, count]
    for job in work:
        kind = kinds[job.id]
        record = records.get(kind, History())
        size = max(job_scales.get(job.id, typical), 1.0)
        if job.state == "running":
            elapsed = _ran(job, now, observed_at, changed_at.get(job.id))
            key = (kind if kind in scales else SHAPE, job_chunk(job), int(elapsed // 30))
            ran.setdefault(key, [size, elapsed, record, 0])[3] += 1
            continue
        queued = changed_at.get(job.id) if job.state == "pending" else None
        if queued is not None:
            elapsed, how = max(0.0, now - queued), "queue"
        elif job.retry_id:
            elapsed, how = 0.0, "none"  # its "wait" counts from its task's creation: says nothing
        else:
            elapsed, how = max(0.0, (job.duration or 0.0) * 60 + now - observed_at), "wait"
        group = waiting.setdefault((kind.platform, kind.option), {})
        # Chunks of about the same size (within 5 %) and waits within two minutes wait alike.
        key = (kind if kind in scales else SHAPE, round(20 * math.log(size)), how, int(elapsed // 120))
        if key not in group:
            if how == "queue":
                own = record.queues if len(record.queues) >= MIN_RUNS else None
                samples = own or sorted(pooled_queues.get(kind.platform, ())) or every_queue
            elif how == "wait":
                samples = record.waits if len(record.waits) >= MIN_RUNS else pooled_waits
            else:
                samples = []
            wait = _left(samples, 1.0, elapsed, 0.0, LEVELS) if samples else [0.0] * len(LEVELS)
            group[key] = [size, wait, record, 0]
        group[key][3] += 1

    def model(speed: float) -> Model:
        """The jobs' remaining times if the push runs at `speed` (× its kinds' scales)."""
        independent = []
        for size, elapsed, record, count in ran.values():
            scaled = speed * size
            left = _left(shape, scaled, elapsed, FLOOR)
            # Lost at any moment of what is left (half of it on average), then queued and run again;
            # the further along, the less there is left to lose.
            requeue = _median(record.queues) if record.queues else 0.0
            again = [a / 2 + requeue + scaled * b for a, b in zip(left, shape_grid, strict=True)]
            lose = retry * (1 - _share(shape, elapsed / scaled))
            independent.append((_Remaining(left, lose, again), count))
        coupled = []
        for group in waiting.values():
            members = []
            for size, wait, record, count in group.values():
                run = [speed * size * b for b in shape_grid]
                requeue = _median(record.queues) if record.queues else 0.0
                again = [a * 1.5 + requeue for a in run]  # lost halfway through, queued, run again
                members.append((wait, _Remaining(run, retry, again), count))
            coupled.append(members)
        return independent, coupled

    models = [model(speed) for speed in speeds]
    longest = max(
        [remaining.longest() for independent, _ in models for remaining, _ in independent]
        + [max(w) + r.longest() for _, coupled in models for group in coupled for w, r, _ in group]
    )
    early, median, late = (_quantile(models, p, longest) for p in (EARLY, 0.5, LATE))
    return Eta(now + early, now + median, now + late, unfinished=len(work), known=len(known))


def _speeds(
    shared: History,
    jobs: Sequence[Job],
    scales: Mapping[int, float],
    shape: Sequence[float],
    now: float,
    observed_at: float,
    changed_at: Mapping[int, float],
) -> list[float]:
    """The push's speed (a factor on every run time: what its patch does), at SPEED_LEVELS of what is
    known of it: how pushes' speeds varied (SHAPE's `speeds`), and this push's runs so far — those of
    its jobs that started long enough ago (the 90th percentile of their kind's runs) that slow and fast
    ones alike have ended, a job still running then counting as slow. Just [1.0] until enough pushes
    are on record."""
    if len(shared.speeds) < MIN_SPEED_RUNS:
        return [1.0]
    logs = sorted(math.log(speed) for speed in shared.speeds)
    centre = _median(logs)
    between = 1.4826 * _median(sorted(abs(value - centre) for value in logs))
    within_logs = sorted(math.log(value) for value in shape if value > 0)
    within = max(0.01, 1.4826 * _median(sorted(abs(value - _median(within_logs)) for value in within_logs)))
    if between <= 0:
        return [math.exp(centre)]
    slow = _at(shape, 0.9)
    seen: dict[Kind, list[float]] = {}
    for job in jobs:
        kind = job_kind(job)
        if job.id not in scales or job.duration is None:
            continue
        typical = scales[job.id]
        if job.state == "running":
            ran = _ran(job, now, observed_at, changed_at.get(job.id))
            if ran >= typical * slow:
                seen.setdefault(kind, []).append(math.log(ran / typical))  # at least this slow
        elif job.state == "completed" and job.result in RAN_THROUGH and job.id in changed_at:
            took = job.duration * 60
            if now - (changed_at[job.id] - took) >= typical * slow:
                seen.setdefault(kind, []).append(math.log(took / typical))
    # One value per kind: a kind's chunks share its scale, and whatever error that scale has.
    values = sorted(_median(sorted(logs)) for logs in seen.values())
    precision = 1 / between**2
    mean = centre / between**2
    if values:
        if len(values) >= 3:  # as noisy as they turn out to be
            within = max(within, 1.4826 * _median(sorted(abs(v - _median(values)) for v in values)))
        weight = len(values) / (1.57 * within**2)  # a median of n values: variance about π/2 σ²/n
        precision += weight
        mean += weight * _median(values)
    mean /= precision
    spread = math.sqrt(1 / precision)
    return [math.exp(mean + spread * NormalDist().inv_cdf(level)) for level in SPEED_LEVELS]


Coupled = list[list[tuple[list[float], _Remaining, int]]]
Model = tuple[list[tuple[_Remaining, int]], Coupled]


def _probability(independent: Sequence[tuple[_Remaining, int]], coupled: Coupled, t: float) -> float:
    """P(every job done by `t`). Running jobs are independent; the waiting jobs of one platform and
    option share their wait's level (they wait for the same build and the same pool of workers): P(all
    of them done) averages, over the LEVELS, the product of their run's P(done by t less their wait at
    that level)."""
    done = 1.0
    for remaining, count in independent:
        done *= remaining.cdf(t) ** count
        if done == 0.0:
            return 0.0
    for group in coupled:
        total = 0.0
        for level in range(len(LEVELS)):
            product = 1.0
            for wait, remaining, count in group:
                product *= remaining.cdf(t - wait[level]) ** count
                if product == 0.0:
                    break
            total += product
        done *= total / len(LEVELS)
        if done == 0.0:
            return 0.0
    return done


def _quantile(models: Sequence[Model], p: float, longest: float) -> float:
    """The smallest t (to PRECISION) by which the slowest job is done with probability p, averaged over
    the push's speeds."""
    low, high = 0.0, longest
    while high - low > PRECISION:
        middle = (low + high) / 2
        if sum(_probability(independent, coupled, middle) for independent, coupled in models) >= p * len(
            models
        ):
            high = middle
        else:
            low = middle
    return high


__all__ = [
    "COVERAGE",
    "SHAPE",
    "FLOOR",
    "MIN_RUNS",
    "WINDOW",
    "Eta",
    "History",
    "Kind",
    "Sample",
    "Timing",
    "estimate",
    "job_kind",
    "keep",
    "learn",
    "observe",
    "ratio",
]
