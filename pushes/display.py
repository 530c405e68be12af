"""How BuildWatch shows results to a person, pure like pushes.rules (a test checks the imports): the colour
of a job's status (a CSS class; a word always goes with it), the symbol Treeherder shows for a job, the
badge a push shows (page, tab title, favicon, push list) and the title of a notification. The words of
a State, a triage class and a verdict belong to those values in pushes.rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import UNFINISHED_STATES, Job, State, display_result
from .triage import BasePush, BaseState
from .verdict import FailureSummary, Verdict

# Colour names, used as CSS classes: text labels always go with them.
RESULT_COLOURS = {
    "success": "green",
    "testfailed": "red",
    "busted": "orange",
    "exception": "purple",
    "retry": "yellow",
    "usercancel": "gray",
    "unknown": "gray",
    "running": "blue",
    "pending": "gray",
    "unscheduled": "gray",
}


def job_status(job: Job) -> str:
    """What a job badge shows: its state while not completed, else its display result."""
    return job.state if job.state in UNFINISHED_STATES else display_result(job)


def result_colour(status: str) -> str:
    """Colour class of a job status or result; values we do not know (e.g. superseded) are neutral."""
    return RESULT_COLOURS.get(status, "neutral")


def job_symbol(job: Job) -> str:
    """`M(bc3)` as Treeherder shows it; the bare job symbol when the group is none or `?`."""
    group = job.job_group_symbol or ""
    return f"{group}({job.job_type_symbol})" if group and group != "?" else job.job_type_symbol


@dataclass(frozen=True, slots=True)
class Badge:
    """What a push's result looks like wherever it shows: `key` names its CSS class and favicon,
    `label` is the word (never colour alone), `title` the word with its sign for tab titles."""

    key: str
    label: str
    title: str
    colour: str


def push_badge(state: State, summary: FailureSummary | None = None) -> Badge:
    """The push's state, told by its verdict once its failures are triaged: "✗ 3 new failures",
    "⚠ known failures only"; without a summary (not read yet) a failing push just says "failing"."""
    if state == State.FAILING and summary is not None:
        if summary.verdict == Verdict.KNOWN:
            return Badge("known", "known failures only", "⚠ known failures only", "orange")
        if summary.verdict == Verdict.FAILED and summary.new_count:
            return Badge("failing", summary.verdict_label, f"✗ {summary.verdict_label}", "red")
    return Badge(state.value, state.label, state.title, state.colour)


def base_words(state: BaseState | str | None, base: BasePush | None, reason: str = "") -> str:
    """What the base push says of a failure that would be new, in words: "also fails on autoland push
    630312", "passes on autoland push 630312", "base push unknown: …" ("" when it was not asked)."""
    if not state:
        return ""
    where = f"{base.repo} push {base.push_id}" if base else "the base push"
    words = {
        BaseState.FAILING: f"also fails on {where}",
        BaseState.PASSING: f"passes on {where}",
        BaseState.RUNNING: f"{where}, its base, is still running",
        BaseState.NOT_RUN: f"not run on {where}",
        BaseState.PENDING: "base push not checked yet",
        BaseState.UNKNOWN: f"base push unknown{': ' + reason if reason else ''}",
    }
    return words.get(BaseState(state), "")


def repo_label(repo: str) -> str:
    return "Try" if repo == "try" else repo[:1].upper() + repo[1:]


def notification_title(repo: str, verdict: Verdict | str) -> str:
    """ "Try push failed" / "Try push: known failures only" / "Try push passed" (other repos by name)."""
    label = repo_label(repo)
    if verdict == Verdict.KNOWN:
        return f"{label} push: known failures only"
    return f"{label} push {'passed' if verdict == Verdict.PASSED else 'failed'}"
