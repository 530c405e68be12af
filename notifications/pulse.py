"""Taskcluster's queue events on Pulse, as BuildWatch reads them: the exchanges and routing keys it binds,
and what one message says (`parse`). No Django, no AMQP: the listener (notifications/pulse_listener.py)
does the talking, notifications/wake.py what a message changes.

The queue publishes a message per task resolution on `exchange/taskcluster-queue/v1/task-completed`,
`task-failed` and `task-exception`, and one on `task-group-resolved` whenever a task group has no
unresolved task left (again if tasks are added later: a retrigger). A task message's primary routing key
is `primary.<taskId>.<runId>.<workerGroup>.<workerId>.<provisionerId>.<workerType>.<schedulerId>.
<taskGroupId>.<reserved>`; it is also sent with each of the task's own routes as `route.<route>`. Gecko
gives every task Treeherder shows the route `tc-treeherder.v2.<project>.<revision>` (older pushes:
`....<revision>.<pushlog id>`), which is how Treeherder's own ingestion finds its tasks; task-group
messages carry no routes, only `primary.<taskGroupId>.<schedulerId>.<reserved>`. So BuildWatch binds the
three task exchanges to `route.tc-treeherder.v2.<repo>.#` for each repository it follows, and
task-group-resolved to the scheduler id of those repositories (`gecko-level-1` for try): a few repositories'
tasks, never all of Firefox CI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

EXCHANGE_ROOT = "exchange/taskcluster-queue/v1/"
TASK_EXCHANGES = ("task-completed", "task-failed", "task-exception")
GROUP_EXCHANGE = "task-group-resolved"
TREEHERDER_ROUTE = "tc-treeherder.v2"
# Taskcluster's scheduler id of a repository's task groups (its level); a Gecko repository not named
# here is level 3 (autoland, mozilla-central, beta, release, esr).
SCHEDULERS = {"try": "gecko-level-1", "try-comm-central": "comm-level-1", "comm-central": "comm-level-3"}
DEFAULT_SCHEDULER = "gecko-level-3"
# A slugid: 22 URL-safe base64 characters.
_SLUGID = re.compile(r"[A-Za-z0-9_-]{22}")
_ROUTING_WORD = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_/-]*")
MAX_BODY = 256 * 1024  # a queue message is a few kB; anything larger is not one


class Kind(IntEnum):
    """What a message asks of the poller, in order of precedence when messages are coalesced."""

    COMPLETED = 1  # a task finished: the push moved on
    FAILED = 2  # a task failed or ended in an exception: an early alert may be due
    RESOLVED = 3  # every task of the group is resolved: the push may be finished


@dataclass(frozen=True)
class Event:
    kind: Kind
    task_group: str
    task_id: str = ""


class BadMessage(ValueError):
    """A message that is not a Taskcluster queue message BuildWatch understands."""


def exchange_name(short: str) -> str:
    return EXCHANGE_ROOT + short


def scheduler_of(repo: str) -> str:
    return SCHEDULERS.get(repo, DEFAULT_SCHEDULER)


def check_repo(repo: str) -> str:
    """A repository name is one routing-key word: no dots, no wildcards."""
    if not _ROUTING_WORD.fullmatch(repo):
        raise ValueError(f"{repo!r} is not a repository name that can be bound on Pulse")
    return repo


def bindings(repos: Iterable[str]) -> list[tuple[str, str]]:
    """(exchange, routing key pattern) pairs for the repositories followed, in a stable order."""
    repos = [check_repo(repo) for repo in dict.fromkeys(repos)]
    pairs = [
        (exchange_name(short), f"route.{TREEHERDER_ROUTE}.{repo}.#")
        for repo in repos
        for short in TASK_EXCHANGES
    ]
    for scheduler in dict.fromkeys(scheduler_of(repo) for repo in repos):
        pairs.append((exchange_name(GROUP_EXCHANGE), f"primary.*.{scheduler}.#"))
    return pairs


def queue_name(user: str, name: str) -> str:
    """Pulse lets a user own only queues named `queue/<user>/…`."""
    return f"queue/{user}/{name}"


def decode(body: bytes | str) -> Any:
    """A message body as JSON (Taskcluster publishes UTF-8 JSON)."""
    if len(body) > MAX_BODY:
        raise BadMessage(f"body of {len(body)} bytes is too large for a queue message")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as problem:
        raise BadMessage(f"body is not JSON: {problem}") from None


def parse(exchange: str, body: Any) -> Event:
    """What a decoded message from `exchange` says: its kind and task group. Raises BadMessage for
    anything else (an exchange not ours, a body without a well-formed task group id)."""
    if not exchange.startswith(EXCHANGE_ROOT):
        raise BadMessage(f"not a Taskcluster queue exchange: {exchange!r}")
    short = exchange.removeprefix(EXCHANGE_ROOT)
    if not isinstance(body, Mapping):
        raise BadMessage("body is not a JSON object")
    if short == GROUP_EXCHANGE:
        return Event(Kind.RESOLVED, _slugid(body.get("taskGroupId"), "taskGroupId"))
    if short not in TASK_EXCHANGES:
        raise BadMessage(f"not an exchange BuildWatch binds: {exchange!r}")
    status = body.get("status")
    if not isinstance(status, Mapping):
        raise BadMessage("task message without a status")
    kind = Kind.COMPLETED if short == "task-completed" else Kind.FAILED
    return Event(
        kind,
        _slugid(status.get("taskGroupId"), "status.taskGroupId"),
        _slugid(status.get("taskId"), "status.taskId"),
    )


def _slugid(value: object, name: str) -> str:
    if not isinstance(value, str) or not _SLUGID.fullmatch(value):
        raise BadMessage(f"{name} is not a task id: {value!r:.60}")
    return value
