"""BuildWatch's domain rules, as pure functions over plain dataclasses (docs/ARCHITECTURE.md names them).

No Django, no HTTP, no clock: everything here is a function of its arguments, so it can be tested
exhaustively and shared by the pages, the poller and the emails. How results look (colours, job symbols,
a push's badge, notification titles) is pushes.display; the addresses of Treeherder, Taskcluster and
Bugzilla are pushes.links.

Longer than the ~450-line guide on purpose: SPEC §3 names this module the home of the domain rules, and
what makes it long is one rule with its evidence, failure triage (`FailureGroup` carries its `Triage`,
`Bug`s and `BaseState`, `BaseCheck` reads groups' keys, so grouping, triage and the base-push check share
their dataclasses); split, either half would import the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

FAILURE_RESULTS = frozenset({"testfailed", "busted", "exception"})
UNFINISHED_STATES = frozenset({"unscheduled", "pending", "running"})
BOILERPLATE_PREFIXES = ("Fuzzy", "try:", "a=try")
BUG_RE = re.compile(r"Bug (\d+)")
# A Treeherder repository name, the one pattern: the URLs of the push pages and of watching accept it, and
# the Treeherder client asks about nothing else (which names exist is Treeherder's list, read by the views).
REPO_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


class State(StrEnum):
    """The one word for a push or a platform group, everywhere it shows (pages, tab title, favicon,
    emails). Values are the group statuses pending, running, failing, passing; `label` is what a person reads."""

    PENDING = "pending"
    RUNNING = "running"
    FAILING = "failing"
    PASSING = "passing"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]

    @property
    def title(self) -> str:
        """With its sign, for the tab title and the big badge: "✓ passed"."""
        return _STATE_TITLES[self]

    @property
    def colour(self) -> str:
        return _STATE_COLOURS[self]


_STATE_LABELS = {
    State.PENDING: "pending",
    State.RUNNING: "running",
    State.FAILING: "failing",
    State.PASSING: "passed",
}
_STATE_TITLES = {state: f"{sign} {_STATE_LABELS[state]}" for state, sign in zip(State, "……✗✓", strict=True)}
_STATE_COLOURS = {State.PENDING: "gray", State.RUNNING: "blue", State.FAILING: "red", State.PASSING: "green"}


@dataclass(frozen=True, slots=True)
class Revision:
    revision: str
    author: str
    comments: str


@dataclass(frozen=True, slots=True)
class Push:
    id: int
    revision: str
    author: str
    push_timestamp: int
    revisions: tuple[Revision, ...] | list[Revision] = ()
    revision_count: int | None = None
    repository_id: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    push_id: int
    task_id: str | None
    platform: str
    platform_option: str
    job_type_name: str
    job_type_symbol: str
    job_group_name: str
    job_group_symbol: str
    state: str
    result: str
    start_timestamp: int | None
    end_timestamp: int | None
    tier: int | None
    retry_id: int = 0
    duration: float | None = None  # minutes, as /api/jobs/ reports it
    last_modified: str | None = None
    failure_classification_id: int | None = None


@dataclass(frozen=True, slots=True)
class TextLogError:
    id: int
    line: str
    line_number: int
    job: int
    new_failure: bool | None = None  # None: Treeherder did not say


@dataclass(frozen=True, slots=True)
class PlatformGroup:
    platform: str
    platform_option: str
    display_name: str
    status: State
    jobs: list[Job] = field(default_factory=list)

    @property
    def colour(self) -> str:
        return self.status.colour


@dataclass(frozen=True, slots=True)
class JobCounts:
    total: int = 0
    completed: int = 0
    running: int = 0
    pending: int = 0  # pending and unscheduled
    failed: int = 0
    by_result: dict[str, int] = field(default_factory=dict)

    @property
    def percent_complete(self) -> int:
        return int(100 * self.completed / self.total) if self.total else 0


# --- Messages --------------------------------------------------------------------------------------


def short_message(comments: str | None) -> str:
    """The first line that is non-empty after stripping whitespace, stripped; "" if none."""
    for line in (comments or "").split("\n"):
        stripped = line.strip()
        if stripped:
            return stripped
    return ""


def clean_try_message(raw: str) -> str:
    """Turn `Fuzzy query='foo 'bar` / `try: -b do -p all` into a readable `foo · bar`."""
    text = raw
    if text.startswith("Fuzzy "):
        text = text[6:]
    if text.startswith("try: "):
        text = text[5:]
    if "query=" in text:
        text = text.split("query=", 1)[1]
    tokens = [token[1:] if token.startswith("'") else token for token in text.split(" ")]
    # A whitespace-only token (a tab between spaces) counts as empty: kept, the final strip would eat
    # into a separator and leave a dangling "·" at either end.
    return " · ".join(token for token in tokens if token.strip()).strip()


def _is_boilerplate(message: str) -> bool:
    return message.startswith(BOILERPLATE_PREFIXES)


def display_title(revisions: Sequence[Revision]) -> str:
    """The first real commit message of a push, else the cleaned try syntax of its top commit."""
    for revision in revisions:
        message = short_message(revision.comments)
        if message and not _is_boilerplate(message):
            return message
    if not revisions:
        return ""
    return clean_try_message(short_message(revisions[0].comments))


def bug_number(revisions: Sequence[Revision]) -> str | None:
    for revision in revisions:
        match = BUG_RE.search(revision.comments or "")
        if match:
            return match.group(1)
    return None


def author_handle(email: str | None) -> str:
    email = email or ""
    return email[: -len("@mozilla.com")] if email.endswith("@mozilla.com") else email


# --- Jobs ------------------------------------------------------------------------------------------


def effective_tier(job: Job) -> int:
    return 1 if job.tier is None else job.tier


def display_result(job: Job) -> str:
    """A job not completed is `unknown` whatever its result says; other values pass through."""
    if job.state != "completed":
        return "unknown"
    return job.result or "unknown"


def is_failure(job: Job) -> bool:
    return job.state == "completed" and job.result in FAILURE_RESULTS


def group_status(jobs: Iterable[Job]) -> State:
    jobs = list(jobs)
    if any(is_failure(job) for job in jobs):
        return State.FAILING
    if any(job.state == "running" for job in jobs):
        return State.RUNNING
    # Unscheduled jobs are waiting too: they show as pending.
    if any(job.state in ("pending", "unscheduled") for job in jobs):
        return State.PENDING
    return State.PASSING


def group_display_name(platform: str, option: str) -> str:
    return f"{platform} {option}" if option else platform


def job_duration(job: Job) -> float | None:
    """Minutes the job ran: Treeherder's `duration` when it sends one, else end - start."""
    if job.duration is not None:
        return job.duration
    if job.start_timestamp and job.end_timestamp and job.end_timestamp >= job.start_timestamp:
        return (job.end_timestamp - job.start_timestamp) / 60
    return None


