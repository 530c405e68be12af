"""The fake's Pulse: Taskcluster queue messages published to a RabbitMQ as the fake's jobs end.

    fake = FakeTreeherder("quick", speed=0); fake.start()
    publisher = PulsePublisher(fake, "amqp://guest:guest@127.0.0.1:5672/%2F").start()
    fake.finish_push(push_id)        # its tasks' messages, then its task group's resolution
    publisher.sync()                 # publish now rather than at the next tick (tests)
    publisher.stop()

(`python -m fakeherder --pulse amqp://…` / `manage.py fake_treeherder --pulse …` do the same.)

Messages look like Taskcluster's (queue/v1 exchanges reference, as of 2024): a job that ends is a message
on `exchange/taskcluster-queue/v1/task-completed` (result success), `task-failed` (testfailed, busted)
or `task-exception` (exception, retry, usercancel, superseded), routed `primary.<taskId>.<runId>.
<workerGroup>.<workerId>.<provisionerId>.<workerType>.<schedulerId>.<taskGroupId>._` and CC'd to the
task's route `route.tc-treeherder.v2.<repo>.<revision>`; once every job of a push has ended,
`task-group-resolved` says so for its task group (the decision task's id), routed
`primary.<taskGroupId>.<schedulerId>._`. The publisher declares those topic exchanges (on the real
Pulse, Taskcluster owns them). Jobs that had ended when it starts, or when the world is reset, are not
announced.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kombu import Connection, Exchange

from .payloads import iso
from .timeline import FakeJob, FakePush, slug

if TYPE_CHECKING:
    from .world import World

logger = logging.getLogger(__name__)

ROOT = "exchange/taskcluster-queue/v1/"
EXCHANGES = ("task-completed", "task-failed", "task-exception", "task-group-resolved")
TICK = 0.1  # seconds between looks at the world
FAILED = {"testfailed", "busted"}
EXCEPTION_REASONS = {
    "exception": "internal-error",
    "retry": "intermittent-task",
    "usercancel": "canceled",
    "superseded": "superseded",
}
RETRY_POLICY = {"max_retries": 20, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


def scheduler_id(repo: str) -> str:
    return "gecko-level-1" if repo.startswith("try") else "gecko-level-3"


def task_message(push: FakePush, job: FakeJob) -> tuple[str, str, dict[str, Any], list[str]]:
    """(exchange, routing key, body, CC routes) of the message announcing that `job` ended."""
    if job.result in FAILED:
        exchange, state = "task-failed", "failed"
    elif job.result in EXCEPTION_REASONS:
        exchange, state = "task-exception", "exception"
    else:
        exchange, state = "task-completed", "completed"
    group = push.decision.task_id if push.decision else job.task_id
    provisioner, worker_type = "gecko-t", f"{'b' if job.kind == 'build' else 't'}-{job.platform}"[:38]
    worker_group, worker_id = "us-east1", f"i-{slug(f'worker:{job.id}')[:16]}"
    runs = [
        {"runId": run, "state": "exception", "reasonCreated": "scheduled" if run == 0 else "retry",
         "reasonResolved": "intermittent-task", "scheduled": iso(job.appear_at), "started": iso(job.appear_at),
         "resolved": iso(job.pending_at), "workerGroup": worker_group, "workerId": worker_id}
        for run in range(job.retry_id)
    ]  # fmt: skip
    runs.append({
        "runId": job.retry_id, "state": state, "reasonCreated": "scheduled" if job.retry_id == 0 else "retry",
        "reasonResolved": EXCEPTION_REASONS.get(job.result, state), "scheduled": iso(job.pending_at),
        "started": iso(job.start_at), "resolved": iso(job.end_at), "workerGroup": worker_group,
        "workerId": worker_id, "takenUntil": iso(job.end_at + 1200),
    })  # fmt: skip
    body = {
        "version": 1,
        "status": {
            "taskId": job.task_id, "provisionerId": provisioner, "workerType": worker_type,
            "taskQueueId": f"{provisioner}/{worker_type}", "schedulerId": scheduler_id(push.repo),
            "projectId": "none", "taskGroupId": group, "deadline": iso(job.appear_at + 86400),
            "expires": iso(job.appear_at + 28 * 86400), "retriesLeft": 5 - job.retry_id, "state": state,
            "runs": runs,
        },
        "runId": job.retry_id,
        "workerGroup": worker_group,
        "workerId": worker_id,
        "task": {"tags": {"kind": job.kind, "label": job.job_type_name, "createdForUser": push.author}},
    }  # fmt: skip
    key = ".".join(["primary", job.task_id, str(job.retry_id), worker_group, worker_id, provisioner,
                    worker_type, scheduler_id(push.repo), group, "_"])  # fmt: skip
    return ROOT + exchange, key, body, [f"route.tc-treeherder.v2.{push.repo}.{push.revision}"]


def group_message(push: FakePush) -> tuple[str, str, dict[str, Any], list[str]]:
    """(exchange, routing key, body, CC routes) of the message saying the push's task group resolved."""
    group = push.decision.task_id if push.decision else slug(f"group:{push.id}")
    body = {"version": 1, "taskGroupId": group, "schedulerId": scheduler_id(push.repo)}
    return ROOT + "task-group-resolved", f"primary.{group}.{scheduler_id(push.repo)}._", body, []


