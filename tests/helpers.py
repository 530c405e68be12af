"""Shared test helpers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from fakeherder import load_recording as recording  # noqa: F401 - a real answer, see recordings/PROVENANCE.md


def services_required() -> bool:
    return os.environ.get("BUILDWATCH_REQUIRE_SERVICES", "") not in ("", "0")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose outside service is missing — unless CI demands it, then fail loudly."""
    if services_required():
        pytest.fail(f"BUILDWATCH_REQUIRE_SERVICES is set, but: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """The DSN of a new PostgreSQL database, dropped afterwards. Skips (fails with
    BUILDWATCH_REQUIRE_SERVICES=1) when PostgreSQL is not on 127.0.0.1."""
    if not port_open(*POSTGRES):
        skip_or_fail(f"PostgreSQL is not answering on {POSTGRES[0]}:{POSTGRES[1]}")
    import psycopg

    database = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{database}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def scratch_postgres_and_redis(prefix: str, redis_db: int) -> Iterator[tuple[str, str]]:
    """(dsn, redis_url): a new PostgreSQL database and an emptied Redis database, dropped and emptied
    afterwards. Skips (fails with BUILDWATCH_REQUIRE_SERVICES=1) when either is not on 127.0.0.1."""
    if not port_open(*POSTGRES):
        skip_or_fail(f"PostgreSQL is not answering on {POSTGRES[0]}:{POSTGRES[1]}")
    if not port_open(*REDIS):
        skip_or_fail(f"Redis is not answering on {REDIS[0]}:{REDIS[1]}")
    import redis

    redis_url = f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    try:
        with scratch_postgres(prefix) as dsn:
            yield dsn, redis_url
    finally:
        redis.Redis.from_url(redis_url).flushdb()


# The least a production deployment sets (DEBUG=0 needs a real key, hosts and an https site URL).
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "buildwatch.example.com",
    "SITE_URL": "https://buildwatch.example.com",
}


def set_channel(user: object, channel: str, enabled: bool, **config: str) -> None:
    """Store a user's settings of one notification channel (on/off and its config), as /settings/ does."""
    from notifications.models import ChannelSettings

    ChannelSettings.objects.update_or_create(
        user=user, channel=channel, defaults={"enabled": enabled, "config": config}
    )


def channel_of(user: object, channel: str) -> object:
    """A user's settings of one notification channel: stored, or the channel's defaults."""
    from notifications.models import ChannelSettings

    return ChannelSettings.of(user, channel)


def open_push_page(page: Any, url: str) -> None:
    """In a browser test, go to a push page and wait until its live section (badge, totals, groups) is
    there: a page not all cached arrives as its shell, which loads that section as a fragment."""
    page.goto(url)
    page.locator("#push-live:not([data-shell])").wait_for(state="attached")
