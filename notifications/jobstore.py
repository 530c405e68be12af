"""The poller's copy of a push's jobs: one PushJob row per job, written only when the job changed.

An incremental poll brings the jobs changed since the cursor: their old rows are read by id, the rows
that differ are upserted, and the push's tally (PushState's counts) moves by the difference. A full
read brings every job: the tally is counted afresh and rows that vanished upstream are deleted, so the
periodic full re-read also repairs anything an incremental poll missed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from pushes import durations, eta, rules
from pushes.models import JobEvidence

from .models import PushJob, PushState
from .snapshot import SNAPSHOT_FIELDS, decode_job, encode_row, parse_last_modified, row_timing


@dataclass
class Tally:
    """What the poller needs to know of a push's jobs without reading them all."""

    total: int = 0
    completed: int = 0
    failed: int = 0
    running: int = 0
    unfinished: int = 0  # unscheduled, pending or running
    work: int = 0  # not the decision task or an action

    @classmethod
    def of(cls, jobs: Iterable[rules.Job]) -> Tally:
        tally = cls()
        for job in jobs:
            tally.add(job, 1)
        return tally

    @classmethod
    def stored(cls, state: PushState) -> Tally:
        return cls(
            total=state.job_count or 0,
            completed=state.completed_count,
            failed=state.failed_count,
            running=state.running_count,
            unfinished=state.unfinished_count,
            work=state.work_count,
        )

    def add(self, job: rules.Job, sign: int) -> None:
        self.total += sign
        self.completed += sign * (job.state == "completed")
        self.failed += sign * rules.is_failure(job)
        self.running += sign * (job.state == "running")
        self.unfinished += sign * (job.state in rules.UNFINISHED_STATES)
        self.work += sign * (not rules.is_decision_or_action(job))

    def looks_finished(self) -> bool:
        """rules.looks_finished, from the counts: jobs, none unfinished, not only decision/action tasks."""
        return self.total > 0 and self.unfinished == 0 and self.work > 0

    def values(self) -> dict[str, Any]:
        """The PushState fields (TALLY_FIELDS) that keep this tally."""
        return {
            "job_count": self.total,
            "completed_count": self.completed,
            "failed_count": self.failed,
            "running_count": self.running,
            "unfinished_count": self.unfinished,
            "work_count": self.work,
        }


TALLY_FIELDS = (
    "job_count",
    "completed_count",
    "failed_count",
    "running_count",
    "unfinished_count",
    "work_count",
)


@dataclass
class Written:
    tally: Tally
    changed: int  # rows inserted or updated
    deleted: int


@dataclass
class JobsRead:
    """One poll's jobs, to store: the (locked) PushState, what Treeherder sent, and whether that was all."""

    state: PushState
    jobs: list[rules.Job]
    full: bool
    read_at: datetime | None = None  # when it was read (the jobs' `duration` counts to then); None: now


def write_jobs(state: PushState, fetched: Iterable[rules.Job], *, full: bool) -> Written:
    """Store the jobs of one read; see write_many."""
    return write_many([JobsRead(state, list(fetched), full)])[state.pk]


def write_many(reads: Sequence[JobsRead]) -> dict[int, Written]:
    """Store the jobs of many reads (inside the caller's transaction, their PushStates locked), in a few
    queries for all of them; returns each push's new tally by PushState pk. Reads back only the rows of
    the fetched jobs (all rows on a full read), writes only those that differ, and deletes on a full
    read the rows that vanished upstream. Jobs with no row yet (all of them on a push's first read) are
    inserted without conflict handling: on PostgreSQL with COPY, several times faster than INSERTs.
    Jobs that just completed or started teach their kinds' durations (pushes.durations.record_new: two
    more queries for the batch, none when no job did; a run a page already learned is not counted again)."""
    old = _stored_rows(reads)
    fresh: list[tuple[int, int, list[Any]]] = []  # (push pk, job id, data) of jobs with no row yet
    upserts: list[PushJob] = []
    vanished = Q()
    written: dict[int, Written] = {}
    samples: list[tuple[str, int, int, eta.Sample]] = []
    now = timezone.now()
    for read in reads:
        state, before = read.state, old[read.state.pk]
        new = _rows(read, before, (read.read_at or now).timestamp(), samples)
        changed = {job_id: pair for job_id, pair in new.items() if before.get(job_id) != pair[1]}
        gone = [job_id for job_id in before if job_id not in new] if read.full else []
        if read.full:
            tally = Tally.of(job for job, _ in new.values())
        else:
            tally = Tally.stored(state)
            for job_id, (job, _) in changed.items():
                if job_id in before:
                    tally.add(decode_job(job_id, before[job_id], state.push_id), -1)
                tally.add(job, 1)
        for job_id, (_, data) in changed.items():
            if job_id in before:
                upserts.append(PushJob(push=state, job_id=job_id, data=data))
            else:  # the read-back found no row for it, and the PushState is locked: a plain insert
                fresh.append((state.pk, job_id, data))
        if gone:
            vanished |= Q(push=state, job_id__in=gone)
        written[state.pk] = Written(tally=tally, changed=len(changed), deleted=len(gone))
    if fresh:
        insert_fresh_rows(fresh)
    if upserts:
        PushJob.objects.bulk_create(
            upserts, update_conflicts=True, unique_fields=["push", "job_id"], update_fields=["data"],
            batch_size=1000,
        )  # fmt: skip
    if vanished:
        PushJob.objects.filter(vanished).delete()
    if samples:
        durations.record_new(samples, now)
    return written


