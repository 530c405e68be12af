"""A push's verdict and its one failure summary (`summarize_failures` → `FailureSummary`), shared by the
push page, the emails, Matrix and web push: passed, failed only in known ways, or failed (a new failure, or
failures not all triaged yet), with the counts and words every one of them shows. Pure, like pushes.triage,
whose groups it orders and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .rules import Job, effective_tier
from .triage import (
    INTERMITTENT_CLASSIFICATIONS,
    KNOWN_TRIAGES,
    TOP_FAILURE_GROUPS,
    TRIAGE_ORDER,
    BaseCheck,
    FailureGroup,
    JobLog,
    Triage,
    failure_groups,
    triage_groups,
)


class Verdict(StrEnum):
    PASSED = "passed"  # no failed tier-1 job
    KNOWN = "known"  # failures, every one explained: pre-existing, failing on the base push, intermittent
    FAILED = "failed"  # a new failure, or failures not (all) triaged yet


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class FailureSummary:
    """The one failure summary of a push, for the page, the email and web push alike: every failed job
    (`logs`, one each, read or not yet), the groups of their error lines, triaged, and the base push they
    were checked against (`base`)."""

    groups: list[FailureGroup]  # triaged, in display order
    logs: list[JobLog]  # every failed job, tier-1 first: its evidence, or that it is not read yet
    failed_total: int
    tier1_failed: int
    base: BaseCheck | None = None

    @property
    def jobs_by_id(self) -> dict[int, Job]:
        return {log.job.id: log.job for log in self.logs}

    @property
    def top_groups(self) -> list[FailureGroup]:
        return self.groups[:TOP_FAILURE_GROUPS]

    @property
    def more_groups(self) -> list[FailureGroup]:
        return self.groups[TOP_FAILURE_GROUPS:]

    @property
    def not_read(self) -> list[JobLog]:
        """Failed jobs whose evidence BuildWatch has not (yet) got, and that no classification explains:
        not triaged yet, never new."""
        return [log for log in self.logs if log.evidence_missing and not log.classified]

    @property
    def unparsed(self) -> list[JobLog]:
        """Failed jobs read whose logs Treeherder has not parsed (or could not)."""
        return [
            log for log in self.logs if not log.evidence_missing and not log.parsed and not log.classified
        ]

    @property
    def classified_unread(self) -> list[JobLog]:
        """Failed jobs explained by Treeherder's classification whose error lines are not known (yet)."""
        return [log for log in self.logs if log.classified and not log.parsed]

    @property
    def parsed_without_errors(self) -> list[JobLog]:
        return [log for log in self.logs if log.parsed and not log.errors]

    @property
    def triaged_count(self) -> int:
        """Failed jobs (every tier) about which Treeherder has told all it will."""
        return sum(1 for log in self.logs if log.triaged)

    @property
    def complete(self) -> bool:
        """Every tier-1 failed job triaged: what the verdict says holds until a job fails or is classified."""
        tier1 = [log for log in self.logs if effective_tier(log.job) == 1]
        return len(tier1) == self.tier1_failed and all(log.triaged for log in tier1)

    def by_triage(self, triage: Triage) -> list[FailureGroup]:
        return [group for group in self.groups if group.triage == triage]

    def _tier1_by_triage(self, triage: Triage) -> list[FailureGroup]:
        return [group for group in self.by_triage(triage) if group.tier1]

    @property
    def sections(self) -> list[tuple[Triage, list[FailureGroup]]]:
        """(class, groups) for each class that has groups, in display order."""
        return [(triage, groups) for triage in TRIAGE_ORDER if (groups := self.by_triage(triage))]

    @property
    def counts(self) -> dict[Triage, int]:
        """Tier-1 failure groups by class: what the verdict is made of (tier-2/3 groups are shown but do
        not make a push fail)."""
        return {triage: len(self._tier1_by_triage(triage)) for triage in TRIAGE_ORDER}

    @property
    def verdict(self) -> Verdict:
        """passed: no failed tier-1 job. known: every tier-1 failed job triaged and explained — classified
        intermittent, or its log read and every group it is in pre-existing, failing on the base push or
        a known intermittent. failed: anything else (a new failure, a job not triaged yet, a failure with
        no error line, a job classified fixed by commit)."""
        if not self.tier1_failed:
            return Verdict.PASSED
        if not self.complete:
            return Verdict.FAILED
        tier1_logs = [log for log in self.logs if effective_tier(log.job) == 1]
        explained = all(
            log.job.failure_classification_id in INTERMITTENT_CLASSIFICATIONS or (log.parsed and log.errors)
            for log in tier1_logs
        )
        tier1_groups = [group for group in self.groups if group.tier1]
        if explained and all(group.triage in KNOWN_TRIAGES for group in tier1_groups):
            return Verdict.KNOWN
        return Verdict.FAILED

    @property
    def new_groups(self) -> list[FailureGroup]:
        """The tier-1 new failures: what the verdict calls new, the early alert tells and "confirm
        failures" runs again."""
        return self._tier1_by_triage(Triage.NEW)

    @property
    def new_count(self) -> int:
        return len(self.new_groups)

    @property
    def verdict_label(self) -> str:
        """ "passed" / "known failures only" / "3 new failures" / "failed" (nothing new found yet)."""
        verdict = self.verdict
        if verdict == Verdict.PASSED:
            return "passed"
        if verdict == Verdict.KNOWN:
            return "known failures only"
        return _plural(self.new_count, "new failure") if self.new_count else "failed"

    @property
    def section_titles(self) -> dict[Triage, str]:
        """What each class's section on the page is headed, and the triage line says of it: "3 new
        failures", "2 failing on the base push", "1 already failing on autoland/mozilla-central", "23 known
        intermittents" (tier-1 failure groups, as the verdict counts them)."""
        return {triage: _class_words(triage, count) for triage, count in self.counts.items()}

    @property
    def triage_line(self) -> str:
        """ "1 new failure (dom/a.html) · 2 failing on the base push · 3 known intermittent · 1 already
        failing on autoland/mozilla-central · 60 failed jobs not triaged yet": a lone new failure is named
        first; each count is the one its section's header on the page says (tier-1 failure groups)."""
        counts = self.counts
        titles = self.section_titles
        parts = []
        if counts[Triage.NEW] == 1:
            parts.append(f"1 new failure ({_short(self.new_groups[0].key)})")
        elif counts[Triage.NEW]:
            parts.append(titles[Triage.NEW])
        for triage in (Triage.UNKNOWN, Triage.BASE, Triage.INTERMITTENT, Triage.PREEXISTING):
            if counts[triage]:
                parts.append(titles[triage])
        if classified := len(self.classified_unread):
            parts.append(f"{_plural(classified, 'job')} classified on Treeherder")
        if not_read := len(self.not_read):
            parts.append(f"{_plural(not_read, 'failed job')} not triaged yet")
        if self.unparsed:
            parts.append(f"{_plural(len(self.unparsed), 'log')} not parsed yet")
        return " · ".join(parts)


def _class_words(triage: Triage, count: int) -> str:
    if triage == Triage.NEW:
        return _plural(count, "new failure")
    if triage == Triage.INTERMITTENT:
        return _plural(count, "known intermittent")
    return f"{count} {triage.label}"


def _short(key: str, limit: int = 80) -> str:
    return key if len(key) <= limit else key[: limit - 1] + "…"


def summarize_failures(
    logs: Sequence[JobLog], failed_total: int, tier1_failed: int, base: BaseCheck | None = None
) -> FailureSummary:
    """The failure summary from the evidence of the failed jobs (`logs`: every one of them, tier-1 first;
    see `failed_jobs`), checked against the base push where a failure would be new."""
    errors = [error for log in logs if log.parsed for error in log.errors]
    groups = triage_groups(failure_groups(errors), logs, base)
    return FailureSummary(
        groups=groups, logs=list(logs), failed_total=failed_total, tier1_failed=tier1_failed, base=base
    )