def platform_groups(jobs: Iterable[Job]) -> list[PlatformGroup]:
    """Tier-1 jobs grouped by (platform, platform_option), sorted by display name."""
    grouped: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        if effective_tier(job) != 1:
            continue
        grouped.setdefault((job.platform or "", job.platform_option or ""), []).append(job)
    groups = [
        PlatformGroup(
            platform=platform,
            platform_option=option,
            display_name=group_display_name(platform, option),
            status=group_status(members),
            jobs=members,
        )
        for (platform, option), members in grouped.items()
    ]
    return sorted(groups, key=lambda group: group.display_name)


def job_counts(jobs: Iterable[Job]) -> JobCounts:
    total = completed = running = pending = failed = 0
    by_result: dict[str, int] = {}
    for job in jobs:
        total += 1
        if job.state == "completed":
            completed += 1
            result = display_result(job)
            by_result[result] = by_result.get(result, 0) + 1
            failed += is_failure(job)
        elif job.state == "running":
            running += 1
        else:
            pending += 1
    return JobCounts(total, completed, running, pending, failed, by_result)


def push_state(jobs: Sequence[Job]) -> State:
    """One word for a push: failing (any tier-1 failure, even while others run), pending (no jobs yet),
    running (not `looks_finished`), else passing."""
    if has_failures(jobs):
        return State.FAILING
    if not jobs:
        return State.PENDING
    if not looks_finished(jobs):
        return State.RUNNING
    return State.PASSING


