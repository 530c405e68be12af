"""The Watch / Unwatch buttons of the push pages.

Which pushes a user watches is this app's data; the push pages' templates load this library
(`{% load watch_tags %}`, resolved when they render) so that pushes' code never imports notifications.
A list asks once for all its rows (`watched_push_ids`), then each row's button reads that set.

The buttons are per viewer: they belong in a page's own render, never inside a fragment that is
rendered once and shared by every viewer (pushes.views caches its groups and job sections that way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import template

from notifications import selectors

register = template.Library()


def _push_id(item: Any) -> int:
    """A push id from a push (`.id`), a push-list row carrying one (`row["push"]`), or an id."""
    if isinstance(item, Mapping):
        item = item["push"]
    return int(getattr(item, "id", item))


@register.simple_tag(takes_context=True)
def watched_push_ids(context: template.Context, repo: str, pushes: Iterable[Any]) -> set[int]:
    """Which of these pushes (pushes, push-list rows or ids) the signed-in viewer watches: one query for
    the whole list, none for an anonymous viewer. `{% watched_push_ids repo rows as watched_ids %}`."""
    return selectors.watched_push_ids(context.get("user"), repo, [_push_id(item) for item in pushes])


@register.inclusion_tag("notifications/watch_button.html", takes_context=True)
def watch_button(
    context: template.Context, repo: str, push_id: int, watched_ids: set[int] | None = None
) -> dict[str, Any]:
    """The viewer's Watch or Unwatch button for one push. `watched_ids`: what `watched_push_ids` found
    for the page's list; without it, this one push is looked up (one query)."""
    if watched_ids is None:
        watched_ids = watched_push_ids(context, repo, [push_id])
    return {
        "request": context.get("request"),
        "user": context.get("user"),
        "repo": repo,
        "push_id": push_id,
        "watched": push_id in watched_ids,
    }
