"""The poller: poll one watched push incrementally and apply the settle rule.

A poll has three steps, so the cycle (notifications/cycle.py) can run many at once on one worker:
`begin_poll` claims the push with a conditional UPDATE on PushState (database), `fetch` reads Treeherder
(HTTP only: the cycle runs it in a thread), `finish_poll` stores what changed and, when the push is
ready to notify, marks it finished in the same transaction that records its ledger rows
(notifications/outbox.py), which the channels then deliver. `poll_push` runs the three in a row.

The settle rule: a push that looks finished is told about only after a second, full read finds the
same jobs. That confirming read is due BUILDWATCH_SETTLE_SECONDS after the first (PushState.confirm_at;
the task schedules it), not a whole poll interval later. A poll woken by a Pulse message
(notifications/wake.py, `PollPlan.settle`) confirms only `settle` seconds or more after the first read
that saw the push finished with the same jobs, and does not postpone a confirming read already due.

What a finished push's notifications say is notifications/summary.py; the early alert's rule is
notifications/early.py; the job rows and the PushState columns are written by jobstore.py and snapshot.py.
What stays here (a little over the ~450-line guide) is the claim, the read and the store with the settle
rule between them: one transaction's logic, which reads best whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from buildwatch import upstream
from pushes import rules, triage
from pushes.evidence import gather
from pushes.evidence import poll_seconds as evidence_poll_seconds
from pushes.treeherder.client import TreeherderClient, get_client
from pushes.treeherder.errors import TreeherderError, TreeherderNotFound

from .early import record_early_alerts, wanting_early_alerts
from .jobstore import JobsRead, Tally, stored_jobs, unexplained_failures, write_many
from .models import PushState, Watch
from .outbox import Enqueue, record_due_notifications
from .snapshot import advance_cursor, parse_last_modified, push_values, write_states
from .summary import finished_summary

logger = logging.getLogger(__name__)

FULL_READ_EVERY_POLLS = 10  # incremental polls miss bulk updates: re-read everything this often
# Treeherder's writers commit concurrently: a job stamped just before the newest one we saw can become
# visible after our read. Asking again for a few seconds before the cursor costs a few rows, loses none.
CURSOR_OVERLAP = timedelta(seconds=5)
WATCH_MAX_AGE = timedelta(days=14)  # a push that never finishes is not polled forever
CONFIRM_EARLY = timedelta(seconds=2)  # a confirming poll may run this much before confirm_at (clock skew)
# A finished push's notification waits this long at most for failed jobs' evidence Treeherder did not give.
EVIDENCE_WAIT = timedelta(seconds=triage.LOG_PARSE_WAIT)


def poll_seconds() -> int:
    return max(int(settings.BUILDWATCH_POLL_SECONDS), 1)


def settle_seconds() -> int:
    return max(int(settings.BUILDWATCH_SETTLE_SECONDS), 1)


def full_read_interval() -> timedelta:
    return timedelta(seconds=FULL_READ_EVERY_POLLS * poll_seconds())


# --- Polling one push -------------------------------------------------------------------------------


@dataclass
class PollResult:
    repo: str
    push_id: int
    polled: bool = False  # False: another poller had it, or it was already finished
    full_read: bool = False
    state: str = PushState.State.UNKNOWN
    job_count: int | None = None
    finished_now: bool = False
    notifications: list[int] = field(default_factory=list)
    error: str = ""
    confirm_in: int | None = None  # looks finished: the confirming poll is due in this many seconds
    jobs_written: int = 0


@dataclass
class PollPlan:
    """A claimed poll: what to ask Treeherder for."""

    state: PushState
    now: datetime
    full: bool
    since: datetime | None  # last_modified__gt of an incremental read
    needs_push: bool  # no title yet: read the push too
    # A woken poll (notifications/wake.py): it confirms a finish only if the previous read saw the push
    # finished at least this many seconds before. None: the beat's and the confirming polls' rule.
    settle: float | None = None


@dataclass
class Fetched:
    push: rules.Push | None = None
    jobs: list[rules.Job] = field(default_factory=list)
    error: TreeherderError | None = None


def push_states(pushes: Iterable[tuple[str, int]]) -> dict[tuple[str, int], PushState]:
    """The PushState of each (repo, push id), made where missing: a few queries for any number."""
    wanted: dict[str, set[int]] = {}
    for repo, push_id in pushes:
        wanted.setdefault(repo, set()).add(int(push_id))

    def read() -> dict[tuple[str, int], PushState]:
        found: dict[tuple[str, int], PushState] = {}
        for repo, push_ids in wanted.items():
            for state in PushState.objects.filter(repo=repo, push_id__in=push_ids):
                found[(repo, state.push_id)] = state
        return found

    found = read()
    missing = [
        (repo, push_id) for repo, ids in wanted.items() for push_id in ids if (repo, push_id) not in found
    ]
    if missing:  # another poller may make them at the same moment: the unique constraint keeps one
        PushState.objects.bulk_create(
            [PushState(repo=repo, push_id=push_id) for repo, push_id in missing], ignore_conflicts=True
        )
        found = read()
    return found


def _claim_polls(states: Sequence[PushState], now: datetime, min_interval: float, confirm: bool) -> set[int]:
    """Two beats poll the same push twice: the first claim wins this interval. A batch is claimed in one
    transaction: the rows still claimable are locked (in pk order: two cycles never deadlock) and then
    marked polled, so a concurrent claim waits for this one and finds them claimed, exactly as with one
    conditional UPDATE per push. A confirming poll wins only while its confirm_at is still set (a regular
    poll that got there first clears it). Returns the pks won."""
    if not states:
        return set()
    query = PushState.objects.filter(pk__in=[state.pk for state in states]).exclude(
        state=PushState.State.FINISHED
    )
    if confirm:
        query = query.filter(confirm_at__isnull=False, confirm_at__lte=now + CONFIRM_EARLY)
    elif min_interval > 0:
        query = query.filter(
            Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=now - timedelta(seconds=min_interval))
        )
    if len(states) == 1:  # one push (a confirming poll, a batch's last): the conditional UPDATE alone
        return {states[0].pk} if query.update(last_polled_at=now, confirm_at=None) == 1 else set()
    with transaction.atomic():
        won = list(query.select_for_update().order_by("pk").values_list("pk", flat=True))
        if won:
            PushState.objects.filter(pk__in=won).update(last_polled_at=now, confirm_at=None)
    return set(won)


def full_read_due(push_id: int, last_full_read_at: datetime, now: datetime) -> bool:
    """The periodic full re-read: at the latest FULL_READ_EVERY_POLLS polls after the last one, and
    otherwise in the poll slot that the push id gives (slot number = push id, modulo
    FULL_READ_EVERY_POLLS), once per slot, so the re-reads of pushes first read together spread over
    that many cycles instead of all falling in one."""
    if now - last_full_read_at >= full_read_interval():
        return True
    slot = int(now.timestamp()) // poll_seconds()
    slot_start = datetime.fromtimestamp(slot * poll_seconds(), tz=UTC)
    return slot % FULL_READ_EVERY_POLLS == push_id % FULL_READ_EVERY_POLLS and last_full_read_at < slot_start


def _needs_full_read(state: PushState, now: datetime) -> bool:
    if not state.jobs_cursor or state.last_full_read_at is None:
        return True
    # It looked finished last time: confirm on a full read (bulk updates skip last_modified) before
    # anyone is told. This is the settle rule's second read.
    if state.confirm_at is not None or Tally.stored(state).looks_finished():
        return True
    return full_read_due(state.push_id, state.last_full_read_at, now)


def begin_polls(
    pushes: Sequence[tuple[str, int]],
    *,
    enqueue: Enqueue | None = None,
    min_interval: float | None = None,
    confirm: bool = False,
    settle: float | None = None,
    full: bool = False,
) -> list[PollPlan | PollResult]:
    """Claim many pushes at once (database only, a few queries for all); one answer per push, in order.
    A PollResult when there is nothing to read: another poller has it, or it already finished (then a
    watcher who came late is told, without asking Treeherder). `settle`: a woken poll's (see PollPlan);
    `full`: read every job."""
    now = timezone.now()
    if min_interval is None:
        min_interval = poll_seconds() / 2
    states = push_states(pushes)
    finished = {key for key, state in states.items() if state.state == PushState.State.FINISHED}
    won = _claim_polls([states[key] for key in states if key not in finished], now, min_interval, confirm)
    begun: list[PollPlan | PollResult] = []
    for repo, push_id in pushes:
        state = states[(repo, int(push_id))]
        if state.pk in won:
            begun.append(_plan(state, now, confirm or full, settle))
            continue
        result = PollResult(repo=repo, push_id=state.push_id, state=state.state)
        if (repo, state.push_id) in finished:
            result.notifications = record_due_notifications(state, now, enqueue)
        begun.append(result)
    return begun


def begin_poll(
    repo: str,
    push_id: int,
    *,
    enqueue: Enqueue | None = None,
    min_interval: float | None = None,
    confirm: bool = False,
    settle: float | None = None,
    full: bool = False,
) -> PollPlan | PollResult:
    """Claim one push: begin_polls of one."""
    return begin_polls(
        [(repo, push_id)],
        enqueue=enqueue,
        min_interval=min_interval,
        confirm=confirm,
        settle=settle,
        full=full,
    )[0]


def _plan(state: PushState, now: datetime, full: bool, settle: float | None = None) -> PollPlan:
    """What to ask for, from the PushState as it was before the claim (which cleared confirm_at)."""
    full = full or _needs_full_read(state, now)
    since = None if full else parse_last_modified(state.jobs_cursor)
    return PollPlan(
        state=state,
        now=now,
        full=full or since is None,
        since=since - CURSOR_OVERLAP if since else None,
        needs_push=not state.revision,
        settle=settle,
    )


def fetch(plan: PollPlan, client: TreeherderClient) -> Fetched:
    """Ask Treeherder (no database access: the cycle runs this in its threads)."""
    state = plan.state
    try:
        push = client.push(state.repo, state.push_id) if plan.needs_push else None
        jobs = client.jobs(state.repo, state.push_id, last_modified_gt=None if plan.full else plan.since)
    except TreeherderError as problem:
        return Fetched(error=problem)
    return Fetched(push=push, jobs=jobs)


def finish_polls(
    polls: Sequence[tuple[PollPlan, Fetched]], *, enqueue: Enqueue | None = None
) -> list[PollResult]:
    """Store what changed, apply the rules and record the due notifications of many claimed polls, in
    one transaction and a few queries for all of them (database; a finished push's summary may read
    failure logs first). A push whose jobs and state did not change is not written at all. A push
    ready to notify is marked finished in the same transaction that records its ledger rows."""
    # One budget for the failures' evidence of the whole batch (BUILDWATCH_EVIDENCE_POLL_SECONDS): the
    # finished summaries, the new failures' evidence and the early alerts share it (pushes.evidence).
    with upstream.within(evidence_poll_seconds()):
        return _finish_polls(polls, enqueue)


def _finish_polls(polls: Sequence[tuple[PollPlan, Fetched]], enqueue: Enqueue | None) -> list[PollResult]:
    results = [
        PollResult(repo=plan.state.repo, push_id=plan.state.push_id, polled=True, state=plan.state.state)
        for plan, _ in polls
    ]
    good = [index for index, (_, fetched) in enumerate(polls) if fetched.error is None]
    for index, (_, fetched) in enumerate(polls):
        if fetched.error is not None:
            _failed(results[index], fetched.error)
    summaries = {}
    for index in good:
        plan, fetched = polls[index]
        if plan.full and rules.ready_to_notify(fetched.jobs, plan.state.job_count) and _settled(plan):
            revision = fetched.push.revision if fetched.push else plan.state.revision
            summary = finished_summary(plan.state.repo, fetched.jobs, revision)
            # A failed job whose evidence could not be read yet holds the notification (the push is
            # confirmed again a settle interval later), for at most EVIDENCE_WAIT after its last job.
            if not summary.get("evidence_pending") or _waited_for_evidence(fetched.jobs, plan.now):
                summaries[index] = summary
    with transaction.atomic():
        locked = {
            state.pk: state
            for state in PushState.objects.select_for_update()
            .filter(pk__in=[polls[index][0].state.pk for index in good])
            .order_by("pk")
        }
        running = [
            index for index in good if locked[polls[index][0].state.pk].state != PushState.State.FINISHED
        ]
        written = write_many(
            [
                JobsRead(locked[polls[i][0].state.pk], polls[i][1].jobs, polls[i][0].full, polls[i][0].now)
                for i in running
            ]
        )
        changed: list[tuple[PushState, set[str]]] = []
        for index in running:
            plan, fetched = polls[index]
            state, result = locked[plan.state.pk], results[index]
            done = written[state.pk]
            ready = index in summaries
            looks_finished = done.tally.looks_finished() and not ready
            update = _apply(state, plan, fetched, done.tally, ready, looks_finished)
            if ready:
                state.summary = summaries[index] or {}
                update.add("summary")
                result.finished_now = True
            if update:  # only what changed: a push whose jobs and state did not change is not written
                changed.append((state, update))
            result.jobs_written = done.changed + done.deleted
            # A woken poll that kept the previous poll's confirming read: that one is scheduled already.
            kept = plan.settle is not None and state.confirm_at == plan.state.confirm_at is not None
            result.confirm_in = settle_seconds() if looks_finished and not kept else None
        write_states(changed)
        _sync_watch_states([locked[polls[index][0].state.pk] for index in good])
        for index in good:
            state = locked[polls[index][0].state.pk]
            if state.state == PushState.State.FINISHED:
                results[index].notifications = record_due_notifications(state, polls[index][0].now, enqueue)
    failing = [locked[polls[index][0].state.pk] for index in good]
    _read_new_failures([s for s in failing if s.state != PushState.State.FINISHED and s.failed_count])
    alerting = wanting_early_alerts(
        [s for s in failing if s.state != PushState.State.FINISHED and s.failed_count]
    )
    for index in good:
        plan, fetched = polls[index]
        state, result = locked[plan.state.pk], results[index]
        if (state.repo, state.push_id) in alerting:
            result.notifications = _early_alerts(
                state, fetched.jobs if plan.full else None, plan.now, enqueue
            )
        result.full_read = plan.full
        result.state = state.state
        result.job_count = state.job_count
    return results


def finish_poll(plan: PollPlan, fetched: Fetched, *, enqueue: Enqueue | None = None) -> PollResult:
    """Store one poll: finish_polls of one."""
    return finish_polls([(plan, fetched)], enqueue=enqueue)[0]


def _apply(
    state: PushState, plan: PollPlan, fetched: Fetched, tally: Tally, ready: bool, looks_finished: bool
) -> set[str]:
    """Set what this read says on the locked PushState (not saved); the names of the fields it changed."""
    values = tally.values()
    if fetched.push is not None:
        values.update(push_values(fetched.push))
    if ready:
        values.update(state=PushState.State.FINISHED, finished_at=plan.now)
    elif tally.running or tally.completed:
        values["state"] = PushState.State.RUNNING
    else:
        values["state"] = PushState.State.PENDING
    values["jobs_cursor"] = advance_cursor("" if plan.full else state.jobs_cursor, fetched.jobs)
    values["last_error"] = ""
    values["confirm_at"] = _confirm_at(plan, tally) if looks_finished else None
    if not state.task_group and (group := task_group(fetched.jobs)):
        values["task_group"] = group
    if plan.full:
        values["last_full_read_at"] = plan.now
    changed = set()
    for name, value in values.items():
        if getattr(state, name) != value:
            setattr(state, name, value)
            changed.add(name)
    return changed


def _settled(plan: PollPlan) -> bool:
    """A woken poll confirms a finish only `plan.settle` seconds or more after the first read that saw
    the push finished with these jobs (its confirming read is due BUILDWATCH_SETTLE_SECONDS after that
    one: confirm_at); the beat's and the confirming polls keep their own rule."""
    if plan.settle is None:
        return True
    due = plan.state.confirm_at
    if due is None:  # no read before this one saw it finished
        return False
    first_seen = due - timedelta(seconds=settle_seconds())
    return plan.now >= first_seen + timedelta(seconds=plan.settle)


