"""The viewer's time zone: times on the pages (an estimated finish, above all) read in it.

A signed-in user's setting (accounts.UserSettings.time_zone), else the browser's, which static/js/app.js
keeps in the `bw_tz` cookie (Intl.DateTimeFormat().resolvedOptions().timeZone), else UTC. A name
zoneinfo does not know is ignored.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

COOKIE = "bw_tz"


def zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone of that IANA name, or None (empty, too long, unknown, or not a plain name)."""
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def user_zone(user: Any) -> zoneinfo.ZoneInfo | None:
    """A signed-in user's chosen zone (None: none chosen). Reads their settings without making a row."""
    if not getattr(user, "is_authenticated", False):
        return None
    from accounts.models import UserSettings

    return zone(UserSettings.of(user).time_zone)


class TimeZoneMiddleware:
    """Activates the viewer's zone for the request (after AuthenticationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = user_zone(getattr(request, "user", None)) or zone(request.COOKIES.get(COOKIE))
        if chosen is None:
            timezone.deactivate()
        else:
            timezone.activate(chosen)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
