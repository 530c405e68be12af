"""Reading Taskcluster's queue messages and binding narrowly (notifications/pulse.py), and folding many
messages into few polls (pulse_listener.Coalescer): pure, no broker."""

from __future__ import annotations

import json

import pytest

from fakeherder import FakeTreeherder
from fakeherder.pulse import group_message, task_message
from notifications import pulse
from notifications.pulse import BadMessage, Kind
from notifications.pulse_listener import Coalescer

GROUP = "fQxHBSdrQ7eQLyCdjkkC0w"
TASK = "Xr5lJrboSYe9xG-bsHrL4A"


def status(**changes: object) -> dict:
    body = {
        "version": 1,
        "status": {"taskId": TASK, "taskGroupId": GROUP, "schedulerId": "gecko-level-1", "state": "failed",
                   "provisionerId": "gecko-t", "workerType": "t-linux-large", "runs": []},
        "runId": 0, "workerGroup": "us-east1", "workerId": "i-0123",
    }  # fmt: skip
    body["status"].update(changes)
    return body


@pytest.mark.parametrize(
    ("exchange", "kind"),
    [("task-completed", Kind.COMPLETED), ("task-failed", Kind.FAILED), ("task-exception", Kind.FAILED)],
)
def test_a_task_message_names_its_task_group_and_what_happened(exchange, kind):
    event = pulse.parse(pulse.exchange_name(exchange), status())
    assert (event.kind, event.task_group, event.task_id) == (kind, GROUP, TASK)


def test_a_task_group_resolution_names_its_group():
    body = {"version": 1, "taskGroupId": GROUP, "schedulerId": "gecko-level-1"}
    assert pulse.parse("exchange/taskcluster-queue/v1/task-group-resolved", body) == pulse.Event(
        Kind.RESOLVED, GROUP
    )


def test_the_fakes_messages_read_as_taskclusters():
    fake = FakeTreeherder("quick", speed=0)
    push = fake.push(fake.add_push(size=3, hold="running"))
    failed_id = fake.add_job(push.id, "completed", result="testfailed")
    failed = next(job for job in push.jobs if job.id == failed_id)
    exchange, key, body, cc = task_message(push, failed)
    event = pulse.parse(exchange, pulse.decode(json.dumps(body)))
    assert exchange.endswith("/task-failed") and event.kind == Kind.FAILED
    assert event.task_group == fake.decision_task_id(push.id) == key.split(".")[8]
    assert cc == [f"route.tc-treeherder.v2.try.{push.revision}"]
    exchange, key, body, cc = group_message(push)
    assert pulse.parse(exchange, body).task_group == fake.decision_task_id(push.id)
    assert key == f"primary.{fake.decision_task_id(push.id)}.gecko-level-1._" and cc == []


@pytest.mark.parametrize(
    ("exchange", "body", "why"),
    [
        ("exchange/taskcluster-queue/v1/task-completed", b"{not json", "not JSON"),
        ("exchange/taskcluster-queue/v1/task-completed", b"\xff\xfe", "not JSON"),
        ("exchange/taskcluster-queue/v1/task-completed", b"[1, 2]", "not a JSON object"),
        ("exchange/taskcluster-queue/v1/task-completed", b'{"version": 1}', "without a status"),
        ("exchange/taskcluster-queue/v1/task-failed", json.dumps(status(taskGroupId=None)).encode(), "taskGroupId"),
        ("exchange/taskcluster-queue/v1/task-failed", json.dumps(status(taskGroupId="a.b.#")).encode(), "taskGroupId"),
        ("exchange/taskcluster-queue/v1/task-failed", json.dumps(status(taskId=7)).encode(), "taskId"),
        ("exchange/taskcluster-queue/v1/task-group-resolved", b'{"taskGroupId": ""}', "taskGroupId"),
        ("exchange/taskcluster-queue/v1/task-pending", json.dumps(status()).encode(), "not an exchange"),
        ("exchange/hgpushes/v1", json.dumps(status()).encode(), "not a Taskcluster queue exchange"),
        ("exchange/taskcluster-queue/v1/task-failed", b"[" * 300_000, "too large"),
    ],
)  # fmt: skip
def test_a_message_that_is_not_a_queue_message_is_refused_with_the_reason(exchange, body, why):
    with pytest.raises(BadMessage, match=why):
        pulse.parse(exchange, pulse.decode(body))


