"""The per-user watch cap holds when a user's Watch requests arrive at once: real concurrent requests, each
in its own thread with its own database connection, against pushes the fake Treeherder serves over HTTP.
The main suite runs this on SQLite; tests/notifications/test_on_postgres.py runs it again on PostgreSQL,
production's database, where the cap is kept by a lock on the user's row."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from fakeherder import FakeTreeherder
from notifications.models import Watch

pytestmark = pytest.mark.django_db(transaction=True)  # each thread's connection sees the committed user

CAP = 2
REQUESTS = 10
HTMX = {"HX-Request": "true"}


def post_at_once(cookies: dict[str, str], paths: list[str]) -> list[int]:
    """POST every path from its own thread, released together; the status codes, in order of `paths`."""
    start = threading.Barrier(len(paths))
    statuses: list[int] = [0] * len(paths)
    errors: list[BaseException] = []

    def post(index: int, path: str) -> None:
        client = Client()
        for name, value in cookies.items():
            client.cookies[name] = value
        try:
            start.wait(timeout=30)
            statuses[index] = client.post(path, headers=HTMX).status_code
        except BaseException as problem:  # reported by the test, not lost in the thread
            errors.append(problem)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(n, path)) for n, path in enumerate(paths)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return statuses


def test_concurrent_watch_requests_never_pass_the_cap(
    fake_treeherder: FakeTreeherder, settings, alice: User, alice_client: Client
) -> None:
    settings.TREEHERDER_URL = fake_treeherder.url
    settings.BUILDWATCH_MAX_WATCHES_PER_USER = CAP
    push_ids = [fake_treeherder.add_push(author="alice@mozilla.com") for _ in range(REQUESTS)]
    alice_client.get("/try/")  # the repository list, read once before: the ten requests start together
    cookies = {name: morsel.value for name, morsel in alice_client.cookies.items()}

    statuses = post_at_once(cookies, [f"/try/pushes/{push_id}/watch/" for push_id in push_ids])

    assert sorted(statuses) == [200] * CAP + [409] * (REQUESTS - CAP), statuses
    assert Watch.objects.filter(user=alice).count() == CAP
    # Every refused request told why, and a push already watched may still be watched again.
    watched = Watch.objects.filter(user=alice).values_list("push_id", flat=True)
    again = post_at_once(cookies, [f"/try/pushes/{push_id}/watch/" for push_id in watched])
    assert again == [200] * CAP and Watch.objects.filter(user=alice).count() == CAP
