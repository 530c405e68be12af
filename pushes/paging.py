"""Paging the push list back in time ("Older pushes"), as Treeherder's own UI does. Pure: no Django, no
HTTP, no clock.

Treeherder lists pushes by time (`order_by("-time")`), not by id: a push ingested late has a higher id
and an older time than its neighbours, so paging with `id__lt` never shows it. A page instead asks for
the pushes at or before the last shown push's second (`push_timestamp__lte`). Pushes of one second come
back in no particular order (PostgreSQL's, for `-time` alone, which can change with the LIMIT), so the
next page starts from `Older`: that second, and every push of it already shown; it asks for as many more
rows as it skips. Treeherder's UI asks for one more and drops the pushes it already holds; BuildWatch
keeps no list between pages, so the shown pushes of that second travel in the link.

A page shows its pushes newest first, pushes of one second by id (highest first), and loses or doubles
none, whatever order Treeherder gives the pushes of a second: each page's pushes are all of the same or
older seconds than the last page's, and none of those already shown (see `after`; up to MAX_SHOWN pushes
of one second: beyond that, the rest of that second is skipped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .rules import Push

# A link carries at most this many pushes of one second (far more than a repository pushes in one
# second), so a page asks Treeherder for at most this many rows more than it shows: a link anyone can
# write costs no more than twice the largest page.
MAX_SHOWN = 100
MAX_TIMESTAMP = 2**32  # 2106: a later "second" is no moment Treeherder can take
TIMESTAMP_PARAM = "push_timestamp__lte"
SHOWN_PARAM = "shown"


@dataclass(frozen=True, slots=True)
class Older:
    """Where "Older pushes" starts: every push at or before `timestamp` (epoch seconds) except `shown`,
    the pushes of that very second a page already showed."""

    timestamp: int
    shown: frozenset[int] = frozenset()

    def fetch_count(self, count: int) -> int:
        """How many rows to ask Treeherder for, so that `count` remain once the shown ones are dropped."""
        return count + len(self.shown)

    def query(self) -> dict[str, str | int]:
        """The link's query parameters."""
        return {TIMESTAMP_PARAM: self.timestamp, SHOWN_PARAM: ",".join(map(str, sorted(self.shown)))}


def from_query(params: Mapping[str, str]) -> Older | None:
    """The `Older` a link names, or None (the first page) when it names no whole epoch second."""
    raw = str(params.get(TIMESTAMP_PARAM, "")).strip()
    if not _whole(raw) or int(raw) > MAX_TIMESTAMP:
        return None
    shown = {int(part) for part in str(params.get(SHOWN_PARAM, "")).split(",") if _whole(part.strip())}
    return Older(int(raw), frozenset(sorted(shown)[:MAX_SHOWN]))


def _whole(text: str) -> bool:
    # ASCII digits only ("²" is a digit to str.isdigit, not to int) and few of them (a push id is a
    # database id, and int() refuses thousands of digits).
    return text.isascii() and text.isdigit() and len(text) <= 19


def page(rows: Iterable[Push], count: int, older: Older | None) -> list[Push]:
    """The pushes a page shows, from Treeherder's answer (`older`: to `push_timestamp__lte` with
    `older.fetch_count(count)` rows): newest first, a second's pushes highest id first, none shown
    already, none newer than `older` (an upstream ignoring the filter), at most `count`."""
    if older is not None:
        rows = (p for p in rows if p.push_timestamp <= older.timestamp and p.id not in older.shown)
    return sorted(rows, key=lambda p: (-p.push_timestamp, -p.id))[:count]


def after(shown: Sequence[Push], older: Older | None) -> Older | None:
    """Where the page after `shown` (a page made by `page` from `older`) starts: at its last push's
    second, skipping every push of that second shown so far, this page's and, when this page began in
    that same second, the earlier pages' too. None for an empty page."""
    if not shown:
        return None
    last = shown[-1].push_timestamp
    ids = {p.id for p in shown if p.push_timestamp == last}
    if older is not None and older.timestamp == last:
        ids |= older.shown
    if len(ids) > MAX_SHOWN:  # a link cannot skip them all: go on from the second before
        return Older(last - 1)
    return Older(last, frozenset(ids))