def test_bindings_follow_only_the_chosen_repositories_tasks_and_their_schedulers_groups():
    assert pulse.bindings(["try", "autoland", "try"]) == [
        ("exchange/taskcluster-queue/v1/task-completed", "route.tc-treeherder.v2.try.#"),
        ("exchange/taskcluster-queue/v1/task-failed", "route.tc-treeherder.v2.try.#"),
        ("exchange/taskcluster-queue/v1/task-exception", "route.tc-treeherder.v2.try.#"),
        ("exchange/taskcluster-queue/v1/task-completed", "route.tc-treeherder.v2.autoland.#"),
        ("exchange/taskcluster-queue/v1/task-failed", "route.tc-treeherder.v2.autoland.#"),
        ("exchange/taskcluster-queue/v1/task-exception", "route.tc-treeherder.v2.autoland.#"),
        ("exchange/taskcluster-queue/v1/task-group-resolved", "primary.*.gecko-level-1.#"),
        ("exchange/taskcluster-queue/v1/task-group-resolved", "primary.*.gecko-level-3.#"),
    ]
    assert pulse.queue_name("buildwatch-team", "buildwatch") == "queue/buildwatch-team/buildwatch"
    with pytest.raises(ValueError, match="not a repository name"):
        pulse.bindings(["try.#"])


# --- Coalescing ----------------------------------------------------------------------------------------

PUSH = ("try", 7)


def test_a_burst_of_task_messages_is_one_poll_now_and_one_when_the_gap_ends():
    coalescer = Coalescer(gap=60)
    held = [coalescer.add(PUSH, Kind.COMPLETED, f"m{n}", now=0.0 + n / 1000) for n in range(2000)]
    assert held == [True] + [False] * 1999  # one message stands for the others: they are acked at once
    [first] = coalescer.due(now=2.0)
    assert (first.kind, list(first.messages.values())) == (Kind.COMPLETED, ["m0"])
    assert coalescer.due(now=3.0) == []
    assert coalescer.add(PUSH, Kind.COMPLETED, "late", now=30.0)
    assert coalescer.add(PUSH, Kind.FAILED, "failure", now=31.0)  # a stronger kind keeps its own message
    assert coalescer.due(now=61.0) == []  # the gap counts from the last poll (at 2.0)
    [trailing] = coalescer.due(now=62.0)
    assert trailing.kind == Kind.FAILED and set(trailing.messages.values()) == {"late", "failure"}
    assert coalescer.next_due() is None


def test_a_task_groups_resolution_does_not_wait_for_the_gap():
    coalescer = Coalescer(gap=60, resolved_gap=1)
    coalescer.add(PUSH, Kind.COMPLETED, "task", now=0.0)
    assert len(coalescer.due(now=0.1)) == 1
    coalescer.add(PUSH, Kind.COMPLETED, "another", now=0.5)
    coalescer.add(PUSH, Kind.RESOLVED, "resolved", now=0.6)
    assert coalescer.next_due() == pytest.approx(1.1)  # one second after the last poll, not sixty
    [wakeup] = coalescer.due(now=1.1)
    assert wakeup.kind == Kind.RESOLVED and set(wakeup.messages.values()) == {"another", "resolved"}


def test_pushes_are_coalesced_apart_and_a_lost_connection_keeps_the_wake_ups_not_the_messages():
    coalescer = Coalescer(gap=60)
    coalescer.add(("try", 1), Kind.COMPLETED, "a", now=0.0)
    coalescer.add(("try", 2), Kind.FAILED, "b", now=0.0)
    coalescer.forget_messages()
    wakeups = coalescer.due(now=0.0)
    assert {(w.push, w.kind) for w in wakeups} == {(("try", 1), Kind.COMPLETED), (("try", 2), Kind.FAILED)}
    assert all(w.messages == {} for w in wakeups)


def test_a_wake_up_the_broker_refused_comes_back_with_its_messages():
    coalescer = Coalescer(gap=60)
    coalescer.add(PUSH, Kind.COMPLETED, "first", now=0.0)
    [refused] = coalescer.due(now=0.0)
    coalescer.add(PUSH, Kind.COMPLETED, "meanwhile", now=1.0)
    assert coalescer.retry(refused, at=5.0) == ["first"]  # "meanwhile" stands for it: ack "first" now
    [again] = coalescer.due(now=5.0)
    assert list(again.messages.values()) == ["meanwhile"]
