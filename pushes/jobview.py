"""How the push page shows jobs so they can be scanned: sorted (failures, running, pending, passed;
symbols in natural order), filtered (failures only / unfinished / all, a search by job or test name),
as rows or as Treeherder-like symbol chips, and where a live refresh puts the jobs that changed
(`refresh_plan`). Plain functions over rules.Job: no requests, no cache."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.utils.text import slugify

from . import display, rules, triage
from .rules import Job

if TYPE_CHECKING:
    from .live import Delta
    from .services import JobsSummary

SHOW_CHOICES = {"all": "All", "failures": "Failures only", "unfinished": "Unfinished"}
VIEW_CHOICES = {"compact": "Compact", "rows": "Rows"}
MAX_QUERY = 100
OTHER_ANCHOR = "tier-other"
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """ "M(2)" before "M(10)": runs of digits compare as numbers (text, number, text, ... alternate)."""
    parts = _DIGITS.split(text or "")
    return tuple(int(part) if index % 2 else part.lower() for index, part in enumerate(parts))


def status_rank(job: Job) -> int:
    """0 failed, 1 running, 2 pending/unscheduled, 3 passed, 4 other results (retry, superseded, …)."""
    if rules.is_failure(job):
        return 0
    if job.state == "running":
        return 1
    if job.state != "completed":
        return 2
    return 3 if job.result == "success" else 4


def symbol_key(job: Job) -> tuple:
    return (
        natural_key(job.job_group_symbol or ""),
        natural_key(job.job_type_symbol),
        natural_key(job.job_type_name),
    )


def sort_jobs(jobs: Iterable[Job]) -> list[Job]:
    """Failures first, then running, pending, passed, the rest; within each, by symbol naturally."""
    return sorted(jobs, key=lambda job: (status_rank(job), symbol_key(job)))


def group_anchor(platform: str, option: str, tier: int = 1) -> str:
    """The id of a platform group on the page (also its jobs' address in a live refresh)."""
    if tier != 1:
        return OTHER_ANCHOR
    return f"g-{slugify(rules.group_display_name(platform, option)) or 'none'}"


def job_anchor(job: Job) -> str:
    return group_anchor(job.platform or "", job.platform_option or "", rules.effective_tier(job))


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What the page shows: `show` (all / failures / unfinished), a search `q`, and the `view`."""

    show: str = "all"
    q: str = ""
    view: str = "compact"

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> JobFilter:
        show = params.get("show", "all")
        view = params.get("view", "compact")
        return cls(
            show=show if show in SHOW_CHOICES else "all",
            q=" ".join((params.get("q") or "").split())[:MAX_QUERY],
            view=view if view in VIEW_CHOICES else "compact",
        )

    @property
    def active(self) -> bool:
        """Whether some jobs are hidden (then the matching groups open and show only the matches)."""
        return self.show != "all" or bool(self.q)

    def params(self) -> dict[str, str]:
        """The non-default values, for links and refresh URLs."""
        values = {"show": self.show, "q": self.q, "view": self.view}
        defaults = {"show": "all", "q": "", "view": "compact"}
        return {key: value for key, value in values.items() if value != defaults[key]}

    def query(self, **extra: str) -> str:
        params = {**extra, **self.params()}
        return urlencode(params)

    def matches(self, job: Job, test_matches: frozenset[int] = frozenset()) -> bool:
        if self.show == "failures" and not rules.is_failure(job):
            return False
        if self.show == "unfinished" and job.state == "completed":
            return False
        if not self.q:
            return True
        needle = self.q.lower()
        haystack = (
            f"{job.job_type_name} {display.job_symbol(job)} {job.platform} {job.platform_option}".lower()
        )
        return needle in haystack or job.id in test_matches


def test_name_matches(q: str, failure_groups: Iterable[triage.FailureGroup]) -> frozenset[int]:
    """Ids of the failed jobs whose failure (a test name, an error line) contains `q`."""
    if not q:
        return frozenset()
    needle = q.lower()
    return frozenset(
        job_id for group in failure_groups if needle in group.key.lower() for job_id in group.job_ids
    )


@dataclass(frozen=True, slots=True)
class ChipGroup:
    symbol: str  # the job group symbol ("M", "" for jobs outside a group)
    jobs: list[Job]


def chip_groups(jobs: Sequence[Job]) -> list[ChipGroup]:
    """Jobs as Treeherder's grid shows them: by job group symbol, each in natural symbol order."""
    grouped: dict[str, list[Job]] = {}
    for job in sorted(jobs, key=symbol_key):
        group = job.job_group_symbol if job.job_group_symbol not in ("", "?") else ""
        grouped.setdefault(group, []).append(job)
    return [
        ChipGroup(symbol, members)
        for symbol, members in sorted(grouped.items(), key=lambda i: natural_key(i[0]))
    ]


def shows_chips(jfilter: JobFilter, anchor: str) -> bool:
    """Compact view: a group's jobs as chips, rows for the failures only. Tier 2/3 jobs of every
    platform share one group: always rows, which name the platform."""
    return jfilter.view == "compact" and jfilter.show != "failures" and anchor != OTHER_ANCHOR


# --- A live refresh ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """Where a live refresh puts the jobs that changed after the page's token (presenters.refresh_context
    turns it into what it sends): groups new to the page (`added`), open groups shown whole again
    (`redraw`), and, in the other open groups on the page, the chips and rows swapped in place and the
    rows appended (`appended`, by group)."""

    filtered: bool
    matches: frozenset[int]  # failed jobs a search matches by test name or error line
    on_page: frozenset[str]
    added: frozenset[str]
    was_empty: bool
    redraw: frozenset[str] = frozenset()
    chips: list[Job] = field(default_factory=list)
    rows: list[Job] = field(default_factory=list)
    appended: list[tuple[str, list[Job]]] = field(default_factory=list)

    @property
    def needs_jobs(self) -> bool:
        """Whether the push's every job is needed: groups added under a filter show their matches, and
        redrawn groups all their jobs."""
        return bool(self.filtered and self.added) or bool(self.redraw)


def refresh_plan(
    summary: JobsSummary,
    delta: Delta,
    jfilter: JobFilter,
    matches: frozenset[int],
    open_anchors: set[str],
    shown: set[str] | None = None,
) -> RefreshPlan:
    """None of it moves what the reader is reading:
    - the summaries of the groups on the page whose jobs changed, and the changed chips and rows of
      the open ones, swapped in place;
    - a job that now shows in an open group and did not before (a new run; with a filter on, a job that
      starts matching it) is appended to the group's rows, or where the group shows chips the group is
      redrawn;
    - a group that was not on the page (its first jobs; with a filter, its first match) is added at the
      end of the groups;
    - a job that stops matching the filter (an unfinished job finishing under "Unfinished") stays where
      it is, with its new status, until the page is reloaded or the filter changed.
    Which groups are on the page: with a filter on, the page says (`shown`); without one, every group
    that had jobs at the token."""
    by_anchor: dict[str, list[Job]] = {}
    for job in sort_jobs(delta.jobs.values()):
        by_anchor.setdefault(job_anchor(job), []).append(job)
    totals = {group_anchor(g.platform, g.platform_option): g.counts.total for g in summary.groups}
    totals[OTHER_ANCHOR] = summary.other_counts.total
    if jfilter.active:  # a page that does not say (an older tab): its groups are updated, none added
        on_page = shown if shown is not None else set(by_anchor)
        candidates = set(by_anchor) - on_page
        was_empty = not shown
    else:
        candidates = {
            anchor
            for anchor, jobs in by_anchor.items()
            if sum(job.id in delta.new_ids for job in jobs) >= totals.get(anchor, 0) > 0
        }
        on_page = set(by_anchor) - candidates
        # every group of the push is new: the page said "No tier-1 jobs yet"
        was_empty = not {anchor for anchor, total in totals.items() if total} - candidates
    redraw: set[str] = set()
    chips, rows, appended = [], [], {}
    for anchor, jobs in by_anchor.items():
        if anchor not in on_page or anchor not in open_anchors:
            continue
        compact = shows_chips(jfilter, anchor)
        for job in jobs:
            before = delta.before(job)
            now, then = jfilter.matches(job, matches), before is not None and jfilter.matches(before, matches)
            if not now and not then:
                continue
            if now and not then:  # it shows here from now on
                if compact:
                    redraw.add(anchor)
                else:
                    appended.setdefault(anchor, []).append(job)
                continue
            if compact:
                chips.append(job)
            if compact and now and job.id in delta.failed_ids:
                appended.setdefault(anchor, []).append(job)  # its failure row, below the others
            elif not compact or rules.is_failure(job) or (before is not None and rules.is_failure(before)):
                rows.append(job)
    return RefreshPlan(
        filtered=jfilter.active,
        matches=matches,
        on_page=frozenset(on_page),
        added=frozenset(candidates),
        was_empty=was_empty,
        redraw=frozenset(redraw),
        chips=[job for job in chips if job_anchor(job) not in redraw],
        rows=[job for job in rows if job_anchor(job) not in redraw],
        appended=sorted((a, jobs) for a, jobs in appended.items() if a not in redraw),
    )
