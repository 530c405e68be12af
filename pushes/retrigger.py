"""Retrigger a job the way Treeherder's own UI does: through the push's Taskcluster actions.

Treeherder (ui/models/job.js `retrigger`, ui/models/taskcluster.js `load`/`submit`): find the push's
decision task, read its `public/actions.json` (version 1), keep the push-level actions (context `[]`,
because a retrigger loads actions without a task), pick `retrigger-multiple` (else `add-new-jobs`), check
that the decision task may use that hook, render `hookPayload` with JSON-e over
`{taskGroupId, taskId: null, input}` + `variables`, and trigger the hook with the user's credentials.

The HTTP (each call with an explicit timeout, none retried: a retried trigger could run the job twice)
is `pushes.taskcluster`'s; this module chooses the action and turns failures into messages. The outcome says exactly what happened and never reports success without a task id from Taskcluster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsone
from django.conf import settings

from accounts.crypto import CredentialsUnreadable
from accounts.models import TaskclusterCredentials

from . import links, rules
from . import taskcluster as tc
from .treeherder.client import TreeherderClient, get_client
from .treeherder.errors import TreeherderError, TreeherderNotFound

log = logging.getLogger(__name__)

MAX_TIMES = 5
KNOWN_KINDS = ("task", "hook")
DETAIL_LIMIT = 600

# Outcome kinds (templates and tests key on these).
SUCCESS = "success"
NO_CREDENTIALS = "no_credentials"
BAD_CREDENTIALS = "bad_credentials"
SCOPE_ERROR = "scope_error"
NO_DECISION_TASK = "no_decision_task"
NO_ACTION = "no_action"
JOB_NOT_FOUND = "job_not_found"
TREEHERDER_DOWN = "treeherder_down"
TASKCLUSTER_DOWN = "taskcluster_down"
REJECTED = "rejected"
MISCONFIGURED = "misconfigured"
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class RetriggerOutcome:
    kind: str
    message: str
    detail: str = ""  # what the server answered, trimmed
    repo: str = ""
    job_id: int | None = None
    job: rules.Job | None = None
    times: int = 1
    task_id: str | None = None  # the action task Taskcluster created
    task_url: str | None = None
    treeherder_url: str | None = None  # do it there instead

    @property
    def ok(self) -> bool:
        return self.kind == SUCCESS


class _Failure(Exception):
    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind, self.message, self.detail = kind, message, _trim(detail)


def _trim(text: Any) -> str:
    text = str(text or "").strip()
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


# --- actions.json ------------------------------------------------------------------------------------


def task_in_context(context: Sequence[Mapping[str, str]], tags: Mapping[str, str]) -> bool:
    """Treeherder's `taskInContext`: some tag set whose every tag the task carries with the same value."""
    return any(
        all(tags.get(tag) and tags.get(tag) == value for tag, value in tag_set.items()) for tag_set in context
    )


def applicable_actions(actions_json: Mapping[str, Any], task: Mapping[str, Any] | None = None) -> list[dict]:
    """The actions Treeherder offers: known kinds, first of each name, push-level without a task
    (context `[]`), else those whose context matches the task's tags (`[{}]` matches any task)."""
    chosen: list[dict] = []
    tags = task.get("tags") if task is not None else None
    for action in actions_json.get("actions") or []:
        if not isinstance(action, dict) or action.get("kind") not in KNOWN_KINDS:
            continue
        if any(a.get("name") == action.get("name") for a in chosen):
            continue
        context = action.get("context") or []
        if (not context and task is None) or (isinstance(tags, Mapping) and task_in_context(context, tags)):
            chosen.append(action)
    return chosen


def pick_retrigger_action(
    actions: Sequence[Mapping[str, Any]], label: str, times: int
) -> tuple[dict, dict, int]:
    """`retrigger-multiple` with its `requests` input, else `add-new-jobs` with `tasks` (job.js), which
    Treeherder sends without a count: one new run. Returns (action, input, runs requested)."""
    by_name = {action.get("name"): action for action in actions}
    if "retrigger-multiple" in by_name:
        return dict(by_name["retrigger-multiple"]), {"requests": [{"tasks": [label], "times": times}]}, times
    if "add-new-jobs" in by_name:
        return dict(by_name["add-new-jobs"]), {"tasks": [label]}, 1
    raise _Failure(
        NO_ACTION,
        "This push's decision task offers no retrigger action (neither retrigger-multiple nor add-new-jobs).",
        "actions: " + ", ".join(sorted(str(name) for name in by_name))
        if by_name
        else "no push-level actions",
    )


