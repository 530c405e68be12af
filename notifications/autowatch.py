"""Auto-watch: users who asked for it watch their new try pushes without clicking Watch."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from accounts.models import UserSettings
from pushes.treeherder.client import TreeherderClient, get_client
from pushes.treeherder.errors import TreeherderError

from .models import PushState, Watch
from .snapshot import PUSH_FIELDS, fill_push_fields

logger = logging.getLogger(__name__)

AUTO_WATCH_WINDOW = timedelta(hours=24)
AUTO_WATCH_COUNT = 10
AUTO_WATCH_REPO = "try"  # the pushes people wait on; the default repository only picks a list page


def auto_watch_new_pushes(client: TreeherderClient | None = None) -> int:
    """Watch new try pushes of users who asked for it: one push-list request per distinct author.

    Auto-watch is about try, whatever list a user opens first: their default repository only picks
    the page, and an autoland or central push is landed code, not a try run someone waits on.
    """
    now = timezone.now()
    wanted = UserSettings.objects.filter(auto_watch=True, notifications_enabled=True).select_related("user")
    by_author: dict[tuple[str, str], list[UserSettings]] = {}
    for user_settings in wanted:
        author = user_settings.effective_author_email.strip().lower()
        if author and user_settings.user.is_active:
            by_author.setdefault((AUTO_WATCH_REPO, author), []).append(user_settings)
    if not by_author:
        return 0
    client = client or get_client(background=True)
    created = 0
    for (repo, author), members in by_author.items():
        try:
            pushes = client.pushes(repo, author=author, count=AUTO_WATCH_COUNT)
        except TreeherderError as problem:
            logger.warning("Auto-watch: listing %s pushes of %s failed: %s", repo, author, problem)
            continue
        for push in pushes:
            pushed_at = datetime.fromtimestamp(push.push_timestamp or 0, UTC)
            for user_settings in members:
                since = max(
                    user_settings.auto_watch_since or now - AUTO_WATCH_WINDOW, now - AUTO_WATCH_WINDOW
                )
                if pushed_at < since:
                    continue
                _, made = Watch.objects.get_or_create(
                    user=user_settings.user, repo=repo, push_id=push.id, defaults={"auto": True}
                )
                if made:
                    created += 1
                    state, _ = PushState.objects.get_or_create(repo=repo, push_id=push.id)
                    if not state.revision:  # the list already told us: saves a push() call later
                        fill_push_fields(state, push)
                        state.save(update_fields=PUSH_FIELDS)
    return created
