"""Small filters for the push pages: times, revisions, durations and status colours."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

from pushes import display, rules, triage

register = template.Library()


@register.filter
def epoch(value: int | float | None) -> datetime | None:
    """Epoch seconds (as Treeherder sends them) as an aware UTC datetime."""
    if not value:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


@register.filter
def short_revision(revision: str | None) -> str:
    return (revision or "")[:12]


@register.filter
def colour(status: str) -> str:
    """CSS colour class of a job status, a result or a push/group state."""
    if status in rules.State:
        return rules.State(status).colour
    return display.result_colour(status)


@register.filter
def minutes(value: float | int | None) -> str:
    """A duration in minutes as "1 h 05 min" / "12 min" / "< 1 min"; "" when unknown."""
    if value is None:
        return ""
    total = int(round(float(value)))
    if total < 1:
        return "< 1 min"
    hours, mins = divmod(total, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


@register.filter
def age(seconds: int | float | None) -> str:
    """ "12 s" / "3 min" / "2 h": how old cached data is."""
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@register.filter
def get_item(mapping: dict, key: object) -> object:
    return mapping.get(key) if mapping else None


TRIAGE_COLOURS = {
    "new": "red",
    "base": "orange",
    "preexisting": "orange",
    "intermittent": "yellow",
    "unknown": "gray",
}


@register.filter
def lower_tier_count(groups: list[triage.FailureGroup]) -> int:
    """How many of these failure groups are tier 2/3 only: shown, but not counted in the push's verdict
    (so a section's header and the triage line above it add up)."""
    return sum(not group.tier1 for group in groups)


@register.filter
def triage_colour(triage: str) -> str:
    """CSS colour class of a failure group's triage class (always shown with its word)."""
    return TRIAGE_COLOURS.get(str(triage), "neutral")


@register.filter
def base_words(group: triage.FailureGroup, check: triage.BaseCheck | None) -> str:
    """What the base push says of a failure that would be new ("passes on autoland push 630312")."""
    return display.base_words(group.base, check.push if check else None, check.reason if check else "")


@register.filter
def unanswered(logs: list[triage.JobLog]) -> list[triage.JobLog]:
    """The jobs among these whose evidence Treeherder did not give (not just not read yet)."""
    return [log for log in logs if log.error]