def _rows(
    read: JobsRead,
    before: dict[int, list[Any]],
    read_at: float,
    samples: list[tuple[str, int, int, eta.Sample]],
) -> dict[int, tuple[rules.Job, list[Any]]]:
    """Each fetched job and its row data: its fields and its Timing (what the stored row knew, and what
    this read adds: pushes.eta.observe). Appends to `samples` what the jobs that just completed or
    started teach (pushes.eta.learn)."""
    rows = {}
    for job in read.jobs:
        stored = before.get(job.id)
        earlier = row_timing(stored)
        modified = parse_last_modified(job.last_modified)
        modified_at = modified.timestamp() if modified else None
        timing = eta.observe(job, earlier, read_at, modified_at)
        rows[job.id] = (job, encode_row(job, timing))
        sample = eta.learn(job, stored[0] if stored else None, earlier, timing, read_at, modified_at)
        if sample is not None:
            samples.append((read.state.repo, read.state.push_id, job.id, sample))
    return rows


READ_BACK_IDS = 5000  # job ids per read-back query: SQLite allows 32,766 variables in one


def _stored_rows(reads: Sequence[JobsRead]) -> dict[int, dict[int, list[Any]]]:
    """The stored rows the reads are compared with, in a query per up to READ_BACK_IDS fetched job ids:
    every row of a fully read push, the rows of the fetched jobs of an incrementally read one."""
    old: dict[int, dict[int, list[Any]]] = {read.state.pk: {} for read in reads}
    groups: list[list[JobsRead]] = [[]]
    ids = 0
    for read in reads:
        count = 0 if read.full else len(read.jobs)
        if groups[-1] and ids + count > READ_BACK_IDS:
            groups.append([])
            ids = 0
        groups[-1].append(read)
        ids += count
    for group in groups:
        wanted = {read.state.pk: {job.id for job in read.jobs} for read in group if not read.full}
        whole = [read.state.pk for read in group if read.full]
        some = [pk for pk, job_ids in wanted.items() if job_ids]
        if not whole and not some:
            continue
        query = Q(push_id__in=whole)
        if some:
            query |= Q(push_id__in=some, job_id__in=set().union(*(wanted[pk] for pk in some)))
        for push_pk, job_id, data in PushJob.objects.filter(query).values_list("push_id", "job_id", "data"):
            if push_pk not in wanted or job_id in wanted[push_pk]:
                old[push_pk][job_id] = data
    return old


def insert_fresh_rows(rows: list[tuple[int, int, list[Any]]]) -> None:
    """Insert (push pk, job id, data) rows that cannot exist yet: the caller read them back and found none,
    with their PushStates locked (write_many)."""
    if connection.vendor == "postgresql":
        table = PushJob._meta.db_table
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} (push_id, job_id, data) FROM STDIN") as copy,
        ):
            for push_pk, job_id, data in rows:
                copy.write_row((push_pk, job_id, json.dumps(data)))
        return
    PushJob.objects.bulk_create(
        [PushJob(push_id=push_pk, job_id=job_id, data=data) for push_pk, job_id, data in rows],
        batch_size=1000,
    )


def unexplained_failures(states: Sequence[PushState]) -> dict[int, list[rules.Job]]:
    """The failed tier-1 jobs of these pushes whose evidence is not stored yet (pushes.models.JobEvidence),
    by PushState pk: one query for all of them, however many jobs they have (the row's state and result,
    SNAPSHOT_FIELDS' first two, are compared in the database)."""
    if not states:
        return {}
    stored = JobEvidence.objects.filter(repo=OuterRef("push__repo"), job_id=OuterRef("job_id"))
    rows = (
        PushJob.objects.filter(
            push__in=[state.pk for state in states],
            data__0="completed",
            data__1__in=sorted(rules.FAILURE_RESULTS),
        )
        .exclude(Exists(stored))
        .values_list("push_id", "job_id", "data")
    )
    by_pk = {state.pk: state for state in states}
    found: dict[int, list[rules.Job]] = {}
    for push_pk, job_id, data in rows:
        job = decode_job(job_id, data, by_pk[push_pk].push_id)
        if rules.effective_tier(job) == 1:
            found.setdefault(push_pk, []).append(job)
    return found


def stored_jobs(state: PushState) -> list[rules.Job]:
    """Every job as last stored (the push page and email never need this; tests and the admin may)."""
    return [
        decode_job(job_id, data, state.push_id) for job_id, data in state.jobs.values_list("job_id", "data")
    ]


__all__ = [
    "SNAPSHOT_FIELDS",
    "TALLY_FIELDS",
    "JobsRead",
    "Tally",
    "Written",
    "stored_jobs",
    "unexplained_failures",
    "write_jobs",
    "write_many",
]
