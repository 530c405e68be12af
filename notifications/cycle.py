"""One poll cycle on one worker: every distinct watched, unfinished push, many at once.

The HTTP reads run in a bounded thread pool (BUILDWATCH_POLL_CONCURRENCY); every database step of a
poll (claim, store, ledger) stays in the calling thread, on its one connection. So the per-push work is
claimed and idempotent exactly as a lone poll_push is, no thread opens a database connection of its
own (nothing to leak, no SQLite writer contention, no extra PostgreSQL connections per worker), and the
cycle's wall time is about pushes x latency / concurrency while the database work overlaps the reads.
That thread claims and stores a batch at a time (poller.begin_polls, poller.finish_polls), a few queries
per batch rather than several per push: per-push round trips made it the bottleneck at 1,000 pushes.

New watches get their title from one push-list read per repository (`id__in`), so from the first cycle
on a push costs one jobs request per cycle (more only for pages past 2,000 jobs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from pushes.rules import Push
from pushes.treeherder.client import TreeherderClient, get_client
from pushes.treeherder.errors import TreeherderError

from . import poller, wake
from .autowatch import auto_watch_new_pushes
from .followup import check_confirmations
from .models import PushState, Watch
from .outbox import Enqueue, due_deliveries
from .snapshot import PUSH_FIELDS, fill_push_fields, write_states

logger = logging.getLogger(__name__)

CYCLE_BUDGET = 0.9  # of the poll interval: later pushes wait for the next cycle (polled first there)
TITLE_BATCH = 100  # push ids per push-list request

ScheduleConfirm = Callable[[str, int, int], Any]


def concurrency() -> int:
    return max(int(settings.BUILDWATCH_POLL_CONCURRENCY), 1)


def watched_unfinished_pushes() -> list[tuple[str, int]]:
    """Distinct pushes with a watcher not yet notified (finished ones are settled from the DB alone),
    least recently polled first, so pushes a cycle had no time for go first in the next one."""
    since = timezone.now() - poller.WATCH_MAX_AGE
    rows = (
        Watch.objects.filter(notified_at__isnull=True, created_at__gte=since)
        .values_list("repo", "push_id")
        .distinct()
        .order_by("repo", "push_id")
    )
    pushes = [(repo, int(push_id)) for repo, push_id in rows]
    polled = {
        (repo, push_id): at.timestamp() if at else 0.0
        for repo, push_id, at in PushState.objects.filter(
            push_id__in=[push_id for _, push_id in pushes]
        ).values_list("repo", "push_id", "last_polled_at")
    }
    return sorted(pushes, key=lambda push: polled.get(push, 0.0))


@dataclass
class CycleSummary:
    auto_watched: int = 0
    pushes: list[tuple[str, int]] = field(default_factory=list)
    results: list[poller.PollResult] = field(default_factory=list)
    deferred: list[tuple[str, int]] = field(default_factory=list)  # out of time: first in the next cycle
    requeued: list[int] = field(default_factory=list)
    titles_read: int = 0

    def __str__(self) -> str:
        return (
            f"{len(self.pushes)} watched push(es), {sum(r.polled for r in self.results)} polled, "
            f"{len(self.deferred)} left for the next cycle, {self.auto_watched} auto-watched, "
            f"{len(self.requeued)} delivery(ies) re-queued"
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "pushes": len(self.pushes),
            "polled": sum(r.polled for r in self.results),
            "deferred": len(self.deferred),
            "auto_watched": self.auto_watched,
            "requeued": len(self.requeued),
        }


def poll_cycle(
    *,
    dispatch_delivery: Enqueue,
    schedule_confirm: ScheduleConfirm | None = None,
    client: TreeherderClient | None = None,
    workers: int | None = None,
    min_interval: float | None = None,
) -> CycleSummary:
    """One beat: auto-watch, poll every distinct watched push (`workers` reads at once), schedule the
    settle rule's confirming polls (`schedule_confirm(repo, push_id, seconds)`), re-queue lost deliveries."""
    summary = CycleSummary()
    deadline = time.monotonic() + CYCLE_BUDGET * poller.poll_seconds()
    try:
        summary.auto_watched = auto_watch_new_pushes(client)
    except Exception:  # auto-watch must never stop the watched pushes from being polled
        logger.exception("Auto-watch failed")
    summary.pushes = watched_unfinished_pushes()
    client = client or get_client(background=True)
    summary.titles_read = fill_titles(client, summary.pushes, workers or concurrency())
    summary.results, summary.deferred = poll_many(
        wake.beat_pushes(summary.pushes),  # all of them, unless Pulse is live (notifications/wake.py)
        client=client,
        enqueue=dispatch_delivery,
        workers=workers or concurrency(),
        min_interval=min_interval,
        deadline=deadline,
    )
    for result in summary.results:
        if result.confirm_in is not None and schedule_confirm is not None:
            schedule_confirm(result.repo, result.push_id, result.confirm_in)
    try:
        check_confirmations(client=client, enqueue=dispatch_delivery)  # follow-up verdicts
    except Exception:
        logger.exception("Checking confirming runs failed")
    summary.requeued = due_deliveries()
    for notification_id in summary.requeued:
        dispatch_delivery(notification_id)
    return summary


