"""Test-wide fixtures. No test may reach the network: only loopback connections are allowed (the fake
Treeherder, a local SMTP server, PostgreSQL/Redis, the browser), and `responses` serves the rest."""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkBlocked(RuntimeError):
    pass


def _guard(address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local(host):
        raise NetworkBlocked(f"test tried to reach {address!r}: unmocked network access is not allowed")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _guard(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _guard(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object):
    if isinstance(host, bytes):
        host = host.decode()
    if host is not None:
        _guard((host,))
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory) -> None:
    """The test database is a file, not SQLite's in-memory default. With an in-memory database every
    thread of the live server (browser tests: a page and its htmx requests arrive together) shares the
    test's one connection, which Django warns "may sometimes randomly cause the tests to fail" — seen
    here as a signed-in user's fragment rendered as anonymous. A file gives each thread its own."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(autouse=True)
def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def mocked_responses():
    """`responses` with every registered URL required to be called; unregistered URLs raise (and are still
    recorded in `.calls`). A test that must register a URL it may not call sets
    `mocked_responses.assert_all_requests_are_fired = False` and says why."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps
