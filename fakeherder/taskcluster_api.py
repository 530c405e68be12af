"""The Taskcluster endpoints retrigger uses, played by the fake: the decision task's `public/actions.json`,
task definitions and status, artifacts (a live log) and a hook trigger that needs an `Authorization: Hawk
...` header and adds the retriggered jobs to the push (each trigger is kept in `fake.triggers`).
"""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .errors import HttpError
from .payloads import iso
from .timeline import FakePush, slug

if TYPE_CHECKING:
    from .server import FakeTreeherder

TASK_RE = re.compile(r"^/api/queue/v1/task/(?P<task>[^/]+)(?P<rest>/.*)?$")
ARTIFACT_RE = re.compile(r"^/(?:runs/\d+/)?(?P<kind>artifacts|artifact-content)/(?P<name>.+)$")
HOOK_PREFIX = "/api/hooks/v1/hooks/"


def not_found(what: str) -> HttpError:
    return HttpError(404, {"code": "ResourceNotFound", "message": f"{what} not found", "requestInfo": {}})


def actions(fake: FakeTreeherder, push: FakePush) -> dict:
    body = copy.deepcopy(fake.actions_template)
    decision = push.decision
    for action in body["actions"]:
        payload = action.get("hookPayload", {}).get("decision")
        if not payload:
            continue
        payload["action"]["taskGroupId"] = decision.task_id
        payload["push"] = {"owner": push.author, "pushlog_id": str(push.id), "revision": push.revision}
        payload["repository"] = {
            "level": "1" if push.repo == "try" else "3",
            "project": push.repo,
            "url": f"https://hg.mozilla.org/{push.repo}",
        }
    return body


def task(fake: FakeTreeherder, task_id: str) -> dict:
    jobs = fake.tasks.get(task_id)
    if not jobs:
        raise not_found(f"Task {task_id}")
    job = jobs[0]
    push = fake.pushes[job.push_id]
    decision = push.decision
    body = copy.deepcopy(fake.task_template)
    body["taskGroupId"] = decision.task_id if decision else task_id
    body["routes"] = [f"tc-treeherder.v2.{push.repo}.{push.revision}.{push.id}"]
    body["created"] = iso(job.appear_at)[:-3] + "Z"
    kind = {"decision": "decision-task", "build": "build"}.get(job.kind, "test")
    suite = re.sub(r"(-\d+)?$", "", job.job_type_name.split("-", 2)[-1].split("/", 1)[-1].split("-", 1)[-1])
    body["tags"] = {
        "kind": kind,
        "os": job.platform.split("-")[0].rstrip("0123456789"),
        "createdForUser": push.author,
        "retrigger": "true",
        "label": job.job_type_name,
        "worker-implementation": "generic-worker",
    }
    if kind == "test":
        body["tags"]["test-type"] = "mochitest" if "mochitest" in suite else suite.split("-")[0]
    body["metadata"] = {
        "owner": push.author,
        "source": f"https://hg.mozilla.org/{push.repo}/file/{push.revision}/taskcluster/kinds/{kind}",
        "description": f"{job.job_type_name} ([Treeherder push]({fake.url}/jobs?repo={push.repo}"
        f"&revision={push.revision}))",
        "name": job.job_type_name,
    }
    body["extra"]["parent"] = body["taskGroupId"]
    body["extra"]["treeherder"].update(
        {"symbol": job.job_type_symbol, "groupSymbol": job.job_group_symbol, "groupName": job.job_group_name,
         "tier": job.tier, "machine": {"platform": job.platform}, "collection": {job.platform_option: True}}
    )  # fmt: skip
    body["extra"]["treeherder-platform"] = f"{job.platform}/{job.platform_option}"
    if kind == "decision-task":
        # Real decision tasks hold the scope that lets users' clients trigger the push's action hooks
        # (BuildWatch checks it before triggering, as Treeherder does).
        body["scopes"] = [
            f"assume:repo:hg.mozilla.org/{push.repo}:branch:default",
            "in-tree:hook-action:project-gecko/in-tree-action-*",
        ]
    return body


def task_status(
    fake: FakeTreeherder, task_id: str, *, state: str | None = None, group: str | None = None
) -> dict:
    jobs = fake.tasks.get(task_id)
    if not jobs and state is None:
        raise not_found(f"Task {task_id}")
    now = fake.now()
    job = jobs[-1] if jobs else None
    if group is None:
        decision = fake.pushes[job.push_id].decision if job else None
        group = decision.task_id if decision else task_id
    if state is None:
        job_state = job.state_at(now) or "unscheduled"
        state = {"completed": "completed" if job.result == "success" else "failed"}.get(job_state, job_state)
    return {
        "status": {
            "taskId": task_id, "provisionerId": "gecko-1", "workerType": "decision",
            "taskQueueId": "gecko-1/decision", "schedulerId": "gecko-level-1", "projectId": "none",
            "taskGroupId": group, "deadline": iso(now + 86400)[:-3] + "Z",
            "expires": iso(now + 86400 * 28)[:-3] + "Z", "retriesLeft": 5, "state": state,
            "runs": [{"runId": 0, "state": state, "reasonCreated": "scheduled",
                      "scheduled": iso(now)[:-3] + "Z"}],
        }
    }  # fmt: skip