def render_hook_payload(
    action: Mapping[str, Any], decision_task_id: str, action_input: Any, variables: Mapping[str, Any] | None
) -> Any:
    """JSON-e over Treeherder's context: the action's own keys win over the file's `variables`."""
    context = {**(variables or {}), "taskGroupId": decision_task_id, "taskId": None, "input": action_input}
    return jsone.render(action.get("hookPayload") or {}, context)


def push_actions(client: TreeherderClient, repo: str, push_id: int) -> tuple[str, dict]:
    """(decision task id, its actions.json): where every Taskcluster action of a push starts. Raises
    _Failure saying plainly which step did not work."""
    try:
        decision_task_id = client.decision_task(repo, push_id)
    except TreeherderError as exc:
        raise _Failure(
            TREEHERDER_DOWN, "Treeherder did not answer while looking up the push's decision task.", str(exc)
        ) from exc
    if not decision_task_id:
        raise _Failure(
            NO_DECISION_TASK, "Treeherder knows no decision task for this push yet, so it has no actions."
        )
    return decision_task_id, _fetch_actions(decision_task_id)


def _fetch_actions(decision_task_id: str) -> dict:
    doing = "reading the push's actions"
    try:
        data = tc.actions_json(decision_task_id)
    except (tc.Unreachable, tc.NoAnswer) as exc:
        raise _Failure(TASKCLUSTER_DOWN, f"Taskcluster did not answer while {doing}.", exc.detail) from exc
    except tc.ErrorAnswer as exc:
        if exc.status == 404:
            raise _Failure(
                NO_ACTION,
                "The decision task published no actions.json, so there is no retrigger action.",
                f"404 from {exc.url}",
            ) from exc
        raise _Failure(
            TASKCLUSTER_DOWN, f"Taskcluster answered {exc.status} while {doing}.", exc.detail
        ) from exc
    except tc.BadAnswer as exc:
        raise _Failure(TASKCLUSTER_DOWN, "Taskcluster's actions.json was not JSON.", exc.detail) from exc
    if not isinstance(data, dict) or data.get("version") != 1:
        version = data.get("version") if isinstance(data, dict) else None
        raise _Failure(
            NO_ACTION, f"actions.json has version {version!r}; BuildWatch understands version 1 only."
        )
    return data


def _check_hook_allowed(decision_task_id: str, action: Mapping[str, Any]) -> None:
    """Treeherder's guard: fire only hooks the decision task itself could use, so a push cannot point
    a user's credentials at some other hook."""
    expression = f"in-tree:hook-action:{action.get('hookGroupId')}/{action.get('hookId')}"
    try:
        scopes = tc.task_scopes(decision_task_id)
        if tc.has_scope(scopes, expression):
            return
        expanded = tc.expand_scopes(scopes)
    except tc.TaskclusterError as exc:
        raise _tc_failure(exc, "checking the decision task's scopes") from exc
    if not tc.has_scope(expanded, expression):
        raise _Failure(
            MISCONFIGURED,
            "The retrigger action is misconfigured: the decision task's scopes do not allow its hook, "
            "so BuildWatch will not trigger it.",
            f"missing {expression}",
        )


def _tc_failure(exc: tc.TaskclusterError, doing: str, *, may_have_acted: bool = False) -> _Failure:
    """`may_have_acted`: the request could have changed something (the trigger), so a read timeout
    leaves it unknown whether it did; for a read nothing was triggered yet."""
    status = exc.status
    if isinstance(exc, tc.Unreachable):
        return _Failure(TASKCLUSTER_DOWN, f"Taskcluster did not answer while {doing}.", exc.detail)
    if isinstance(exc, tc.NoAnswer):
        if not may_have_acted:
            return _Failure(
                TASKCLUSTER_DOWN,
                f"Taskcluster did not answer in time while {doing}; nothing was triggered.",
                exc.detail,
            )
        return _Failure(
            UNCERTAIN,
            f"Taskcluster did not answer in time while {doing}. The request may or may not have gone "
            "through: check the push on Treeherder before trying again.",
            exc.detail,
        )
    if status == 401:
        return _Failure(
            BAD_CREDENTIALS,
            "Taskcluster did not accept your credentials (client id or access token wrong, expired or deleted).",
            exc.detail,
        )
    if status == 403:
        return _Failure(
            SCOPE_ERROR,
            "Your Taskcluster client lacks the scopes to run this action. Give the client the scopes named "
            "below (or retrigger on Treeherder, signed in there).",
            exc.detail,
        )
    if status is not None and status >= 500:
        return _Failure(TASKCLUSTER_DOWN, f"Taskcluster answered {status} while {doing}.", exc.detail)
    if status is not None:
        return _Failure(REJECTED, f"Taskcluster refused the request ({status}) while {doing}.", exc.detail)
    return _Failure(TASKCLUSTER_DOWN, f"Taskcluster could not be used while {doing}.", exc.detail)


