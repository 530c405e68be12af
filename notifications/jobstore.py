"""The poller's copy of a push's jobs: one PushJob row per job, written only when the job changed.

An incremental poll brings the jobs changed since the cursor: their old rows are read by id, the rows
that differ are upserted, and the push's tally (PushState's counts) moves by the difference. A full
read brings every job: the tally is counted afresh and rows that vanished upstream are deleted, so the
periodic full re-read also repairs anything an incremental poll missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pushes import rules

from .models import PushJob, PushState
from .snapshot import SNAPSHOT_FIELDS, decode_job, encode_job


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

    def store(self, state: PushState) -> list[str]:
        """Copy onto the PushState (not saved); the names of the fields to save."""
        state.job_count = self.total
        state.completed_count = self.completed
        state.failed_count = self.failed
        state.running_count = self.running
        state.unfinished_count = self.unfinished
        state.work_count = self.work
        return list(TALLY_FIELDS)


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


def write_jobs(state: PushState, fetched: Iterable[rules.Job], *, full: bool) -> Written:
    """Store the jobs of a read (inside the caller's transaction, PushState locked); returns the new tally.
    Reads back only the rows of the fetched jobs (all rows on a full read) and writes only those that differ."""
    new = {job.id: encode_job(job) for job in fetched}
    rows = PushJob.objects.filter(push=state)
    if not full:
        rows = rows.filter(job_id__in=list(new))
    old: Mapping[int, list[Any]] = dict(rows.values_list("job_id", "data"))
    changed = {job_id: data for job_id, data in new.items() if old.get(job_id) != data}
    vanished = [job_id for job_id in old if job_id not in new] if full else []
    if full:
        tally = Tally.of(decode_job(job_id, data, state.push_id) for job_id, data in new.items())
    else:
        tally = Tally.stored(state)
        for job_id, data in changed.items():
            if job_id in old:
                tally.add(decode_job(job_id, old[job_id], state.push_id), -1)
            tally.add(decode_job(job_id, data, state.push_id), 1)
    if changed:
        PushJob.objects.bulk_create(
            [PushJob(push=state, job_id=job_id, data=data) for job_id, data in changed.items()],
            update_conflicts=True,
            unique_fields=["push", "job_id"],
            update_fields=["data"],
            batch_size=1000,
        )
    if vanished:
        PushJob.objects.filter(push=state, job_id__in=vanished).delete()
    return Written(tally=tally, changed=len(changed), deleted=len(vanished))


def stored_jobs(state: PushState) -> list[rules.Job]:
    """Every job as last stored (the push page and email never need this; tests and the admin may)."""
    return [
        decode_job(job_id, data, state.push_id) for job_id, data in state.jobs.values_list("job_id", "data")
    ]


__all__ = ["SNAPSHOT_FIELDS", "TALLY_FIELDS", "Tally", "Written", "stored_jobs", "write_jobs"]