def artifact(fake: FakeTreeherder, task_id: str, name: str) -> tuple[str, bytes]:
    jobs = fake.tasks.get(task_id)
    if not jobs:
        raise not_found(f"Task {task_id}")
    if name == "public/actions.json" and task_id in fake.decisions:
        return "application/json", json.dumps(actions(fake, fake.decisions[task_id])).encode()
    if name == "public/logs/live_backing.log":
        job = jobs[-1]
        lines = [f"[taskcluster] Task {task_id} ({job.job_type_name}) on the fake Treeherder"]
        lines += [f"{line}" for _, _, line, _ in job.errors]
        return "text/plain; charset=utf-8", ("\n".join(lines) + "\n").encode()
    raise not_found(f"Artifact {name}")


def _input_error(message: str) -> HttpError:
    return HttpError(400, {"code": "InputError", "message": message, "requestInfo": {}})


def trigger(fake: FakeTreeherder, group: str, hook: str, authorization: str | None, body: bytes) -> dict:
    if not (authorization or "").startswith("Hawk "):
        raise HttpError(
            401,
            {
                "code": "AuthenticationFailed",
                "message": "Hawk Authorization header required",
                "requestInfo": {},
            },
        )
    hooks = {(a.get("hookGroupId"), a.get("hookId")) for a in fake.actions_template["actions"]}
    if (group, hook) not in hooks:
        raise not_found(f"Hook {group}/{hook}")
    try:
        payload = json.loads(body or b"{}")
        user = payload["user"]
        action = payload["decision"]["action"].get("cb_name") or payload["decision"]["action"]["name"]
        task_group = user["taskGroupId"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _input_error("payload does not match the hook's schema") from None
    push = fake.decisions.get(task_group)
    if push is None:
        raise _input_error(f"unknown taskGroupId {task_group}")
    user_input = user.get("input") or {}
    requests: list[tuple[list[str], int]] = []
    if action == "retrigger-multiple":
        for request in user_input.get("requests", []):
            requests.append((list(request.get("tasks", [])), int(request.get("times", 1))))
    elif action == "add-new-jobs":
        requests.append((list(user_input.get("tasks", [])), int(user_input.get("times", 1))))
    elif (
        user.get("taskId")
        and user["taskId"] in fake.tasks
        and action in ("retrigger", "rerun", "confirm-failures")
    ):
        requests.append(([fake.tasks[user["taskId"]][0].job_type_name], int(user_input.get("times", 1))))
    new_ids = []
    now = fake.now()
    for names, times in requests:
        for name in names:
            template = next((j for j in reversed(push.jobs) if j.job_type_name == name), None)
            if template is None:
                continue
            for _ in range(max(1, min(times, 100))):
                new_ids.append(fake.add_rerun(push, template, now).id)
    action_task = slug(f"action:{task_group}:{len(fake.triggers)}:{now}")
    fake.triggers.append({
        "hookGroupId": group, "hookId": hook, "payload": payload, "authorization": authorization,
        "action": action, "push_id": push.id, "new_job_ids": new_ids, "task_id": action_task,
    })  # fmt: skip
    return task_status(fake, action_task, state="pending", group=task_group)


def answer(fake: FakeTreeherder, method: str, path: str, authorization: str | None,
           body: bytes) -> tuple[str, bytes] | dict | None:  # fmt: skip
    """A Taskcluster request's answer: a JSON body, (content type, bytes) for an artifact, or None when
    the path is not Taskcluster's."""
    if method == "POST" and path.startswith(HOOK_PREFIX) and path.endswith("/trigger"):
        group, _, hook = path[len(HOOK_PREFIX) : -len("/trigger")].partition("/")
        return trigger(fake, unquote(group), unquote(hook), authorization, body)
    match = TASK_RE.match(path) if method == "GET" else None
    if not match:
        return None
    task_id, rest = match["task"], match["rest"] or ""
    if rest in ("", "/"):
        return task(fake, task_id)
    if rest == "/status":
        return task_status(fake, task_id)
    if found := ARTIFACT_RE.match(rest):
        name = unquote(found["name"])
        if found["kind"] == "artifact-content":
            artifact(fake, task_id, name)
            return {"type": "s3", "url": f"{fake.url}/api/queue/v1/task/{task_id}/artifacts/{name}"}
        return artifact(fake, task_id, name)
    raise not_found(path)
