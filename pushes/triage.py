"""Failure triage, as pure functions over plain dataclasses: a failed job's evidence (`JobLog`: its error
lines and Treeherder's bug suggestions), the grouping of error lines by key across jobs (`failure_groups`),
and the one triage class of each group (`triage_group(s)`: new, failing on the base push, already failing,
known intermittent, not triaged yet), checked against the push a try push is based on (`BaseCheck`).

No Django, no HTTP, no clock, like pushes.rules (whose `Job` and `TextLogError` it reads). What the page and
the notifications say about a whole push, its verdict, is pushes.verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .rules import Job, TextLogError, effective_tier, is_failure

# --- Failures ----------------------------------------------------------------------------------------
#
# A failure summary takes the evidence of every failed job of a push (tier-1 first), groups the error
# lines by key and gives every group one triage class from Treeherder's evidence and, for a failure that
# would be new, from the push it is based on. A failed job whose evidence is not read yet is counted as
# not triaged, never guessed. README.md ("Failure triage") states the rules for users; the functions
# below are the rules.

# Treeherder parses a failed job's log within minutes of its end. One still unparsed this long after
# (seconds) will not be: the early alert goes out without it, and a finished push's page stops waiting.
LOG_PARSE_WAIT = 15 * 60
TOP_FAILURE_GROUPS = 10  # shown at once; the rest behind a disclosure
# failure_classification_id values (names come from /api/failureclassification/): sheriffs' or
# Treeherder's autoclassification's word that a job's failure is a known intermittent ...
INTERMITTENT_CLASSIFICATIONS = frozenset({4, 7, 8})
# ... or that it is real: fixed by commit (2). A job classified either way is explained by that, even
# before its log is read.
REAL_FAILURE_CLASSIFICATIONS = frozenset({2})
# "New failure not classified" (6) is no one's word: Treeherder's log parser sets it on every failed job
# with a line it has not seen on autoland/mozilla-central, the same evidence as the bug suggestions'
# `counter` 0. It counts as unclassified: the base push may still show the failure was there before.
NOT_CLASSIFIED = frozenset({None, 1, 6})
# A log's parse status that will not change: Treeherder parsed it, or gave up on it.
FINAL_PARSE_STATUSES = frozenset({"parsed", "failed", "skipped-size"})
INTERMITTENT_KEYWORD = "intermittent-failure"
CLOSED_BUG_STATUSES = frozenset({"RESOLVED", "VERIFIED", "CLOSED"})

# mozharness prefix ("21:47:57    ERROR -  "), Taskcluster's ("[task 2026-11-30T21:47:57.123Z] "),
# a process prefix ("GECKO(8692) | ", "PID 2029 | ", "[2029] ") and mochitest's counter ("2018 INFO ").
_PREFIXES = (
    re.compile(r"^\[task [^\]]*\]\s*"),
    re.compile(r"^\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\s+(?:DEBUG|INFO|WARNING|ERROR|CRITICAL|FATAL)\s+-\s*"),
    re.compile(r"^(?:PID \d+|GECKO\(\d+\))\s+\|\s+"),
    re.compile(r"^\[\d+\]\s+"),
    re.compile(r"^\d+ (?:INFO|ERROR|WARNING)\s+"),
)
# Numbers that vary between runs of the same failure: hex addresses, decimals, counts, ports.
_VARYING = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])"), "N"),
)
_TEST_MARKERS = ("TEST-UNEXPECTED", "PROCESS-CRASH")


class Triage(StrEnum):
    """Whose failure is it? One class per failure group."""

    NEW = "new"  # no evidence it happened before: most likely caused by the push
    BASE = "base"  # the push it is based on fails the same way: it was failing before this push
    PREEXISTING = "preexisting"  # Treeherder saw the line recently on autoland/mozilla-central
    INTERMITTENT = "intermittent"  # a known intermittent: an open bug, or classified so
    UNKNOWN = "unknown"  # no evidence yet: bug suggestions not fetched

    @property
    def label(self) -> str:
        return _TRIAGE_LABELS[self]


# The one way every page, email, Matrix message and web push says it (issue 28).
ALREADY_FAILING = "already failing on autoland/mozilla-central"
_TRIAGE_LABELS = {
    Triage.NEW: "new",
    Triage.BASE: "failing on the base push",
    Triage.PREEXISTING: ALREADY_FAILING,
    Triage.INTERMITTENT: "known intermittent",
    Triage.UNKNOWN: "not triaged yet",
}
TRIAGE_ORDER = (Triage.NEW, Triage.UNKNOWN, Triage.BASE, Triage.PREEXISTING, Triage.INTERMITTENT)
KNOWN_TRIAGES = frozenset({Triage.BASE, Triage.PREEXISTING, Triage.INTERMITTENT})


@dataclass(frozen=True, slots=True)
class Bug:
    id: int | None  # None: an internal issue not yet filed in Bugzilla
    summary: str
    status: str
    resolution: str
    internal_id: int | None = None
    keywords: str = ""
    whiteboard: str = ""

    @property
    def is_open_intermittent(self) -> bool:
        """An open bug that tracks an intermittent: a resolved bug alone never makes a failure known."""
        if self.status.upper() in CLOSED_BUG_STATUSES or self.resolution:
            return False
        keywords = {word.strip() for word in self.keywords.split(",")}
        return INTERMITTENT_KEYWORD in keywords or self.summary.startswith("Intermittent")


@dataclass(frozen=True, slots=True)
class BugSuggestion:
    """One row of /api/project/{repo}/jobs/{id}/bug_suggestions/: the bugs matching one error line,
    and (newer Treeherders) how often the cleaned line was seen on the integration branches."""

    search: str
    path_end: str | None
    line_number: int | None
    open_recent: list[Bug] = field(default_factory=list)
    all_others: list[Bug] = field(default_factory=list)
    counter: int | None = None  # None: this Treeherder does not say (older shape), not "0 times"
    failure_new_in_rev: bool | None = None

    @property
    def intermittent_bugs(self) -> list[Bug]:
        return [bug for bug in self.open_recent if bug.is_open_intermittent]


@dataclass(frozen=True, slots=True)
class BasePush:
    """The push a try push is based on: Push Health's parent push (on autoland or mozilla-central)."""

    repo: str
    push_id: int
    revision: str
    exact_match: bool = True  # False: the push found holds the parent commit, not as its top
    unfinished_jobs: int = 0  # pending + running, from Push Health's jobCounts (a hint)