def _trigger(credentials: TaskclusterCredentials, token: str, action: Mapping[str, Any], payload: Any) -> str:
    try:
        answer = tc.trigger_hook(
            credentials.client_id, token, action["hookGroupId"], action["hookId"], payload
        )
    except tc.TaskclusterError as exc:
        raise _tc_failure(exc, "triggering the retrigger hook", may_have_acted=True) from exc
    status = answer.get("status")
    task_id = status.get("taskId") if isinstance(status, dict) else None
    if not isinstance(task_id, str) or not task_id:
        raise _Failure(
            REJECTED,
            "Taskcluster answered the trigger without creating a task, so nothing was retriggered.",
            str(answer),
        )
    return task_id


# --- the service -------------------------------------------------------------------------------------


def _job_link(client: TreeherderClient, repo: str, job: rules.Job) -> str:
    base = settings.TREEHERDER_URL
    try:
        push = client.push(repo, job.push_id)
    except TreeherderError:
        return f"{links.treeherder_repo_url(base, repo)}&selectedJob={job.id}"
    return links.treeherder_job_url(base, repo, push.revision, job)


def retrigger_job(
    user: Any, repo: str, job_id: int, times: int = 1, *, client: TreeherderClient | None = None
) -> RetriggerOutcome:
    """Retrigger one job `times` times (1..5) with `user`'s own Taskcluster credentials."""
    times = max(1, min(MAX_TIMES, int(times)))
    fallback = links.treeherder_repo_url(settings.TREEHERDER_URL, repo)
    client = client or get_client()
    base = {"repo": repo, "job_id": job_id, "times": times}

    try:
        job = client.job(repo, job_id)
    except TreeherderNotFound as exc:
        return RetriggerOutcome(
            JOB_NOT_FOUND,
            f"Treeherder does not know job {job_id} in {repo}.",
            _trim(exc.reason),
            treeherder_url=fallback,
            **base,
        )
    except TreeherderError as exc:
        return RetriggerOutcome(
            TREEHERDER_DOWN,
            "Treeherder did not answer while loading the job.",
            _trim(exc),
            treeherder_url=fallback,
            **base,
        )
    link = _job_link(client, repo, job)
    base.update(job=job, treeherder_url=link)

    credentials = TaskclusterCredentials.objects.filter(user=user).first() if user.is_authenticated else None
    if credentials is None:
        return RetriggerOutcome(
            NO_CREDENTIALS,
            "Add your Taskcluster client id and access token in Settings to retrigger from BuildWatch, "
            "or retrigger on Treeherder.",
            **base,
        )
    try:
        token = credentials.access_token
    except CredentialsUnreadable as exc:
        return RetriggerOutcome(
            NO_CREDENTIALS,
            "Your stored Taskcluster access token can no longer be read; enter it again in Settings.",
            str(exc),
            **base,
        )

    try:
        decision_task_id, actions_json = push_actions(client, repo, job.push_id)
        action, action_input, runs = pick_retrigger_action(
            applicable_actions(actions_json), job.job_type_name, times
        )
        if action.get("kind") != "hook":
            raise _Failure(
                NO_ACTION,
                f"The {action.get('name')} action is of kind {action.get('kind')!r}; BuildWatch can only trigger hooks.",
            )
        _check_hook_allowed(decision_task_id, action)
        try:
            payload = render_hook_payload(
                action, decision_task_id, action_input, actions_json.get("variables")
            )
        except jsone.JSONTemplateError as exc:
            raise _Failure(
                MISCONFIGURED, f"The {action.get('name')} action's hookPayload does not render.", str(exc)
            ) from exc
        task_id = _trigger(credentials, token, action, payload)
    except _Failure as failure:
        log.info("retrigger of %s/%s failed: %s (%s)", repo, job_id, failure.kind, failure.detail)
        return RetriggerOutcome(failure.kind, failure.message, failure.detail, **base)

    log.info("retrigger of %s/%s by %s: action task %s", repo, job_id, credentials.client_id, task_id)
    noun = "run" if runs == 1 else "runs"
    base["times"] = runs
    return RetriggerOutcome(
        SUCCESS,
        f"Taskcluster started action task {task_id}, which adds {runs} new {noun} of {job.job_type_name} to the push.",
        task_id=task_id,
        task_url=links.taskcluster_task_url(tc.root_url(), task_id),
        **base,
    )
