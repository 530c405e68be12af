"""How the push page shows jobs so they can be scanned: sorted (failures, running, pending, passed;
symbols in natural order), filtered (failures only / unfinished / all, a search by job or test name),
as rows or as Treeherder-like symbol chips. Plain functions over rules.Job: no requests, no cache."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from django.utils.text import slugify

from . import display, rules
from .rules import Job

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


def test_name_matches(q: str, failure_groups: Iterable[rules.FailureGroup]) -> frozenset[int]:
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