class BaseState(StrEnum):
    """What the base push says of a failure that would be new, for the page and the messages to say."""

    FAILING = "failing"  # a job of the same type fails there with the same key (or Push Health says so)
    PASSING = "passing"  # the same job types ran there and do not fail this way
    RUNNING = "running"  # a job of the same type has not finished there yet
    NOT_RUN = "not_run"  # no job of these types ran on the base push
    PENDING = "pending"  # not checked yet: the base push's jobs or a failing job's evidence not read
    UNKNOWN = "unknown"  # no base push known (Push Health did not answer, or found none)


@dataclass(frozen=True, slots=True)
class BaseCheck:
    """What BuildWatch knows of a push's base push, to check the failures that would be new against it:
    the base push (None: unknown, and why), its jobs by job type name with the evidence of its failed ones
    (`jobs` None: not read), the (job type, test) pairs Push Health says failed there, and whether what is
    missing is still being read (`pending`) rather than unavailable."""

    push: BasePush | None
    reason: str = ""  # why the base push, or its jobs, are unknown
    jobs: Mapping[str, Sequence[JobLog]] | None = None
    failed_in_parent: frozenset[tuple[str, str]] = frozenset()
    pending: bool = False

    def state_of(self, group: FailureGroup, job_names: Sequence[str]) -> BaseState:
        """The base push's word on `group`, failing in jobs of these types."""
        if any(name in job_names and _same_test(test, group.key) for name, test in self.failed_in_parent):
            return BaseState.FAILING
        if self.push is None or self.jobs is None:
            return BaseState.PENDING if self.pending else BaseState.UNKNOWN
        base_logs = [log for name in job_names for log in self.jobs.get(name, ())]
        if not base_logs:
            return BaseState.RUNNING if self.push.unfinished_jobs else BaseState.NOT_RUN
        failed = [log for log in base_logs if is_failure(log.job)]
        if any(
            group.key in {key for key, _ in _job_keyed_errors(log.errors)} for log in failed if log.parsed
        ):
            return BaseState.FAILING
        if any(log.job.state != "completed" for log in base_logs):
            return BaseState.RUNNING
        if any(not log.triaged for log in failed):
            return BaseState.PENDING
        return BaseState.PASSING


