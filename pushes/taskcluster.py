"""The one HTTP client for Taskcluster: a decision task's `public/actions.json`, the decision task
itself, scope expansion, and triggering a hook with a user's own credentials.

Every request goes through one `requests.Session` per process with an explicit timeout
(`TASKCLUSTER_TIMEOUT`), and nothing is retried: a retried trigger could run a job twice.

Why the requests are made here and not by the `taskcluster` package's client: its synchronous client
(taskcluster==113.2.0) accepts `session=` but never uses it — `BaseClient._makeHttpRequest` calls
`utils.makeSingleHttpRequest` without the session and without a timeout — and has no timeout option.
So this module signs the few calls BuildWatch makes with Hawk itself (mohawk, what that client signs
with) and uses the package only for scope matching.

Failures are `TaskclusterError`s that say what happened on the wire; `pushes.retrigger` turns them
into the messages a user reads.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import mohawk
import requests
from django.conf import settings
from taskcluster.utils import scopeMatch

from buildwatch import upstream

from .treeherder.transport import default_user_agent

# actions.json of a real decision task is ~100 kB; API answers are small.
MAX_BYTES = 4_000_000


class TaskclusterError(Exception):
    """Taskcluster could not be used. `detail` says what it answered or what went wrong."""

    def __init__(self, detail: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(detail)
        self.detail, self.status, self.url = detail, status, url


class Unreachable(TaskclusterError):
    """The request did not reach Taskcluster (name lookup, refused, connect timeout): nothing happened."""


class NoAnswer(TaskclusterError):
    """The request was sent but no answer came in time: a trigger may or may not have gone through."""


class ErrorAnswer(TaskclusterError):
    """Taskcluster answered with an HTTP error; `status` is set."""


class BadAnswer(TaskclusterError):
    """A successful answer that is not the JSON asked for."""


# --- one Session per process -------------------------------------------------------------------------

_session_state: dict[str, Any] = {"pid": None, "session": None}


def _session() -> requests.Session:
    """The process's one Session (connection pool); a forked worker builds its own."""
    if _session_state["pid"] != os.getpid() or _session_state["session"] is None:
        session = requests.Session()
        session.headers.update(
            {"Accept": "application/json", "User-Agent": default_user_agent(settings.SITE_URL)}
        )
        _session_state.update(pid=os.getpid(), session=session)
    return _session_state["session"]


def root_url() -> str:
    return settings.TASKCLUSTER_ROOT_URL.rstrip("/")


def _send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One request, answered in full (headers and body) within TASKCLUSTER_TIMEOUT in total."""
    deadline = upstream.Deadline(settings.TASKCLUSTER_TIMEOUT)
    try:
        response = _session().request(method, url, timeout=deadline.timeouts(), stream=True, **kwargs)
        return upstream.load_body(response, deadline, MAX_BYTES)
    except requests.Timeout as exc:
        if isinstance(exc, requests.ConnectTimeout):
            raise Unreachable(str(exc), url=url) from exc
        raise NoAnswer(str(exc), url=url) from exc
    except upstream.DeadlineExceeded as exc:
        raise NoAnswer(f"read timed out: {exc}", url=url) from exc
    except upstream.TooLarge as exc:
        raise BadAnswer(f"Taskcluster sent more than {upstream.format_bytes(MAX_BYTES)}", url=url) from exc
    except requests.RequestException as exc:
        raise Unreachable(str(exc), url=url) from exc


# --- the API calls -----------------------------------------------------------------------------------


def _api_error(response: requests.Response, url: str) -> ErrorAnswer:
    """Taskcluster's error bodies are `{"code": ..., "message": ...}`: "HTTP 403: InsufficientScopes: …"."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body:
        text = body.get("message") or body.get("detail") or json.dumps(body)
        detail = f"{body['code']}: {text}" if body.get("code") else str(text)
    else:
        detail = {401: "Authentication Error", 500: "Internal Server Error"}.get(
            response.status_code, "Unknown Server Error"
        )
    return ErrorAnswer(f"HTTP {response.status_code}: {detail}", status=response.status_code, url=url)


def _api(
    method: str, service: str, path: str, payload: Any = None, *, client_id: str = "", access_token: str = ""
) -> dict:
    """One call of a Taskcluster service's REST API, Hawk-signed when credentials are given. Redirects
    are answers, not followed (like the taskcluster client); a body that is not a JSON object is `{}`."""
    url = f"{root_url()}/api/{service}/v1/{path}"
    headers: dict[str, str] = {}
    body = ""
    if payload is not None:
        body = json.dumps(payload, separators=(",", ":"))
        headers["Content-Type"] = "application/json"
    if client_id and access_token:
        sender = mohawk.Sender(
            {"id": client_id, "key": access_token, "algorithm": "sha256"},
            url,
            method,
            content=body,
            content_type=headers.get("Content-Type", ""),
        )
        headers["Authorization"] = sender.request_header
    response = _send(
        method, url, data=body.encode() if body else None, headers=headers, allow_redirects=False
    )
    if response.status_code >= 400:
        raise _api_error(response, url)
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def actions_json(decision_task_id: str) -> Any:
    """The decision task's `public/actions.json`, decoded (any JSON; the caller checks its version).
    Taskcluster answers with a redirect to the artifact's storage, which is followed like Treeherder's
    fetch does. An HTTP error's detail is the body as sent."""
    url = f"{root_url()}/api/queue/v1/task/{decision_task_id}/artifacts/public/actions.json"
    response = _send("GET", url)
    if response.status_code >= 400:
        raise ErrorAnswer(response.text, status=response.status_code, url=url)
    try:
        return response.json()
    except ValueError:
        raise BadAnswer(response.text, url=url) from None


def task_scopes(task_id: str) -> list[str]:
    """The scopes of a task's definition (for the decision task: what its actions may use)."""
    return list(_api("GET", "queue", f"task/{quote(task_id, safe='')}").get("scopes") or [])


def task_tags(task_id: str) -> dict[str, str]:
    """The tags of a task's definition (what an action's `context` is matched against)."""
    tags = _api("GET", "queue", f"task/{quote(task_id, safe='')}").get("tags")
    return tags if isinstance(tags, dict) else {}


def expand_scopes(scopes: list[str]) -> list[str]:
    """Every scope the given ones grant through roles."""
    return list(_api("POST", "auth", "scopes/expand", {"scopes": scopes}).get("scopes") or [])


def has_scope(scopes: list[str], scope: str) -> bool:
    """Taskcluster's scope satisfaction (`*` at the end of a held scope matches any suffix)."""
    return scopeMatch(scopes, [[scope]])


def trigger_hook(client_id: str, access_token: str, hook_group_id: str, hook_id: str, payload: Any) -> dict:
    """Trigger a hook as the given client; the answer names the task created (`status.taskId`)."""
    path = f"hooks/{quote(hook_group_id, safe='')}/{quote(hook_id, safe='')}/trigger"
    return _api("POST", "hooks", path, payload, client_id=client_id, access_token=access_token)
