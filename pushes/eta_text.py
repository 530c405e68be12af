"""How an estimated finish reads, wherever it shows (push list, push page and its tab title, /watching/,
early alerts): "ETA 14:20 (14:05–14:50)" in the viewer's time zone (Django's current one: the user's
setting, the browser's `bw_tz` cookie, else UTC; buildwatch.timezones), or "no estimate yet". No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from django.utils import timezone

from buildwatch import timezones

from .eta import Eta

NO_ESTIMATE = "no estimate yet"
NO_ESTIMATE_TITLE = "Too few of this push's jobs have run before (or its decision task still runs) to tell."


@dataclass(frozen=True, slots=True)
class EtaLine:
    """A running push's estimate as shown: `text` ("ETA 14:20 (14:05–14:50)"), `title` (the long form,
    with its time zone), `known` (False: no estimate yet), `at` (its likely finish, ISO, for <time>)."""

    text: str
    title: str
    known: bool
    at: str = ""
    clock: str = ""  # the likely finish alone ("14:20"): the tab title and alerts


def _clock(moment: datetime, today: datetime) -> str:
    """14:20, or with its weekday when it is not today ("Tue 02:10")."""
    if moment.date() != today.date():
        return moment.strftime("%a %H:%M")
    return moment.strftime("%H:%M")


def zone_or_current(zone: str | tzinfo | None = None) -> tzinfo:
    """A zone by name (bad or empty: the current one), or the current one."""
    if isinstance(zone, tzinfo):
        return zone
    return timezones.zone(zone) or timezone.get_current_timezone()


def finish_times(found: Eta, zone: str | tzinfo | None = None) -> tuple[str, str, str, str]:
    """(likely, early, late, zone name) as clock times in `zone` (default: the current one)."""
    where = zone_or_current(zone)
    now = datetime.now(UTC).astimezone(where)
    early, median, late = (datetime.fromtimestamp(value, UTC).astimezone(where) for value in
                           (found.early, found.median, found.late))  # fmt: skip
    return _clock(median, now), _clock(early, now), _clock(late, now), median.strftime("%Z")


def eta_line(found: Eta | None) -> EtaLine:
    """The estimate as the pages show it, in the current time zone."""
    if found is None:
        return EtaLine(NO_ESTIMATE, NO_ESTIMATE_TITLE, known=False)
    likely, early, late, zone = finish_times(found)
    title = (
        f"Estimated finish {likely} {zone}, likely between {early} and {late}; from how long the "
        f"{found.known} of its {found.unfinished} unfinished jobs with a history took before."
    )
    at = datetime.fromtimestamp(found.median, UTC).isoformat()
    return EtaLine(f"ETA {likely} ({early}–{late})", title, known=True, at=at, clock=likely)


def finish_sentence(found: Eta | None, zone: str | tzinfo | None = None) -> str:
    """The early alert's line: "The rest should finish around 14:20 (14:05–14:50 CET)."."""
    if found is None:
        return "No estimate yet of when the rest will finish."
    likely, early, late, name = finish_times(found, zone)
    return f"The rest should finish around {likely} ({early}–{late} {name})."


def alert_sentence(detail: dict, zone: str = "") -> str:
    """An early alert's line from its stored detail's `eta` ([early, likely, late] epoch seconds, or
    None: no estimate yet) in `zone` (the user's; empty: UTC); "" for an alert stored before it had one."""
    if "eta" not in detail:
        return ""
    found = detail["eta"]
    estimate = Eta(found[0], found[1], found[2], 0, 0) if found else None
    return finish_sentence(estimate, zone or "UTC")


__all__ = [
    "alert_sentence",
    "NO_ESTIMATE",
    "EtaLine",
    "eta_line",
    "finish_sentence",
    "finish_times",
    "zone_or_current",
]