def _same_test(test: str, key: str) -> bool:
    """A Push Health test name and a failure group's key name the same test (its cleaning differs:
    one may hold the other)."""
    return bool(test and key) and (test == key or test in key or key in test)


@dataclass(frozen=True, slots=True)
class JobLog:
    """What we know of one failed job's failure: its error lines, whether its log was parsed, its bug
    suggestions (None: not fetched), the upstream error if Treeherder did not answer, and whether
    BuildWatch has read it at all (`read` False: not yet, out of time or being read elsewhere)."""

    job: Job
    errors: list[TextLogError] = field(default_factory=list)
    parse_status: str = "unknown"
    error: str = ""
    suggestions: list[BugSuggestion] | None = None
    read: bool = True

    @property
    def parsed(self) -> bool:
        return self.parse_status == "parsed" and not self.error and self.read

    @property
    def evidence_missing(self) -> bool:
        """Not read yet, or Treeherder did not answer: nothing may be concluded from it."""
        return not self.read or bool(self.error)

    @property
    def classified(self) -> bool:
        """Treeherder (a sheriff, or its autoclassification) already said what this failure is."""
        cls = self.job.failure_classification_id
        return cls in INTERMITTENT_CLASSIFICATIONS or cls in REAL_FAILURE_CLASSIFICATIONS

    @property
    def triaged(self) -> bool:
        """Everything Treeherder will tell about it is known: classified, or its evidence read with its
        log parsed (or given up on)."""
        return self.classified or (not self.evidence_missing and self.parse_status in FINAL_PARSE_STATUSES)


def job_log(job: Job, parse_status: str, suggestions: Sequence[BugSuggestion]) -> JobLog:
    """A job's JobLog from its bug suggestions, which are its error lines too (one per line, the line
    cleaned of its harness prefix). A row without a line number (older Treeherders) gets its place."""
    numbered = [
        s if s.line_number is not None else replace(s, line_number=index)
        for index, s in enumerate(suggestions)
    ]
    errors = [
        TextLogError(
            id=index + 1,
            line=s.search,
            line_number=s.line_number or 0,
            job=job.id,
            new_failure=s.failure_new_in_rev,
        )
        for index, s in enumerate(numbered)
    ]
    parsed = parse_status == "parsed"
    return JobLog(job=job, errors=errors, parse_status=parse_status, suggestions=numbered if parsed else None)


@dataclass(frozen=True, slots=True)
class FailureGroup:
    key: str
    affected_job_count: int
    errors: list[TextLogError] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    triage: Triage = Triage.UNKNOWN
    bugs: list[Bug] = field(default_factory=list)  # the open intermittent bugs that match
    seen_count: int | None = None  # times seen on autoland/mozilla-central in Treeherder's window
    classified_intermittent: int = 0  # jobs Treeherder classified as intermittent
    reason: str = ""  # one sentence: why this class
    tier1: bool = True  # a tier-1 job has it: only those make a push fail
    base: BaseState | None = None  # the base push's word on a failure that would be new; None: not asked

    @property
    def sample(self) -> TextLogError | None:
        return self.errors[0] if self.errors else None


