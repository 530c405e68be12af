"""How long each kind of job took lately (pushes.models.JobDurations), and a push's estimated finish.

The rules are pure, in pushes/eta.py; this module stores and reads them. The poller learns as it
writes a batch of job rows (notifications/jobstore.py calls `record`: two queries for the whole batch,
none when no job completed or started); the pages and notifications ask `push_eta` (one query per push).
No Treeherder request is made for any of it: Treeherder exposes no expected durations (the per-signature
averages it once kept are gone; its job table's `running_eta` column is never filled nor sent), only
each job's own `duration`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from . import eta
from .eta import SHAPE, Eta, History, Kind, Sample
from .models import JobDurations
from .rules import UNFINISHED_STATES, Job, is_decision_or_action
from .treeherder.parsing import parse_last_modified

CHUNK_WINDOW = 5  # runs kept per chunk: a chunk's own typical time (pushes.eta.scale)
Key = tuple[str, str, str, str]  # (repo, platform, option, name): a row


def _key(repo: str, kind: Kind) -> Key:
    """The row's key, cut to its columns' lengths (Treeherder's job names stop at 140 characters)."""
    return repo[:100], kind.platform[:100], kind.option[:100], kind.name[:255]


def _seconds(items: Iterable[Sequence[Any]]) -> list[float]:
    return [item[1] for item in items]


def record(samples: Iterable[tuple[str, Sample]], now: datetime | None = None) -> int:
    """Add (repo, sample) pairs to their kinds' rows and to their repository's SHAPE row: one query reads
    (and locks, in key order) the rows there are, one upsert writes them all back, each keeping its
    newest samples (pushes.eta.keep). A run's SHAPE sample is its ratio to its kind's typical time
    before it (pushes.eta.ratio). Runs in the caller's transaction (the poller's batch), or its own.
    Returns the number of rows written. Two batches that first learn the same new kind at the same
    moment may keep only one's samples: no error, a few samples fewer."""
    learned: dict[Key, list[Sample]] = {}
    for repo, sample in samples:
        learned.setdefault(_key(repo, sample.kind), []).append(sample)
    if not learned:
        return 0
    moment = (now or timezone.now()).timestamp()
    shapes = {_key(key[0], SHAPE) for key in learned}
    with transaction.atomic(savepoint=False):
        rows = {
            (row.repo, row.platform, row.option, row.name): row
            for row in JobDurations.objects.select_for_update()
            .filter(name__in={key[3] for key in learned | dict.fromkeys(shapes)})
            .order_by("name", "platform", "option", "repo")
        }

        def row_of(key: Key) -> JobDurations:
            if key not in rows:
                rows[key] = JobDurations(repo=key[0], platform=key[1], option=key[2], name=key[3])
            return rows[key]

        ratios: dict[Key, list[list[float]]] = {shape: [] for shape in shapes}
        lost: dict[Key, list[list[float]]] = {shape: [] for shape in shapes}
        for key in sorted(learned):
            row, shape = row_of(key), _key(key[0], SHAPE)
            runs, chunks = list(row.runs), {chunk: list(items) for chunk, items in row.chunks.items()}
            for sample in sorted(learned[key], key=lambda sample: sample.at):
                if sample.run is not None:
                    own = _seconds(chunks.get(sample.chunk, ())) if sample.chunk else ()
                    ratio = eta.ratio(sample.run, _seconds(runs), own)
                    if ratio is not None:
                        ratios[shape].append([sample.at, round(ratio, 4), sample.push])
                    runs = eta.keep(runs, [[sample.at, sample.run]], moment)
                    if sample.chunk:
                        chunks[sample.chunk] = eta.keep(
                            chunks.get(sample.chunk, ()), [[sample.at, sample.run]], moment, CHUNK_WINDOW
                        )
                if sample.retried:
                    lost[shape].append([sample.at])
            row.runs, row.chunks = runs, {chunk: items for chunk, items in chunks.items() if items}
            new = learned[key]
            row.waits = eta.keep(row.waits, ([s.at, s.wait] for s in new if s.wait is not None), moment)
            row.queues = eta.keep(row.queues, ([s.at, s.queue] for s in new if s.queue is not None), moment)
            row.retries = eta.keep(row.retries, ([s.at] for s in new if s.retried), moment)
        for shape in shapes:
            if ratios[shape] or lost[shape]:
                row = row_of(shape)
                row.runs = eta.keep(row.runs, ratios[shape], moment, eta.SHAPE_WINDOW)
                row.retries = eta.keep(row.retries, lost[shape], moment, eta.SHAPE_WINDOW)
        written = [row for key, row in sorted(rows.items()) if key in learned or key in shapes]
        JobDurations.objects.bulk_create(
            written,
            update_conflicts=True,
            unique_fields=["name", "platform", "option", "repo"],
            update_fields=["runs", "waits", "queues", "chunks", "retries", "updated_at"],
        )
    return len(written)


# Which jobs' runs (and lost runs) are on record, per push: the poller and the pages both learn from a
# push's jobs, and neither may count a job the other counted. Kept in the cache as long as a sample lives
# (a shared cache, Redis in production; each process's own in development, where a job read by both the
# poller and a page may count twice).
RECORDED_KEY = "bw:eta:recorded:v1"


def _recorded_key(repo: str, push_id: int) -> str:
    return f"{RECORDED_KEY}:{repo}:{push_id}"


def record_new(
    found: Iterable[tuple[str, int, int, Sample]],
    now: datetime | None = None,
    *,
    read_at: float | None = None,
) -> int:
    """`record` the (repo, push id, job id, sample) found, less the runs and lost runs of jobs already on
    record (a wait or queue learned at a job's start is the poller's alone: always kept); then note
    their jobs as recorded. `read_at`: the fetch the pages learned from (kept with the ids: a push's
    fetch is learned from once). One cache read and one write besides `record`'s two queries."""
    found = list(found)
    pushes = {(repo, push_id) for repo, push_id, _, _ in found}
    if not pushes:
        return 0
    keys = {_recorded_key(*push): push for push in pushes}
    stored = cache.get_many(list(keys))
    done = {keys[key]: set(value[1]) for key, value in stored.items()}
    samples: list[tuple[str, Sample]] = []
    for repo, push_id, job_id, sample in found:
        seen = done.setdefault((repo, push_id), set())
        if sample.run is not None or sample.retried:
            if job_id in seen:
                if sample.wait is None and sample.queue is None:
                    continue
                sample = replace(sample, run=None, retried=False)
            else:
                seen.add(job_id)
        samples.append((repo, sample))
    written = record(samples, now)
    marks = {}
    for key, push in keys.items():
        fetched = read_at if read_at is not None else (stored[key][0] if key in stored else None)
        marks[key] = (fetched, frozenset(done[push]))
    cache.set_many(marks, eta.MAX_AGE)
    return written


def learned_fetches(repo: str, push_ids: Iterable[int]) -> dict[int, float | None]:
    """The fetch (its time) each push was last learned from by a page, where one was."""
    keys = {_recorded_key(repo, push_id): push_id for push_id in push_ids}
    return {keys[key]: value[0] for key, value in cache.get_many(list(keys)).items()}


def _since(items: Iterable[Sequence[Any]], moment: float) -> list[Sequence[Any]]:
    return [item for item in items if item[0] >= moment]


def history(repo: str, kinds: Iterable[Kind], now: datetime | None = None) -> dict[Kind, History]:
    """What is on record for these kinds, and the SHAPE, in one query: this repository's, or, for a kind
    with fewer than pushes.eta.MIN_RUNS runs here (a SHAPE with fewer than pushes.eta.MIN_SHAPE), every
    repository's (try runs what autoland runs); none older than pushes.eta.MAX_AGE. Lost runs count
    over the same window as the runs."""
    wanted = {_key(repo, kind)[1:]: kind for kind in {*kinds, SHAPE}}
    since = (now or timezone.now()).timestamp() - eta.MAX_AGE
    here: dict[Kind, JobDurations] = {}
    everywhere: dict[Kind, list[JobDurations]] = {}
    for row in JobDurations.objects.filter(name__in={key[2] for key in wanted}):
        kind = wanted.get((row.platform, row.option, row.name))
        if kind is None:
            continue
        if row.repo == repo[:100]:
            here[kind] = row
        everywhere.setdefault(kind, []).append(row)
    found = {}
    for kind, rows in everywhere.items():
        enough = eta.MIN_SHAPE if kind == SHAPE else eta.MIN_RUNS
        if kind in here and len(_since(here[kind].runs, since)) >= enough:
            rows = [here[kind]]
        runs = sorted((item for row in rows for item in _since(row.runs, since)), key=lambda item: item[0])
        oldest = runs[0][0] if runs else since
        retries = sum(len(_since(row.retries, oldest)) for row in rows)
        if kind == SHAPE:
            found[kind] = eta.shape_history(runs, retries)
            continue
        chunks: dict[str, list[float]] = {}
        for row in rows:
            for chunk, items in row.chunks.items():
                chunks.setdefault(chunk, []).extend(_seconds(_since(items, since)))
        found[kind] = History.of(
            _seconds(runs),
            (item[1] for row in rows for item in _since(row.waits, since)),
            retries,
            (item[1] for row in rows for item in _since(row.queues, since)),
            chunks,
        )
    return found


def push_eta(
    repo: str, jobs: Sequence[Job], now: datetime | None = None, *, observed_at: datetime | None = None
) -> Eta | None:
    """When the push of `jobs` should finish (pushes.eta.estimate), or None: no estimate yet (too little
    history, decision task running) or nothing left to run. `jobs` as Treeherder's `/api/jobs/` gives
    them (their `duration` and `last_modified` are used) or as the poller stores them (their start time);
    `observed_at`: when they were read (default `now`). One query. The Eta's times are epoch seconds
    (`datetime.fromtimestamp(eta.median, UTC)`)."""
    now = now or timezone.now()
    kinds = {
        eta.job_kind(job) for job in jobs if job.state in UNFINISHED_STATES and not is_decision_or_action(job)
    }
    if not kinds:
        return None
    changed_at = {}
    for job in jobs:
        moment = parse_last_modified(job.last_modified)
        if moment is not None:
            changed_at[job.id] = moment.timestamp()
    kinds |= {eta.job_kind(job) for job in jobs if job.state == "completed"}  # the push's speed so far
    return eta.estimate(
        jobs,
        history(repo, kinds, now),
        now.timestamp(),
        observed_at=(observed_at or now).timestamp(),
        changed_at=changed_at,
    )


__all__ = ["CHUNK_WINDOW", "history", "learned_fetches", "push_eta", "record", "record_new"]