def _confirm_at(plan: PollPlan, tally: Tally) -> datetime:
    """When the confirming read of a push that looks finished is due: BUILDWATCH_SETTLE_SECONDS from
    now, unless a woken poll finds the same jobs as the read that already set it (then it stays)."""
    due = plan.state.confirm_at
    if plan.settle is not None and due is not None and plan.state.job_count == tally.total:
        return due
    return plan.now + timedelta(seconds=settle_seconds())


def task_group(jobs: Iterable[rules.Job]) -> str:
    """The push's Taskcluster task group: its decision task's id (every task of the push, retriggers
    included, is created in that group); "" while Treeherder shows no decision task."""
    for job in jobs:
        if job.task_id and "Decision Task" in (job.job_type_name or ""):
            return job.task_id
    return ""


def _sync_watch_states(states: Sequence[PushState]) -> None:
    """Each unnotified watch shows its push's state: one UPDATE per (repo, state), only where it differs."""
    groups: dict[tuple[str, str], list[int]] = {}
    for state in states:
        groups.setdefault((state.repo, state.state), []).append(state.push_id)
    for (repo, value), push_ids in groups.items():
        Watch.objects.filter(repo=repo, push_id__in=push_ids, notified_at__isnull=True).exclude(
            last_state=value
        ).update(last_state=value)


