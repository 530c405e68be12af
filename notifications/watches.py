"""Starting and stopping a watch: only a push Treeherder knows, on a repository it lists, within a cap
per user; the watch's PushState is filled from what the page just showed, and removed with the last
watch of its push (`delete_orphan_push_states` also sweeps them periodically).

Treeherder is asked through pushes.services' cached reads: watching a push from its page or from the
push list costs no new request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef

from pushes import cached, rules, services
from pushes.treeherder.errors import TreeherderNotFound

from .models import PushState, Watch
from .snapshot import fill_push_fields


class NotWatchable(Exception):
    """The push cannot be watched; `message` says why (shown to the user), `status` is the HTTP answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def max_watches() -> int:
    return int(settings.BUILDWATCH_MAX_WATCHES_PER_USER)


def _refuse_over_cap(user: Any, repo: str, push_id: int) -> None:
    """NotWatchable (409) when the user watches `max_watches()` unfinished pushes and not this one."""
    if Watch.objects.filter(user=user, repo=repo, push_id=push_id).exists():
        return
    if Watch.objects.filter(user=user, notified_at__isnull=True).count() >= max_watches():
        raise NotWatchable(
            f"You already watch {max_watches()} unfinished pushes: unwatch some on /watching/ first.", 409
        )


def check_watchable(user: Any, repo: str, push_id: int) -> rules.Push:
    """The push to watch, or NotWatchable: unknown repository or push (404), too many watches (409),
    Treeherder unreachable with nothing cached (503). The cap is checked here to refuse before asking
    Treeherder, and again, under a lock, by `start_watching`."""
    if not services.is_known_repo(repo):
        raise NotWatchable(f"Treeherder has no repository “{repo}”.", 404)
    _refuse_over_cap(user, repo, push_id)
    try:
        return services.push(repo, push_id).value
    except TreeherderNotFound:
        raise NotWatchable(f"Treeherder has no push {push_id} in {repo}.", 404) from None
    except cached.Unavailable as exc:
        raise NotWatchable(
            f"Treeherder did not answer ({exc.reason}), so the push cannot be checked.", 503
        ) from None


def start_watching(user: Any, repo: str, push: rules.Push) -> Watch:
    """The watch, and its PushState filled at once with the push's title and, when a page showed the
    push's jobs lately, its state and counts (the poller's first poll confirms them).

    NotWatchable (409) when the user is at the cap. The cap is counted in the transaction that creates
    the watch, after locking the user's row: a user's concurrent requests take turns, so each counts the
    watches the ones before it created (on SQLite, whose transactions here begin IMMEDIATE, every write
    transaction takes turns anyway)."""
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).exists()  # SELECT 1 … FOR UPDATE
        _refuse_over_cap(user, repo, push.id)
        state, _ = PushState.objects.select_for_update().get_or_create(repo=repo, push_id=push.id)
        if state.state == PushState.State.UNKNOWN:
            _fill_from_page(state, repo, push)
        watch, _ = Watch.objects.get_or_create(
            user=user, repo=repo, push_id=push.id, defaults={"last_state": state.state}
        )
    return watch


def _fill_from_page(state: PushState, repo: str, push: rules.Push) -> None:
    fill_push_fields(state, push)
    summary = services.cached_jobs_summary(repo, push.id)
    if summary is not None and summary.counts.total:
        counts = summary.counts
        running = counts.running or counts.completed
        state.state = PushState.State.RUNNING if running else PushState.State.PENDING
        # Not job_count: the poller's settle rule compares its own successive reads.
        state.completed_count, state.failed_count = counts.completed, counts.failed
    state.save()


def stop_watching(user: Any, repo: str, push_id: int) -> bool:
    """Remove the user's watch (False when there was none) and the push's state with its last watch."""
    with transaction.atomic():
        deleted, _ = Watch.objects.filter(user=user, repo=repo, push_id=push_id).delete()
        if deleted and not Watch.objects.filter(repo=repo, push_id=push_id).exists():
            PushState.objects.filter(repo=repo, push_id=push_id).delete()
    return bool(deleted)


def delete_orphan_push_states() -> int:
    """Delete every PushState no watch refers to any more (left by deleted users, old unwatches)."""
    watched = Watch.objects.filter(repo=OuterRef("repo"), push_id=OuterRef("push_id"))
    deleted, _ = PushState.objects.exclude(Exists(watched)).delete()
    return deleted
