"""Early alerts: one notification per (user, push) at a still-running push's first new failure.

Called by the poller (`poll_push`) for every push it reads that is not finished yet. The decision waits
for evidence, never for a fixed delay: a failure is alerted when its failure group is triaged **new**
(its log parsed and its bug suggestions read: `pushes.triage.triage_group` says "new" only then), so a
failure that turns out to be a known intermittent or already failing on mozilla-central never causes
one. A failed job whose log Treeherder has not parsed EVIDENCE_BOUND after the job ended is alerted
anyway ("log not parsed yet"): a busted build without a parsed log blocks the whole push, and waiting
forever for evidence would make the alert useless.

The rows go on the same ledger as the final notification (`Notification.kind = early`, unique per
user, push, channel and kind), so two beats or a killed worker still send one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from accounts.models import UserSettings
from pushes import display, durations, eta_text, links, rules, triage
from pushes.evidence import failure_summary

from .models import Notification, PushState, Watch
from .outbox import Enqueue, record_rows, send_after_commit

EVIDENCE_BOUND = timedelta(seconds=triage.LOG_PARSE_WAIT)
FAILED_SINCE_TTL = 2 * 24 * 3600


def _is_build(job: rules.Job) -> bool:
    return job.job_type_name.startswith("build-") or job.job_type_symbol.startswith("B")


def _waiting_watches(state: PushState) -> list[tuple[Watch, UserSettings]]:
    """Watchers who still want an early alert for this push (none yet, switched on everywhere), each with
    their settings."""
    alerted = Notification.objects.filter(
        repo=state.repo, push_id=state.push_id, kind=Notification.Kind.EARLY
    ).values("user_id")
    watches = Watch.objects.filter(
        repo=state.repo, push_id=state.push_id, notified_at__isnull=True, early_alert=True
    ).exclude(user_id__in=alerted)
    return [
        (watch, prefs)
        for watch in watches.select_related("user")
        if (prefs := UserSettings.for_user(watch.user)).early_alerts and prefs.notifications_enabled
    ]


def _detail(
    state: PushState, job: rules.Job, failure: str, reason: str, jobs: list[rules.Job]
) -> dict[str, Any]:
    counts = rules.job_counts(jobs)
    base = settings.TREEHERDER_URL
    return {
        "what": "build" if _is_build(job) else "test",
        "result": job.result,
        "platform": rules.group_display_name(job.platform, job.platform_option),
        "job": job.job_type_name,
        "job_id": job.id,
        "failure": failure,
        "reason": reason,
        "completed": counts.completed,
        "total": counts.total,
        "percent": counts.percent_complete,
        "job_url": links.treeherder_job_url(base, state.repo, state.revision, job),
        "log_url": links.treeherder_log_url(base, state.repo, job.id),
    }


def find_early_failure(state: PushState, jobs: list[rules.Job], now: datetime) -> dict[str, Any] | None:
    """What the early alert says, or None: no tier-1 failure yet, or none with the evidence yet."""
    failed = [job for job in triage.failed_jobs(jobs) if rules.effective_tier(job) == 1]
    if not failed:
        return None
    summary = failure_summary(state.repo, failed, revision=state.revision, background=True)
    by_id = summary.jobs_by_id
    base = summary.base
    for group in summary.new_groups:
        if group.base == triage.BaseState.PENDING:  # the base push may still show it failed before
            continue
        job = next((by_id[job_id] for job_id in group.job_ids if job_id in by_id), None)
        if job is not None:
            words = display.base_words(group.base, base.push if base else None, base.reason if base else "")
            return _detail(state, job, group.key, "; ".join(filter(None, [group.reason, words])), jobs)
    bound = (now - EVIDENCE_BOUND).timestamp()
    for log in summary.logs:
        if not log.parsed and _failed_since(state, log.job, now) <= bound:
            reason = (
                f"its log was not parsed {int(EVIDENCE_BOUND.total_seconds() // 60)} minutes after it ended"
            )
            return _detail(state, log.job, f"{log.job.job_type_name} {log.job.result}", reason, jobs)
    return None


def _failed_since(state: PushState, job: rules.Job, now: datetime) -> float:
    """When the job ended (Treeherder's end time), else when the poller first saw it failed (kept in
    the cache: the poller's job snapshot has no end times; a lost cache restarts the bound)."""
    if job.end_timestamp:
        return float(job.end_timestamp)
    key = f"bw:early:failed-since:{state.repo}:{job.id}"
    cache.add(key, now.timestamp(), FAILED_SINCE_TTL)
    return float(cache.get(key) or now.timestamp())


def early_title(repo: str, detail: dict[str, Any]) -> str:
    what = "build busted" if detail["what"] == "build" else f"new {detail['what']} failure"
    return f"{display.repo_label(repo)} push: early alert, {what}"


def early_body(state: PushState, detail: dict[str, Any], zone: str = "") -> str:
    done = f"{detail['completed']} of {detail['total']} jobs done ({detail['percent']}%), still running"
    sentence = eta_text.alert_sentence(detail, zone)
    return "\n".join(
        [
            f"{detail['platform']} {detail['job']}: {detail['failure']}",
            f"{done}. {sentence}" if sentence else done,
            state.title or f"push {state.push_id}",
        ]
    )


def _estimate(state: PushState, jobs: list[rules.Job], now: datetime) -> list[float] | None:
    """When the rest should finish (pushes.durations.push_eta), as stored in the alert's detail."""
    found = durations.push_eta(state.repo, jobs, now)
    return [round(found.early), round(found.median), round(found.late)] if found else None


def record_early_alerts(
    state: PushState, jobs: list[rules.Job], now: datetime, enqueue: Enqueue | None
) -> list[int]:
    """The early ledger rows due for this running push (idempotent); enqueue runs after commit."""
    # Every job done: the final notification follows at the next poll (settle rule), so no early one.
    if state.state == PushState.State.FINISHED or rules.looks_finished(jobs) or not _waiting_watches(state):
        return []
    detail = find_early_failure(state, jobs, now)
    if detail is None:
        return []
    detail["eta"] = _estimate(state, jobs, now)
    created: list[int] = []
    with transaction.atomic():
        for watch, prefs in _waiting_watches(state):
            created += record_rows(
                watch.user, state.repo, state.push_id, Notification.Kind.EARLY,
                early_title(state.repo, detail), early_body(state, detail, prefs.time_zone),
                {**detail, "at": now.isoformat()},
            )  # fmt: skip
        send_after_commit(created, enqueue)
    return created


def wanting_early_alerts(states: Sequence[PushState]) -> set[tuple[str, int]]:
    """The running pushes with a failure whose watchers may still want an early alert (one query): an
    early alert needs every job, which an incremental read does not bring, so only those are read back."""
    if not states:
        return set()
    query = Q()
    for state in states:
        query |= Q(repo=state.repo, push_id=state.push_id)
    alerted = Notification.objects.filter(
        user_id=OuterRef("user_id"),
        repo=OuterRef("repo"),
        push_id=OuterRef("push_id"),
        kind=Notification.Kind.EARLY,
    )
    return set(
        Watch.objects.filter(query, notified_at__isnull=True, early_alert=True)
        .exclude(Exists(alerted))
        .values_list("repo", "push_id")
        .distinct()
    )