def _read_new_failures(states: Sequence[PushState]) -> None:
    """Each poll reads the evidence of the tier-1 jobs that failed since the last one (and of any still
    missing: not read in time, or Treeherder did not answer), for every running push of the batch in one
    round within the poll's budget: the verdict at the end then costs no more reads, and the early alert
    has it."""
    if not states:
        return
    try:
        pending = unexplained_failures(states)
        if pending:
            gather([(state.repo, pending[state.pk]) for state in states if pending.get(state.pk)])
    except Exception:  # evidence must never stop the pushes from being polled
        logger.exception("Reading the evidence of new failures failed")


def _waited_for_evidence(jobs: Sequence[rules.Job], now: datetime) -> bool:
    """The push finished EVIDENCE_WAIT ago (its newest job's last change): stop holding its notification."""
    newest = max((moment for job in jobs if (moment := parse_last_modified(job.last_modified))), default=None)
    return newest is None or now - newest >= EVIDENCE_WAIT


def _early_alerts(
    state: PushState, jobs: list[rules.Job] | None, now: datetime, enqueue: Enqueue | None
) -> list[int]:
    """Still running with a failed job and a watcher who wants it: an early alert may be due. It needs
    every job, which an incremental read does not bring: those are read back from the job rows."""
    try:
        return record_early_alerts(state, jobs if jobs is not None else stored_jobs(state), now, enqueue)
    except Exception:  # the early alert must never stop the push from being polled
        logger.exception("Early alert for %s push %s failed", state.repo, state.push_id)
        return []


def _failed(result: PollResult, problem: TreeherderError) -> PollResult:
    """Treeherder errors are recorded on the PushState, never raised; the next cycle tries again."""
    logger.warning("Polling %s push %s failed: %s", result.repo, result.push_id, problem)
    reason = str(problem)
    if isinstance(problem, TreeherderNotFound):
        reason = f"Treeherder does not know this push: {problem}"
    PushState.objects.filter(repo=result.repo, push_id=result.push_id).update(last_error=reason[:2000])
    result.error = reason
    return result


def poll_push(
    repo: str,
    push_id: int,
    *,
    client: TreeherderClient | None = None,
    enqueue: Enqueue | None = None,
    min_interval: float | None = None,
    confirm: bool = False,
) -> PollResult:
    """Fetch one push once (however many users watch it), apply the rules, and when it is ready to
    notify, mark it finished and record the due notifications; `enqueue(notification_id)` runs after
    commit for every new ledger row. `confirm`: the settle rule's confirming read (see begin_poll)."""
    begun = begin_poll(repo, push_id, enqueue=enqueue, min_interval=min_interval, confirm=confirm)
    if isinstance(begun, PollResult):
        return begun
    return finish_poll(begun, fetch(begun, client or get_client(background=True)), enqueue=enqueue)