# --- Failures ----------------------------------------------------------------------------------------
#
# A failure summary takes the evidence of every failed job of a push (tier-1 first), groups the error
# lines by key and gives every group one triage class from Treeherder's evidence and, for a failure that
# would be new, from the push it is based on. A failed job whose evidence is not read yet is counted as
# not triaged, never guessed. docs/ARCHITECTURE.md ("Failure triage") states the rules in prose; the
# functions below are the rules.

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


_TRIAGE_LABELS = {
    Triage.NEW: "new",
    Triage.BASE: "failing on the base push",
    Triage.PREEXISTING: "already failing",
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
    def triage_line(self) -> str:
        """ "1 new failure (dom/a.html) · 2 failing on the base push · 3 known intermittent · 1 also failing
        on mozilla-central · 60 failed jobs not triaged yet": a lone new failure is named first."""
        counts = self.counts
        parts = []
        if counts[Triage.NEW] == 1:
            parts.append(f"1 new failure ({_short(self.new_groups[0].key)})")
        elif counts[Triage.NEW]:
            parts.append(_plural(counts[Triage.NEW], "new failure"))
        if counts[Triage.UNKNOWN]:
            parts.append(f"{counts[Triage.UNKNOWN]} not triaged yet")
        if counts[Triage.BASE]:
            parts.append(f"{counts[Triage.BASE]} failing on the base push")
        if counts[Triage.INTERMITTENT]:
            parts.append(f"{counts[Triage.INTERMITTENT]} known intermittent")
        if counts[Triage.PREEXISTING]:
            parts.append(f"{counts[Triage.PREEXISTING]} also failing on mozilla-central")
        if classified := len(self.classified_unread):
            parts.append(f"{_plural(classified, 'job')} classified on Treeherder")
        if not_read := len(self.not_read):
            parts.append(f"{_plural(not_read, 'failed job')} not triaged yet")
        if self.unparsed:
            parts.append(f"{_plural(len(self.unparsed), 'log')} not parsed yet")
        return " · ".join(parts)


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


# --- Finished --------------------------------------------------------------------------------------


def is_finished(jobs: Iterable[Job]) -> bool:
    jobs = list(jobs)
    return bool(jobs) and not any(job.state in UNFINISHED_STATES for job in jobs)


def is_decision_or_action(job: Job) -> bool:
    name = job.job_type_name or ""
    return (
        "Decision Task" in name
        or name.startswith(("Action", "action-callback"))
        or job.job_type_symbol == "D"
    )


def looks_finished(jobs: Sequence[Job]) -> bool:
    """Finished, and not just the decision/action tasks Treeherder shows for a push's first minutes."""
    return is_finished(jobs) and not all(is_decision_or_action(job) for job in jobs)


def ready_to_notify(jobs: Sequence[Job], previous_job_count: int | None) -> bool:
    """`looks_finished`, plus the settle rule: a push whose job count changed since the previous poll
    (or that was never polled before) waits one more poll."""
    return looks_finished(jobs) and previous_job_count is not None and previous_job_count == len(jobs)


def has_failures(jobs: Iterable[Job]) -> bool:
    """A push failed when any tier-1 job is a failure."""
    return any(is_failure(job) and effective_tier(job) == 1 for job in jobs)
