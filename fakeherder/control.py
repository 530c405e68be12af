"""The fake's control endpoints under `/__fake__/` (not counted in the request log):

GET /__fake__/state, POST /__fake__/advance?seconds=N, POST /__fake__/reset?scenario=NAME,
POST /__fake__/finish?push_id=N[&failures=K], POST /__fake__/down?on=1, POST /__fake__/garbage?on=1,
POST /__fake__/latency?seconds=X, GET /__fake__/requests, POST /__fake__/clear-requests,
GET /__fake__/triggers, POST /__fake__/add-push?size=N[&hold=running][&author=EMAIL] (answers its push_id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import HttpError

if TYPE_CHECKING:
    from .server import FakeTreeherder

PREFIX = "/__fake__/"


def answer(fake: FakeTreeherder, method: str, path: str, query: dict[str, str]) -> Any:
    action = path.removeprefix(PREFIX).strip("/")
    on = query.get("on", "1") not in ("0", "false", "off", "")
    try:
        if action == "state" and method == "GET":
            return fake.state()
        if action == "requests" and method == "GET":
            return {"count": fake.request_count, "requests": [f"{m} {p}" for m, p in list(fake.requests)]}
        if action == "triggers" and method == "GET":
            return fake.triggers
        if method != "POST":
            raise HttpError(405, {"detail": f"POST /__fake__/{action}"})
        if action == "advance":
            fake.advance(float(query.get("seconds", "60")))
        elif action == "reset":
            fake.reset(query.get("scenario") or None)
        elif action == "finish":
            failures = query.get("failures")
            fake.finish_push(int(query["push_id"]), int(failures) if failures not in (None, "") else None)
        elif action == "down":
            fake.set_down(on)
        elif action == "garbage":
            fake.set_garbage(on)
        elif action == "latency":
            fake.set_latency(float(query.get("seconds", "0")))
        elif action == "clear-requests":
            fake.clear_requests()
        elif action == "add-push":
            options = {"hold": query["hold"]} if query.get("hold") else {}
            if query.get("author"):
                options["author"] = query["author"]
            return {"push_id": fake.add_push(size=int(query.get("size", "12")), **options)}
        else:
            raise HttpError(404, {"detail": f"unknown control {action!r}"})
    except (KeyError, ValueError) as error:
        raise HttpError(400, {"detail": str(error)}) from None
    return fake.state()