class PulsePublisher:
    """Publishes the fake world's task resolutions (see the module docstring). Thread-safe."""

    def __init__(self, world: World, url: str, *, tick: float = TICK) -> None:
        self.world, self.url, self.tick = world, url, tick
        self.published: Counter[str] = Counter()  # messages per exchange (short name)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._producer: Any = None
        self._pushes: dict[int, FakePush] | None = None  # the world's pushes at the last look
        self._announced: set[int] = set()  # job ids whose end was published (or was past at the start)
        self._resolved: dict[int, int] = {}  # push id -> jobs it had when its resolution was published
        self._checked: dict[int, tuple[int, int, float]] = {}  # push id -> (version, jobs, next end)

    # --- running ------------------------------------------------------------------------------------

    def start(self) -> PulsePublisher:
        """Connect, declare the exchanges, note what has ended already, and publish from a thread."""
        with self._lock:
            self._connect()
            self._look(announce=False)
        self._thread = threading.Thread(target=self._run, name="fake-pulse", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            if self._conn is not None:
                self._conn.release()
                self._conn = None

    def sync(self) -> None:
        """Publish whatever has ended by now, in the calling thread."""
        with self._lock:
            self._look(announce=True)

    def publish(self, exchange: str, routing_key: str, body: bytes | str | dict, *,
                content_type: str = "application/json", cc: Iterable[str] = ()) -> None:  # fmt: skip
        """One message as it is (tests: malformed ones too). `exchange` may be the short name."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        name = exchange if exchange.startswith(ROOT) else ROOT + exchange
        with self._lock:
            self._connect()
            self._producer.publish(
                body, exchange=name, routing_key=routing_key, headers={"CC": list(cc)} if cc else {},
                content_type=content_type, content_encoding="utf-8", delivery_mode=2, retry=True,
                retry_policy=RETRY_POLICY,
            )  # fmt: skip
            self.published[name.removeprefix(ROOT)] += 1

    def _connect(self) -> Connection:
        if self._conn is None:
            self._conn = Connection(self.url, connect_timeout=10)
            channel = self._conn.default_channel
            for name in EXCHANGES:
                Exchange(ROOT + name, type="topic", durable=True)(channel).declare()
            self._producer = self._conn.Producer()
        return self._conn

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.sync()
            except Exception:  # RabbitMQ gone for longer than the retries: keep trying
                logger.exception("The fake's Pulse publisher failed; trying again")
                with self._lock:
                    if self._conn is not None:
                        self._conn.release()
                    self._conn = None
                self._stop.wait(1.0)

    # --- watching the world ---------------------------------------------------------------------------

    def _look(self, *, announce: bool) -> None:
        """Publish the end of every job that ended since the last look, and the resolution of every
        push whose jobs have all ended. A reset world starts afresh, announcing nothing past."""
        world = self.world
        world.arrivals()
        with world._lock:
            now = world.now()
            if world.pushes is not self._pushes:
                self._pushes, self._checked = world.pushes, {}
                self._announced.clear()
                self._resolved.clear()
                announce = False
            messages = []
            for push in list(world.pushes.values()):
                messages += self._ended(push, now, announce)
        for exchange, key, body, cc in messages:
            self.publish(exchange, key, body, cc=cc)

    def _ended(self, push: FakePush, now: float, announce: bool) -> list[tuple[str, str, dict, list[str]]]:
        checked = self._checked.get(push.id)
        if checked is not None and checked[:2] == (push.version, len(push.jobs)) and now < checked[2]:
            return []  # nothing changed outside the timeline, and no job's end has come yet
        messages = []
        next_end, running = float("inf"), 0  # a job held running never ends: its end_at is infinite
        for job in push.jobs:
            if job.id in self._announced:
                continue
            if job.end_at <= now:
                self._announced.add(job.id)
                if announce:
                    messages.append(task_message(push, job))
            else:
                next_end, running = min(next_end, job.end_at), running + 1
        self._checked[push.id] = (push.version, len(push.jobs), next_end)
        all_ended = not running and push.jobs and push.push_timestamp <= now
        if all_ended and self._resolved.get(push.id) != len(push.jobs):
            self._resolved[push.id] = len(push.jobs)  # resolved again once jobs added later end
            if announce:
                messages.append(group_message(push))
        return messages
