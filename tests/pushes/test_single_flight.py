"""Single-flight reads: 20 browsers opening the same push at once, against the real multi-threaded live
server and a slow fake Treeherder counting requests, cost Treeherder one fetch of the push — on an empty
cache and again when the cached copy expires — with the local-memory cache and with Redis.

Time stands still (`clock`) while the viewers pile up, so no copy expires under a slow machine; then it
moves past the copy's life: time-machine moves the app's clock and so the local-memory cache's, and
`age_redis` does to the Redis keys what those seconds of Redis's own clock would do."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from fakeherder import FakeTreeherder

from ..helpers import REDIS, port_open, skip_or_fail

VIEWERS = 20


@pytest.fixture
def slow_fake(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    fake_treeherder.set_latency(0.3)  # a fetch takes long enough for every viewer to pile up
    settings.TREEHERDER_URL = settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    settings.BUILDWATCH_REFRESH_SECONDS = 5  # cached copies of a running push last 4 s: one interval
    settings.ALLOWED_HOSTS = ["*"]
    return fake_treeherder


def all_at_once(url: str) -> list[requests.Response]:
    barrier = threading.Barrier(VIEWERS)

    def one(_: int) -> requests.Response:
        barrier.wait()
        return requests.get(url, timeout=60)

    with ThreadPoolExecutor(VIEWERS) as pool:
        return list(pool.map(one, range(VIEWERS)))


def fetches(fake: FakeTreeherder, push_id: int) -> dict[str, int]:
    return {
        "jobs": len(fake.request_paths(f"/api/jobs/?push_id={push_id}&")),
        "push": len(fake.request_paths(f"/api/project/try/push/{push_id}/")),
        "decision": len(fake.request_paths("/push/decisiontask/")),
    }


def check_one_fetch_per_interval(live_server, fake: FakeTreeherder, later: Callable[[float], None]) -> None:
    """`later(seconds)` moves the app's clock and its cache's on by that much."""
    push_id = fake.push_id("failing")  # running, with failures: short-lived copies, failure logs read
    url = f"{live_server.url}/try/pushes/{push_id}/"
    cold = all_at_once(url)
    assert [response.status_code for response in cold] == [200] * VIEWERS
    assert all("push-live" in response.text for response in cold)
    assert fetches(fake, push_id) == {"jobs": 1, "push": 1, "decision": 1}
    logs = fake.request_paths("/bug_suggestions/")
    assert len(logs) == len(set(logs))  # each failed job's log read once, not once per viewer

    later(4.2)  # the running push's copy has expired: one viewer refreshes it, for everyone
    fake.clear_requests()
    warm = all_at_once(url)
    assert [response.status_code for response in warm] == [200] * VIEWERS
    assert fetches(fake, push_id)["jobs"] == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_viewers_at_once_cost_one_fetch_with_the_local_memory_cache(live_server, slow_fake, clock):
    check_one_fetch_per_interval(live_server, slow_fake, clock.shift)


def age_redis(url: str, prefix: str, seconds: float) -> None:
    """What `seconds` of Redis's clock do to the keys under `prefix`: each key's time to live is that much
    shorter, and a key with no more than that left is gone."""
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{prefix}:*"):
        left = client.pttl(key)  # milliseconds; -1: no expiry, -2: gone meanwhile
        if left > seconds * 1000:
            client.pexpire(key, left - int(seconds * 1000))
        elif left >= 0:
            client.delete(key)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_twenty_viewers_at_once_cost_one_fetch_with_redis(live_server, slow_fake, settings, clock):
    if not port_open(*REDIS):
        skip_or_fail(f"Redis is not answering on {REDIS[0]}:{REDIS[1]}")
    url, prefix = f"redis://{REDIS[0]}:{REDIS[1]}/7", f"single-flight-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,  # a fresh, empty namespace
        }
    }

    def later(seconds: float) -> None:
        clock.shift(seconds)
        age_redis(url, prefix, seconds)

    check_one_fetch_per_interval(live_server, slow_fake, later)
