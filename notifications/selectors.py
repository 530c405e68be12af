"""Read-only queries for the pages (Django-Styleguide's selectors): no writes, no Treeherder calls."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse

from .models import Notification, PushState, PushSubscription, Watch

RECENT_NOTIFICATIONS = 20


@dataclass(frozen=True)
class WatchRow:
    watch: Watch
    state: PushState | None
    eta: Any = None  # a running push's pushes.eta_text.EtaLine (notifications.etas)

    @property
    def polled(self) -> bool:
        return self.state is not None and self.state.state != PushState.State.UNKNOWN

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.state == PushState.State.FINISHED

    @property
    def verdict(self) -> tuple[str, str] | None:
        """(label, colour) of a finished push's verdict: "passed", "known failures only", "3 new failures"."""
        summary = (self.state.summary if self.finished else None) or {}
        verdict = summary.get("verdict") or (
            "failed" if summary.get("failed") else "passed" if summary else ""
        )
        if not verdict:
            return None
        label = summary.get("verdict_label") or verdict
        return label, {"passed": "green", "known": "orange"}.get(verdict, "red")

    @property
    def bar_state(self) -> str:
        """The progress bar's colour as on the push list (CSS state-*): red once a job failed, orange
        for a push that failed only in known ways, green for a passed one, blue while it runs."""
        verdict = self.verdict
        if verdict is not None:
            return {"green": "passing", "orange": "known"}.get(verdict[1], "failing")
        return "failing" if self.state is not None and self.state.failed_count else "running"

    @property
    def percent(self) -> int | None:
        if not self.polled or not self.state.job_count:
            return None
        return min(100, int(100 * self.state.completed_count / self.state.job_count))

    @property
    def title(self) -> str:
        return (
            self.state.title
            if self.state and self.state.title
            else f"{self.watch.repo} push {self.watch.push_id}"
        )

    @property
    def url(self) -> str:
        return reverse("push_detail", args=[self.watch.repo, self.watch.push_id])


def watch_rows(user: Any) -> list[WatchRow]:
    """The user's watches with what the poller last saw: unfinished first, newest watch first within."""
    watches = list(Watch.objects.filter(user=user).order_by("-created_at", "-id"))
    by_repo: dict[str, list[int]] = defaultdict(list)
    for w in watches:
        by_repo[w.repo].append(w.push_id)
    states: dict[tuple[str, int], PushState] = {}
    if by_repo:
        query = Q()
        for repo, ids in by_repo.items():
            query |= Q(repo=repo, push_id__in=ids)
        states = {(s.repo, s.push_id): s for s in PushState.objects.filter(query)}
    rows = [WatchRow(w, states.get((w.repo, w.push_id))) for w in watches]
    return sorted(rows, key=lambda row: row.finished)  # stable: keeps newest-first within each part


def recent_notifications(user: Any, limit: int = RECENT_NOTIFICATIONS) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")[:limit]


def push_subscriptions(user: Any) -> QuerySet[PushSubscription]:
    """The browsers a user subscribed to web push, newest first (the settings page's list)."""
    return PushSubscription.objects.filter(user=user).order_by("-created_at", "-pk")


def watched_push_ids(user: object, repo: str, push_ids: Iterable[int]) -> set[int]:
    """Which of these pushes the user watches: one query for a whole page of rows (the push pages ask
    through templatetags/watch_tags.py)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(
        Watch.objects.filter(user=user, repo=repo, push_id__in=list(push_ids)).values_list(
            "push_id", flat=True
        )
    )
