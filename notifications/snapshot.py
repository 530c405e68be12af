"""What a PushState keeps of Treeherder's push: the compact job codec, the cursor, the push fields.

A job is stored (PushJob.data, notifications/jobstore.py) as its [SNAPSHOT_FIELDS values] and then its
TIMING_FIELDS: enough to rebuild rules.Job for every rule the poller applies, and the submit and start
moments worked out so far (pushes.eta.Timing: /api/jobs/ rows carry no timestamps), which the next
read needs to learn the job's wait and run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from django.db import connection

from pushes import rules
from pushes.eta import Timing
from pushes.treeherder.parsing import parse_last_modified

from .models import PushState

SNAPSHOT_FIELDS = (
    "state",
    "result",
    "tier",
    "platform",
    "platform_option",
    "job_type_name",
    "job_type_symbol",
    "job_group_name",
    "job_group_symbol",
    "task_id",
    "retry_id",
    "failure_classification_id",
)


TIMING_FIELDS = ("submitted", "queued", "started")  # epoch seconds or None, after the SNAPSHOT_FIELDS

_snapshot_values = attrgetter(*SNAPSHOT_FIELDS)


def encode_job(job: rules.Job) -> list[Any]:
    return list(_snapshot_values(job))


def encode_row(job: rules.Job, timing: Timing) -> list[Any]:
    """PushJob.data: the job's SNAPSHOT_FIELDS, then its TIMING_FIELDS."""
    return [*_snapshot_values(job), timing.submitted, timing.queued, timing.started]


def row_timing(values: list[Any] | None) -> Timing | None:
    """The Timing a stored row carries; None for no row, or one stored before rows carried it."""
    if values is None or len(values) < len(SNAPSHOT_FIELDS) + len(TIMING_FIELDS):
        return None
    submitted, queued, started = values[len(SNAPSHOT_FIELDS) : len(SNAPSHOT_FIELDS) + len(TIMING_FIELDS)]
    return Timing(submitted, queued, started)


def decode_job(job_id: int, values: list[Any], push_id: int) -> rules.Job:
    data = dict(zip(SNAPSHOT_FIELDS, values, strict=False))
    timing = row_timing(values)
    return rules.Job(
        id=int(job_id),
        push_id=push_id,
        task_id=data.get("task_id"),
        platform=data.get("platform") or "",
        platform_option=data.get("platform_option") or "",
        job_type_name=data.get("job_type_name") or "",
        job_type_symbol=data.get("job_type_symbol") or "",
        job_group_name=data.get("job_group_name") or "",
        job_group_symbol=data.get("job_group_symbol") or "",
        state=data.get("state") or "unknown",
        result=data.get("result") or "unknown",
        start_timestamp=timing.started if timing else None,
        end_timestamp=None,
        tier=data.get("tier"),
        retry_id=data.get("retry_id") or 0,
        failure_classification_id=data.get("failure_classification_id"),
    )


def advance_cursor(cursor: str, jobs: Iterable[rules.Job]) -> str:
    """The newest `last_modified` of the cursor and these jobs, as stored in PushState.jobs_cursor."""
    newest = parse_last_modified(cursor)
    for job in jobs:
        moment = parse_last_modified(job.last_modified)
        if moment is not None and (newest is None or moment > newest):
            newest = moment
    return newest.isoformat() if newest else ""


PUSH_FIELDS = ["revision", "author", "title", "push_timestamp"]


def push_values(push: rules.Push) -> dict[str, Any]:
    """What the pages and emails show of a push (PUSH_FIELDS), as PushState field values."""
    return {
        "revision": push.revision[:40],
        "author": push.author[:255],
        "title": rules.display_title(push.revisions) or f"push {push.id}",
        "push_timestamp": push.push_timestamp or None,
    }


def fill_push_fields(state: PushState, push: rules.Push) -> None:
    """Copy PUSH_FIELDS of a push onto its PushState; not saved."""
    for name, value in push_values(push).items():
        setattr(state, name, value)


def write_states(changes: Sequence[tuple[PushState, set[str]]]) -> None:
    """Save the named fields of (locked) PushStates. On PostgreSQL in one UPDATE ... FROM (VALUES ...) for
    all of them (each row gets every named field, the unchanged ones their current value): a round trip
    per push cost more than anything else the batch does, and bulk_update's CASE WHEN three times as
    much Python as one UPDATE per push, which other databases get."""
    if connection.vendor != "postgresql" or len(changes) < 2:
        for state, names in changes:
            PushState.objects.filter(pk=state.pk).update(**{name: getattr(state, name) for name in names})
        return
    fields = [
        PushState._meta.get_field(name) for name in sorted(set().union(*(names for _, names in changes)))
    ]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s::bigint", *(f"%s::{field.db_type(connection)}" for field in fields)]) + ")"
    params: list[Any] = []
    for state, _ in changes:
        params.append(state.pk)
        params += [field.get_db_prep_save(getattr(state, field.attname), connection) for field in fields]
    columns = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields)
    sql = (
        f"UPDATE {quote(PushState._meta.db_table)} AS t SET {assignments} "
        f"FROM (VALUES {', '.join([row] * len(changes))}) AS v(id, {columns}) WHERE t.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
