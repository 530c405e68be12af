"""Test-wide fixtures. No test may reach the network: only loopback connections are allowed (the fake
Treeherder, a local SMTP server, PostgreSQL/Redis, the browser), and `responses` serves the rest."""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import time_machine

from fakeherder import FakeTreeherder
from tests.helpers import TASKCLUSTER_CLIENT_ID, TASKCLUSTER_TOKEN, make_user, signed_in

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.test import Client

    from accounts.models import TaskclusterCredentials

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


# --- `make test QUICK=1` (BUILDWATCH_QUICK=1): the browser and homeserver tests are skipped, and counted ---

QUICK_REASONS = {
    "browser": "browser test: QUICK=1 runs no Chromium",
    "homeserver": "homeserver test: QUICK=1 starts no Synapse",
}
_quick_skipped: dict[str, str] = {}  # node id -> kind, for the closing line
_quick_counts: dict[str, int] = {}


def _quick() -> bool:
    return os.environ.get("BUILDWATCH_QUICK", "") not in ("", "0")


def _quick_kind(item: pytest.Item) -> str | None:
    if item.get_closest_marker("browser"):
        return "browser"
    if "synapse" in getattr(item, "fixturenames", ()):  # tests/notifications/test_matrix.py's homeserver
        return "homeserver"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _quick():
        return
    for item in items:
        kind = _quick_kind(item)
        if kind:
            item.add_marker(pytest.mark.skip(reason=QUICK_REASONS[kind]))
            _quick_skipped[item.nodeid] = kind


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and report.when == "setup" and report.nodeid in _quick_skipped:
        kind = _quick_skipped[report.nodeid]
        _quick_counts[kind] = _quick_counts.get(kind, 0) + 1


def _tests(count: int, kind: str = "") -> str:
    return f"{count} {kind + ' ' if kind else ''}test{'' if count == 1 else 's'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    """After pytest's own summary line, so it is the run's last line: what QUICK=1 left out, and why."""
    if not _quick():
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    browser, homeserver = _quick_counts.get("browser", 0), _quick_counts.get("homeserver", 0)
    line = (
        f"QUICK=1 skipped {_tests(browser + homeserver)}: {_tests(browser, 'browser')} (no Chromium run) "
        f"and {_tests(homeserver, 'homeserver')} (no Synapse started); `make test` runs them all."
    )
    if reporter is not None:
        reporter.write_line(line, yellow=True, bold=True)
    else:
        print(line)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory
) -> None:
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
def clear_cache() -> Iterator[None]:
    from django.core.cache import cache

    from pushes import reads

    cache.clear()
    yield
    # A push page's shell reads in the background (reads.prefetch): none runs on into the next test.
    reads.prefetched(timeout=30)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Time stands still at the real now for this test; `clock.shift(seconds)` moves it on.

    Tests fake time one way: time-machine (this fixture, or their own `time_machine.travel`), never by
    monkeypatching `time.time` or `timezone.now`. It moves Django's clock, the cache's expiry and, at
    speed 1, the fake Treeherder's jobs together (see `fake_treeherder`)."""
    with time_machine.travel(time.time(), tick=False) as traveller:
        yield traveller


@pytest.fixture
def mocked_responses():
    """`responses` with every registered URL required to be called; unregistered URLs raise (and are still
    recorded in `.calls`). A test that must register a URL it may not call sets
    `mocked_responses.assert_all_requests_are_fired = False` and says why."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


# --- alice and bob: the users of every test that needs one or two ----------------------------------------


@pytest.fixture
def alice(db: None) -> User:
    """alice@mozilla.com, with no password (sign in with force_login, or `alice_client`). A module that
    signs in through the form overrides this fixture to give her one."""
    return make_user("alice", "alice@mozilla.com")


@pytest.fixture
def bob(db: None) -> User:
    """bob@mozilla.com, the other user: what alice owns, bob must not see or touch."""
    return make_user("bob", "bob@mozilla.com")


@pytest.fixture
def alice_client(alice: User) -> Client:
    return signed_in(alice)


@pytest.fixture
def bob_client(bob: User) -> Client:
    return signed_in(bob)


@pytest.fixture
def alice_creds(alice: User) -> TaskclusterCredentials:
    """alice's Taskcluster credentials (TASKCLUSTER_CLIENT_ID, TASKCLUSTER_TOKEN), stored as the
    settings page stores them: what retrigger and confirm act with."""
    from accounts.models import TaskclusterCredentials

    creds = TaskclusterCredentials(user=alice, client_id=TASKCLUSTER_CLIENT_ID)
    creds.set_access_token(TASKCLUSTER_TOKEN)
    creds.save()
    return creds


# --- The fake Treeherder: one server for the whole session, reset for each test that asks for it ---------


@pytest.fixture(scope="session")
def fake_treeherder_server() -> Iterator[FakeTreeherder]:
    """The session's one fake Treeherder (and Taskcluster) over real HTTP on a loopback port. Tests take
    `fake_treeherder` (reset for them); module-scoped fixtures reset it themselves."""
    fake = FakeTreeherder("quick", speed=0)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_scenario() -> str:
    """Override in a test module to serve another scenario (fakeherder/scenarios.py)."""
    return "quick"


@pytest.fixture
def fake_start_time() -> float | None:
    """Override in a test module to start the fake's scenario at a fixed simulated time (epoch seconds)."""
    return None


@pytest.fixture
def fake_treeherder(
    fake_treeherder_server: FakeTreeherder, fake_scenario: str, fake_start_time: float | None
) -> FakeTreeherder:
    """The session's fake, started over for this test: `fake_scenario` rebuilt at `fake_start_time`, no
    failure mode, empty request log, no triggers, no latency, and its clock standing still (speed 0).

    Tests fake time one way, with time-machine. The fake's clock reads `time.time()`, so a test that
    sets `fake_treeherder.reset(speed=1)` inside a `time_machine.travel(...)` moves Treeherder's jobs and
    BuildWatch's clock together. `fake_treeherder.advance(seconds)` moves only the fake, for a world
    that BuildWatch reads across threads or processes (the browser, the real stack, `make demo`)."""
    fake_treeherder_server.set_latency(0)
    fake_treeherder_server.reset(fake_scenario, speed=0, start_time=fake_start_time)
    return fake_treeherder_server


TRIAGE_T0 = 1_795_000_000  # the triage scenario's fixed simulated start: every answer is reproducible


@pytest.fixture
def triage_upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    """The session's fake on its `triage` scenario (try pushes of 300 failed jobs, their base pushes on
    autoland) at TRIAGE_T0, and BuildWatch pointed at it."""
    fake_treeherder.reset("triage", start_time=TRIAGE_T0)
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder
