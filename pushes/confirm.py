"""Confirm failures: run a push's new failures' jobs again, and later say whether they reproduced.

For each failure group triaged **new**, its failing jobs go back to Taskcluster through the push's own
actions (as pushes.retrigger does for one job): a task-level `confirm-failures` where actions.json offers
it for the job's task (its context matches the task's tags), one trigger per job; otherwise one
push-level `retrigger-multiple` for the group's job labels with `times`. Every Taskcluster answer is
reported per group, never a success without the task id Taskcluster created. Each group's request is
kept (ConfirmRequest) so the poller can count the confirming runs (see `verdict_of`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import jsone

from accounts.crypto import CredentialsUnreadable
from accounts.models import TaskclusterCredentials

from . import evidence, rules, services, triage
from . import taskcluster as tc
from .models import ConfirmRequest
from .retrigger import (
    NO_ACTION,
    NO_CREDENTIALS,
    SUCCESS,
    _check_hook_allowed,
    _Failure,
    _tc_failure,
    _trigger,
    applicable_actions,
    push_actions,
)
from .treeherder.client import TreeherderClient, get_client

log = logging.getLogger(__name__)

NOTHING_NEW = "nothing_new"
ALREADY_CONFIRMING = "already_confirming"


@dataclass
class GroupOutcome:
    key: str
    job_names: list[str]
    action: str = ""
    kind: str = SUCCESS
    message: str = ""
    detail: str = ""
    task_ids: list[str] = field(default_factory=list)


@dataclass
class ConfirmOutcome:
    kind: str  # SUCCESS when every group was triggered; else the first failure's kind
    message: str
    detail: str = ""
    groups: list[GroupOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.kind == SUCCESS


def new_failure_groups(repo: str, push_id: int) -> tuple[list[triage.FailureGroup], dict[int, rules.Job]]:
    """The push's tier-1 new failure groups (what "confirm failures" re-runs), with their jobs."""
    failed = services.push_failed_jobs(repo, push_id).value
    summary = evidence.failure_summary(repo, failed, revision=services.push(repo, push_id).value.revision)
    return summary.new_groups, summary.jobs_by_id


def split_confirmed(
    repo: str, push_id: int, groups: list[triage.FailureGroup]
) -> tuple[list[triage.FailureGroup], list[triage.FailureGroup]]:
    """(the groups nobody sent to run again yet, the ones somebody did): confirming those again would
    only double their runs, so they are not offered again."""
    already = set(
        ConfirmRequest.objects.accepted()
        .filter(repo=repo, push_id=push_id)
        .values_list("group_key", flat=True)
    )
    return [g for g in groups if g.key not in already], [g for g in groups if g.key in already]


def _render(action: dict, decision: str, task_id: str | None, action_input: Any, variables: Any) -> Any:
    context = {**(variables or {}), "taskGroupId": decision, "taskId": task_id, "input": action_input}
    try:
        return jsone.render(action.get("hookPayload") or {}, context)
    except jsone.JSONTemplateError as exc:
        raise _Failure(
            "misconfigured", f"The {action.get('name')} action's hookPayload does not render.", str(exc)
        ) from exc


def _fire(creds: TaskclusterCredentials, token: str, decision: str, actions_json: dict, action: dict,
          task_id: str | None, action_input: Any, checked: set[str]) -> str:  # fmt: skip
    if action.get("kind") != "hook":
        raise _Failure(
            NO_ACTION,
            f"The {action.get('name')} action is of kind {action.get('kind')!r}; BuildWatch can only trigger hooks.",
        )
    if action["name"] not in checked:
        _check_hook_allowed(decision, action)
        checked.add(action["name"])
    payload = _render(action, decision, task_id, action_input, actions_json.get("variables"))
    return _trigger(creds, token, action, payload)


def _confirm_group(creds: TaskclusterCredentials, token: str, decision: str, actions_json: dict,
                   jobs: list[rules.Job], times: int, checked: set[str]) -> tuple[str, list[str]]:  # fmt: skip
    """Trigger one group's runs: (action name, action task ids)."""
    task_ids: list[str] = []
    leftover: list[rules.Job] = []
    for job in jobs:
        try:
            tags = tc.task_tags(job.task_id) if job.task_id else {}
        except tc.TaskclusterError as exc:
            raise _tc_failure(exc, "reading the failing task's definition") from exc
        offered = {a["name"]: a for a in applicable_actions(actions_json, {"tags": tags})}
        if "confirm-failures" in offered:
            action = offered["confirm-failures"]
            task_ids.append(
                _fire(creds, token, decision, actions_json, action, job.task_id, {"times": times}, checked)
            )
        else:
            leftover.append(job)
    if not leftover:
        return "confirm-failures", task_ids
    push_level = {a["name"]: a for a in applicable_actions(actions_json)}
    if "retrigger-multiple" not in push_level:
        raise _Failure(NO_ACTION, "This push offers neither confirm-failures for these jobs nor retrigger-multiple.",
                       "actions: " + ", ".join(sorted(push_level)))  # fmt: skip
    labels = sorted({job.job_type_name for job in leftover})
    action_input = {"requests": [{"tasks": labels, "times": times}]}
    task_ids.append(
        _fire(
            creds,
            token,
            decision,
            actions_json,
            push_level["retrigger-multiple"],
            None,
            action_input,
            checked,
        )
    )
    return (
        "confirm-failures+retrigger-multiple" if len(leftover) < len(jobs) else "retrigger-multiple"
    ), task_ids