def fill_titles(client: TreeherderClient, pushes: Iterable[tuple[str, int]], workers: int = 1) -> int:
    """Title, author and revision of pushes never read, from the push list (`id__in`), not one request
    each; the list reads run `workers` at a time, the writes in this thread. A push the list leaves out
    (or a failed read) is read by its poll instead. Returns requests."""
    states = poller.push_states(pushes)
    wanted: dict[str, list[int]] = {}
    for (repo, push_id), state in states.items():
        if not state.revision:
            wanted.setdefault(repo, []).append(push_id)
    reads = [
        (repo, push_ids[start : start + TITLE_BATCH])
        for repo, push_ids in wanted.items()
        for start in range(0, len(push_ids), TITLE_BATCH)
    ]

    def read(repo: str, push_ids: list[int]) -> list[Push]:
        try:
            return client.pushes_by_id(repo, push_ids)
        except TreeherderError as problem:
            logger.warning("Reading the titles of %s pushes failed: %s", repo, problem)
            return []
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=max(min(workers, len(reads)), 1)) as pool:
        answers = list(pool.map(lambda batch: (batch[0], read(*batch)), reads))
    filled = []
    for repo, found in answers:
        for push in found:
            if (state := states.get((repo, push.id))) is not None:
                fill_push_fields(state, push)
                filled.append((state, set(PUSH_FIELDS)))
    with transaction.atomic():
        write_states(filled)  # one UPDATE for all of them on PostgreSQL, not one per push
    return len(reads)


def _fetch(plan: poller.PollPlan, client: TreeherderClient) -> poller.Fetched:
    try:
        return poller.fetch(plan, client)
    finally:
        connections.close_all()  # fetch opens none; should that change, no thread keeps one open


def poll_many(
    pushes: list[tuple[str, int]],
    *,
    client: TreeherderClient,
    enqueue: Enqueue | None,
    workers: int,
    min_interval: float | None = None,
    deadline: float | None = None,
) -> tuple[list[poller.PollResult], list[tuple[str, int]]]:
    """Poll `pushes`, up to `workers` Treeherder reads at once; claims and writes in this thread, each
    for a batch of pushes at a time (a few queries per batch, not per push): pushes are claimed
    `workers` at a time, and the reads that have come back are stored together. A push whose poll
    crashes is reported, never stops the others. Returns (results, pushes left for later)."""
    results: list[poller.PollResult] = []
    in_flight: dict[Future[poller.Fetched], poller.PollPlan] = {}

    def finish(done: Iterable[Future[poller.Fetched]]) -> None:
        polls = [(in_flight.pop(future), future) for future in done]
        results.extend(_finish_batch(polls, enqueue))

    deferred: list[tuple[str, int]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="buildwatch-poll") as pool:
        for start in range(0, len(pushes), workers):
            if deadline is not None and time.monotonic() > deadline:
                deferred = pushes[start:]
                logger.warning("Poll cycle out of time: %d push(es) wait for the next one", len(deferred))
                break
            for begun in _begin_batch(pushes[start : start + workers], enqueue, min_interval):
                if isinstance(begun, poller.PollResult):
                    results.append(begun)
                else:
                    in_flight[pool.submit(_fetch, begun, client)] = begun
            while len(in_flight) >= 2 * workers:  # keep every thread busy while this one writes
                finish(wait(in_flight, return_when=FIRST_COMPLETED).done)
        while in_flight:
            finish(wait(in_flight, return_when=FIRST_COMPLETED).done)
    return results, deferred


def _begin_batch(
    pushes: list[tuple[str, int]], enqueue: Enqueue | None, min_interval: float | None
) -> list[poller.PollPlan | poller.PollResult]:
    """Claim a batch at once; should that crash, each push alone, so only a bad one is reported."""
    try:
        return poller.begin_polls(pushes, enqueue=enqueue, min_interval=min_interval)
    except Exception:
        logger.exception("Claiming %d pushes at once crashed: claiming them one by one", len(pushes))
    return [
        _guarded(repo, push_id, poller.begin_poll, repo, push_id, enqueue=enqueue, min_interval=min_interval)
        for repo, push_id in pushes
    ]


def _finish_batch(
    polls: list[tuple[poller.PollPlan, Future[poller.Fetched]]], enqueue: Enqueue | None
) -> list[poller.PollResult]:
    """Store a batch of reads at once (one transaction); should that crash (one push's data no rule
    expected), each alone, so the others are stored and only the bad one is reported."""
    fetched: list[tuple[poller.PollPlan, poller.Fetched]] = []
    results: list[poller.PollResult] = []
    for plan, future in polls:
        try:
            fetched.append((plan, future.result()))
        except Exception as problem:  # the read itself crashed in its thread
            results.append(_crashed(plan.state.repo, plan.state.push_id, problem))
    if not fetched:
        return results
    try:
        return results + poller.finish_polls(fetched, enqueue=enqueue)
    except Exception:
        if len(fetched) > 1:
            logger.exception("Storing %d polls at once crashed: storing them one by one", len(fetched))
    for plan, one in fetched:
        repo, push_id = plan.state.repo, plan.state.push_id
        results.append(_guarded(repo, push_id, poller.finish_poll, plan, one, enqueue=enqueue))
    return results


def _guarded(repo: str, push_id: int, step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One bad push must not starve the others of their poll: its crash becomes its result."""
    try:
        return step(*args, **kwargs)
    except Exception as problem:
        return _crashed(repo, push_id, problem)


def _crashed(repo: str, push_id: int, problem: Exception) -> poller.PollResult:
    logger.error("Polling %s push %s crashed", repo, push_id, exc_info=problem)
    return poller.PollResult(
        repo=repo, push_id=push_id, error=f"crashed: {type(problem).__name__}: {problem}"
    )
