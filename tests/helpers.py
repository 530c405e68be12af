"""Shared test helpers."""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import pytest

from fakeherder import load_recording as recording  # noqa: F401 - a real answer, see recordings/PROVENANCE.md

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.test import Client


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


# --- Users: tests/conftest.py's alice and bob, and anyone else a test needs -----------------------------

# alice's Taskcluster credentials (the `alice_creds` fixture): a client id as Mozilla's SSO issues them.
TASKCLUSTER_CLIENT_ID = "mozilla-auth0/ad|Mozilla-LDAP|alice/buildwatch"
TASKCLUSTER_TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_Wxyz"


def make_user(name: str, email: str | None = None, **user_settings: object) -> User:
    """A user `name` (email `name@example.com` unless given) with these settings: UserSettings fields,
    and `<channel>_enabled` for a channel's switch. No password: tests sign in with force_login, and
    hashing one costs half a second."""
    from django.contrib.auth import get_user_model

    from accounts.models import UserSettings
    from notifications import channels

    user = get_user_model().objects.create_user(name, email or f"{name}@example.com")
    for channel in channels.CHANNELS:
        if f"{channel}_enabled" in user_settings:
            set_channel(user, channel, bool(user_settings.pop(f"{channel}_enabled")))
    if user_settings:
        UserSettings.objects.update_or_create(user=user, defaults=user_settings)
    return user


def signed_in(user: User, **client_options: Any) -> Client:
    """A Django test client (`Client(**client_options)`, e.g. enforce_csrf_checks=True) signed in as
    `user`. The browser tests' `signed_in` fixture does the same for a browser."""
    from django.test import Client

    client = Client(**client_options)
    client.force_login(user)
    return client


# --- HTML, parsed: assertions on elements and attributes, not on how the template spelled them ----------

# What an attribute is matched against: a value (for `class`, the same classes in any order), True
# (present), a pattern (the whole value matches), or a predicate on the value (e.g. `has_class`).
AttrMatch = str | bool | re.Pattern[str] | Callable[[str], bool]

VOID_ELEMENTS = frozenset(
    "area base br col embed hr img input link meta source track wbr".split()
)  # fmt: skip


class Element:
    """An element of parsed HTML: `tag`, `attrs` (names lowercase, values with entities decoded, a bare
    attribute's value ""), `children` (elements and text, in document order), and its markup exactly as
    it came: `start_tag`, and `source` from start tag to end tag (for a test that checks escaping or
    compares bytes)."""

    def __init__(self, tag: str, attrs: dict[str, str], start_tag: str = "") -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Element | str] = []
        self.start_tag = self.source = start_tag

    def __repr__(self) -> str:
        attrs = "".join(f' {name}="{value}"' for name, value in self.attrs.items())
        return f"<{self.tag}{attrs}>"

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        """Every text inside, entities decoded, as the page has it (whitespace included)."""
        return "".join(child if isinstance(child, str) else child.text for child in self.children)

    @property
    def elements(self) -> list[Element]:
        """The child elements, without the text between them."""
        return [child for child in self.children if isinstance(child, Element)]

    def iter(self) -> Iterator[Element]:
        """Every element inside, in document order (not this one)."""
        for child in self.elements:
            yield child
            yield from child.iter()

    def matches(self, tag: str | None = None, /, **attrs: AttrMatch) -> bool:
        """Of this tag (any, if None) with these attributes: `class_="a b"` is `class`, `hx_get` is
        `hx-get`, `data_push_id` is `data-push-id`."""
        if tag is not None and self.tag != tag:
            return False
        for key, expected in attrs.items():
            name = key.rstrip("_").replace("_", "-")
            value = self.attrs.get(name)
            if value is None:
                if expected is not False:
                    return False
            elif expected is False:
                return False
            elif expected is True:
                continue
            elif isinstance(expected, re.Pattern):
                if not expected.fullmatch(value):
                    return False
            elif callable(expected):
                if not expected(value):
                    return False
            elif name == "class":
                if set(value.split()) != set(expected.split()):
                    return False
            elif value != expected:
                return False
        return True

    def find_all(self, tag: str | None = None, /, **attrs: AttrMatch) -> list[Element]:
        """Every element inside that `matches(tag, **attrs)`, in document order."""
        return [element for element in self.iter() if element.matches(tag, **attrs)]

    def one(self, tag: str | None = None, /, **attrs: AttrMatch) -> Element:
        """The one element inside that matches; an assertion error (naming what was asked) if there is
        none or more than one."""
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} elements {tag or '*'} {attrs}, not one: {found[:5]}"
        return found[0]

    def first(self) -> Element:
        """The first element at the top, with nothing but whitespace before it: what a fragment starts
        with."""
        for child in self.children:
            if isinstance(child, Element):
                return child
            assert not child.strip(), f"text before the first element: {child[:80]!r}"
        raise AssertionError("no element")


def has_class(name: str) -> Callable[[str], bool]:
    """For `class_=`: the element has the class `name`, whatever others it has."""
    return lambda value: name in value.split()


class _TreeBuilder(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", html)]
        self.root = Element("#document", {}, html)
        self.open: list[tuple[Element, int]] = [(self.root, 0)]

    def _offset(self) -> int:
        """Where the tag being handled starts in `html`."""
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def _add(self, tag: str, attrs: list[tuple[str, str | None]]) -> tuple[Element, int]:
        start = self._offset()
        tag_text = self.get_starttag_text() or ""
        element = Element(tag, {name: value or "" for name, value in attrs}, tag_text)
        self.open[-1][0].children.append(element)
        return element, start

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element, start = self._add(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.open.append((element, start))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        # Closes the innermost open element of that tag (and any left open inside it, up to here); a
        # stray end tag closes nothing, as in a browser.
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth][0].tag == tag:
                end = self.html.index(">", self._offset()) + 1
                self._close(depth, end)
                return

    def _close(self, depth: int, end: int) -> None:
        for element, start in self.open[depth:]:
            element.source = self.html[start:end]
        del self.open[depth:]

    def handle_data(self, data: str) -> None:
        self.open[-1][0].children.append(data)

    def close(self) -> None:
        super().close()
        self._close(1, len(self.html))


def parse_html(html: str | bytes) -> Element:
    """A page or fragment as a tree of `Element`s under a root "#document" (the stdlib's html.parser:
    tolerant, no dependency). Assertions on it hold whatever the attribute order, quoting or spacing."""
    html = html.decode() if isinstance(html, bytes) else html
    builder = _TreeBuilder(html)
    builder.feed(html)
    builder.close()
    return builder.root


def open_push_page(page: Any, url: str) -> None:
    """In a browser test, go to a push page and wait until its live section (badge, totals, groups) is
    there: a page not all cached arrives as its shell, which loads that section as a fragment."""
    page.goto(url)
    page.locator("#push-live:not([data-shell])").wait_for(state="attached")