def _credentials(user: Any) -> tuple[TaskclusterCredentials, str]:
    creds = TaskclusterCredentials.objects.filter(user=user).first()
    if creds is None:
        raise _Failure(
            NO_CREDENTIALS,
            "Add your Taskcluster client id and access token in Settings to confirm failures from BuildWatch.",
        )
    try:
        return creds, creds.access_token
    except CredentialsUnreadable as exc:
        raise _Failure(
            NO_CREDENTIALS,
            "Your stored Taskcluster access token can no longer be read; enter it again in Settings.",
            str(exc),
        ) from exc


def confirm_failures(
    user: Any, repo: str, push_id: int, times: int, *, client: TreeherderClient | None = None
) -> ConfirmOutcome:
    """Run every new failure group's failing jobs again with `user`'s credentials, but not the groups
    somebody already confirmed (`split_confirmed`); one outcome per group."""
    times = max(1, min(5, int(times)))
    try:
        creds, token = _credentials(user)
        groups, jobs_by_id = new_failure_groups(repo, push_id)
        if not groups:
            return ConfirmOutcome(NOTHING_NEW, "This push has no new failures to confirm (yet).")
        groups, _ = split_confirmed(repo, push_id, groups)
        if not groups:
            return ConfirmOutcome(
                ALREADY_CONFIRMING,
                "Every new failure of this push is already being confirmed; nothing was run again. "
                "Each one's verdict shows on the push page when its runs finish.",
            )
        decision, actions_json = push_actions(client or get_client(), repo, push_id)
    except _Failure as failure:
        return ConfirmOutcome(failure.kind, failure.message, failure.detail)
    checked: set[str] = set()
    results = [_confirm_one(user, repo, push_id, group, jobs_by_id, times, (creds, token, decision, actions_json, checked))
               for group in groups]  # fmt: skip
    failed = [result for result in results if result.kind != SUCCESS]
    if not failed:
        return ConfirmOutcome(
            SUCCESS, f"Taskcluster accepted the runs for {len(results)} new failure group(s).", groups=results
        )
    return ConfirmOutcome(
        failed[0].kind, f"{len(failed)} of {len(results)} group(s) could not be confirmed.", groups=results
    )


def _confirm_one(user: Any, repo: str, push_id: int, group: triage.FailureGroup, jobs_by_id: dict[int, rules.Job],
                 times: int, ctx: tuple) -> GroupOutcome:  # fmt: skip
    creds, token, decision, actions_json, checked = ctx
    jobs = [jobs_by_id[job_id] for job_id in group.job_ids if job_id in jobs_by_id]
    names = sorted({job.job_type_name for job in jobs})
    outcome = GroupOutcome(group.key, names)
    try:
        outcome.action, outcome.task_ids = _confirm_group(
            creds, token, decision, actions_json, jobs, times, checked
        )
        outcome.message = (
            f"Taskcluster started {', '.join(outcome.task_ids)} ({outcome.action}, {times}× each job)."
        )
    except _Failure as failure:
        outcome.kind, outcome.message, outcome.detail = failure.kind, failure.message, failure.detail
    log.info(
        "confirm %s/%s %r by %s: %s %s",
        repo,
        push_id,
        group.key,
        creds.client_id,
        outcome.kind,
        outcome.task_ids,
    )
    ConfirmRequest.objects.create(
        user=user, repo=repo, push_id=push_id, group_key=group.key, job_ids=[job.id for job in jobs],
        job_type_names=names, action=outcome.action, times=times, task_ids=outcome.task_ids,
        outcome=outcome.kind, message=outcome.message,
    )  # fmt: skip
    return outcome


# --- The follow-up verdict ---------------------------------------------------------------------------


def confirming_runs(request: ConfirmRequest, jobs: list[rules.Job]) -> list[rules.Job]:
    """The new runs of the confirmed job types: same name (or its `-cf` confirm task), newer id."""
    newest = max(request.job_ids or [0])
    names = set(request.job_type_names)
    return [
        job for job in jobs
        if job.id > newest and (job.job_type_name in names or job.job_type_name.removesuffix("-cf") in names)
    ]  # fmt: skip


def verdict_of(request: ConfirmRequest, jobs: list[rules.Job]) -> dict[str, Any] | None:
    """{"runs", "failed", "verdict", "label"} once every expected confirming run finished; else None."""
    runs = confirming_runs(request, jobs)
    expected = request.times * max(1, len(request.job_type_names))
    finished = [job for job in runs if job.state == "completed"]
    if len(finished) < expected or len(finished) < len(runs):
        return None
    failed = sum(rules.is_failure(job) for job in finished)
    total = len(finished)
    if failed == total:
        return {
            "runs": total,
            "failed": failed,
            "verdict": "reproduced",
            "label": f"reproduced {failed}/{total} — likely yours",
        }
    passed = total - failed
    return {
        "runs": total,
        "failed": failed,
        "verdict": "intermittent",
        "label": f"passed {passed}/{total} — intermittent",
    }
