"""The one way the pushes app learns about per-user data it does not own.

Dependencies between the apps go one way: notifications depends on pushes (it watches pushes, reads
them through `pushes.services`, uses `pushes.rules` and links to the push pages); pushes never imports
notifications. The push pages still need two answers about the signed-in user that live in
notifications' models — their Treeherder author email (the push list's default filter) and which of a
page of pushes they watch (the Watch buttons) — so notifications registers them here from its
`AppConfig.ready()`. Asking before anything registered is a configuration error, not a silent default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True, slots=True)
class UserHooks:
    # (user) -> the email Treeherder knows the user's pushes by; the user is signed in
    author_email: Callable[[Any], str]
    # (user, repo, push ids) -> the ids among them the user watches; the user is signed in
    watched_push_ids: Callable[[Any, str, Iterable[int]], set[int]]
    # (user) -> how many runs "confirm failures" asks for by default (their setting)
    confirm_times: Callable[[Any], int] = lambda user: 3


_registered: dict[str, UserHooks] = {}


def register(hooks: UserHooks) -> None:
    """Install the hooks; registering again replaces them."""
    _registered["user"] = hooks


def _hooks() -> UserHooks:
    try:
        return _registered["user"]
    except KeyError:
        raise ImproperlyConfigured(
            "No app registered pushes.hooks.UserHooks (notifications does, in ready())."
        ) from None


def author_email(user: Any) -> str:
    return _hooks().author_email(user)


def confirm_times(user: Any) -> int:
    return _hooks().confirm_times(user)


def watched_push_ids(user: Any, repo: str, push_ids: Iterable[int]) -> set[int]:
    return _hooks().watched_push_ids(user, repo, push_ids)