def clean_line(line: str) -> str:
    """The error line without the prefixes the harnesses and Taskcluster put before it."""
    text = line.strip()
    for pattern in _PREFIXES:
        text = pattern.sub("", text, count=1)
    return text.strip()


def _is_test_line(cleaned: str) -> bool:
    parts = cleaned.split(" | ")
    return len(parts) >= 2 and any(marker in parts[0] for marker in _TEST_MARKERS)


def group_key(line: str) -> str:
    """A TEST-UNEXPECTED / PROCESS-CRASH line groups by its second `|` part (the test); any
    other line by its first 100 characters — taken from the cleaned line with varying numbers
    normalised, so the same build error in two jobs (or at two time stamps) is one group."""
    cleaned = clean_line(line)
    if _is_test_line(cleaned):
        return cleaned.split(" | ")[1].strip()
    for pattern, replacement in _VARYING:
        cleaned = pattern.sub(replacement, cleaned)
    return cleaned[:100].strip()


def _job_keyed_errors(errors: Sequence[TextLogError]) -> list[tuple[str, TextLogError]]:
    """(key, error) pairs of one job. A job with test failures groups by them; the other lines of such a
    job (exit status, harness teardown) are their aftermath, not failures of their own. A job with no
    test failure (a build, a lint) is one failure, keyed by its first error line."""
    test_errors = [error for error in errors if _is_test_line(clean_line(error.line))]
    if test_errors:
        return [(group_key(error.line), error) for error in test_errors]
    if not errors:
        return []
    key = group_key(errors[0].line)
    return [(key, error) for error in errors]


def failure_groups(errors: Iterable[TextLogError]) -> list[FailureGroup]:
    """Errors grouped by key; most affected jobs first, ties by key ascending. Not triaged."""
    by_job: dict[int, list[TextLogError]] = {}
    for error in errors:
        by_job.setdefault(error.job, []).append(error)
    grouped: dict[str, list[TextLogError]] = {}
    for job_errors in by_job.values():
        for key, error in _job_keyed_errors(job_errors):
            grouped.setdefault(key, []).append(error)
    groups = []
    for key, members in grouped.items():
        job_ids = list(dict.fromkeys(error.job for error in members))
        groups.append(FailureGroup(key=key, affected_job_count=len(job_ids), errors=members, job_ids=job_ids))
    return sorted(groups, key=lambda group: (-group.affected_job_count, group.key))


def failed_jobs(jobs: Iterable[Job]) -> list[Job]:
    """Failures, tier-1 first, then by id: the order their evidence is read in."""
    return sorted((job for job in jobs if is_failure(job)), key=lambda job: (effective_tier(job), job.id))


def triage_group(
    group: FailureGroup, logs_by_job: Mapping[int, JobLog], base: BaseCheck | None = None
) -> FailureGroup:
    """The group with its class, from the evidence of its lines and its jobs. Precedence, first match:
    1. a job of the group classified as a real failure (fixed by commit) → new;
    2. a line matches an open intermittent bug → intermittent (the bugs are kept);
    3. every classified job of the group is classified intermittent (at least one) → intermittent;
    4. no job's bug suggestions fetched → unknown (we do not guess "new");
    5. a line was seen recently on autoland/mozilla-central (`counter` > 0; where `counter` is missing,
       `new_failure` false) → preexisting, with the count;
    6. the push it is based on fails the same way (`base`: a job of the same type failing there with
       the same key, or Push Health's `failedInParent`) → base;
    7. otherwise → new, with what the base push says (passes there, still running, unknown, ...).
    So sheriffs' "this is real" beats a bug match, a bug match beats a classification split, a split
    (some jobs intermittent, others new) is not enough to call the group known, and Treeherder's
    automatic "new failure" (6) is no classification: it is rule 5's evidence, and the base push may
    still show the failure was there before."""
    jobs = [logs_by_job[job_id].job for job_id in group.job_ids if job_id in logs_by_job]
    classes = [
        job.failure_classification_id for job in jobs if job.failure_classification_id not in NOT_CLASSIFIED
    ]
    intermittent_jobs = sum(cls in INTERMITTENT_CLASSIFICATIONS for cls in classes)
    matches = _matching_suggestions(group, logs_by_job)
    fetched = any(
        logs_by_job[job_id].suggestions is not None for job_id in group.job_ids if job_id in logs_by_job
    )
    bugs = list(
        {bug.id or -(bug.internal_id or 0): bug for s in matches for bug in s.intermittent_bugs}.values()
    )
    seen = _seen_count(group, matches)

    tier1 = any(effective_tier(job) == 1 for job in jobs) or not jobs

    def classified(triage: Triage, reason: str, **extra: object) -> FailureGroup:
        return replace(
            group, triage=triage, reason=reason, classified_intermittent=intermittent_jobs, seen_count=seen,
            tier1=tier1, **extra,
        )  # fmt: skip

    if any(cls in REAL_FAILURE_CLASSIFICATIONS for cls in classes):
        return classified(Triage.NEW, "Treeherder classified it as a real failure")
    if bugs:
        return classified(Triage.INTERMITTENT, "matches an open intermittent bug", bugs=bugs)
    if classes and intermittent_jobs == len(classes):
        return classified(Triage.INTERMITTENT, "Treeherder classified it as intermittent")
    if not fetched:
        return classified(Triage.UNKNOWN, "bug suggestions not fetched yet")
    if seen:
        return classified(Triage.PREEXISTING, f"seen {seen}× on autoland/mozilla-central recently")
    if seen is None and _new_failure_flags(group) == {False}:
        return classified(Triage.PREEXISTING, "Treeherder has seen this line on autoland/mozilla-central")
    state = base.state_of(group, list(dict.fromkeys(job.job_type_name for job in jobs))) if base else None
    if state == BaseState.FAILING:
        return classified(Triage.BASE, "fails the same way on the push it is based on", base=state)
    return classified(Triage.NEW, "not seen on autoland/mozilla-central, no known bug", base=state)


def _matching_suggestions(group: FailureGroup, logs_by_job: Mapping[int, JobLog]) -> list[BugSuggestion]:
    """Each error line's bug suggestion: same job, same line number (the suggestion's `search` is the
    cleaned line, compared when a row has no line number)."""
    found = []
    for error in group.errors:
        log = logs_by_job.get(error.job)
        for suggestion in (log.suggestions if log else None) or ():
            same_line = (
                suggestion.line_number == error.line_number
                if suggestion.line_number is not None
                else suggestion.search == clean_line(error.line)
            )
            if same_line:
                found.append(suggestion)
                break
    return found


def _seen_count(group: FailureGroup, matches: Sequence[BugSuggestion]) -> int | None:
    counters = [s.counter for s in matches if s.counter is not None]
    return max(counters) if counters else None


def _new_failure_flags(group: FailureGroup) -> set[bool]:
    return {error.new_failure for error in group.errors if error.new_failure is not None}


def triage_groups(
    groups: Sequence[FailureGroup], logs: Sequence[JobLog], base: BaseCheck | None = None
) -> list[FailureGroup]:
    """Every group triaged, new first (then not yet triaged, failing on the base push, pre-existing,
    known intermittent); within each class most affected jobs first, then by key."""
    logs_by_job = {log.job.id: log for log in logs}
    triaged = [triage_group(group, logs_by_job, base) for group in groups]
    rank = {triage: index for index, triage in enumerate(TRIAGE_ORDER)}
    return sorted(triaged, key=lambda g: (rank[g.triage], -g.affected_job_count, g.key))
