"""Browser-test fixtures: one headless Chromium per test module (Debian's, driven by Playwright for Python),
the app served by pytest-django's `live_server` against the session's fake Treeherder (tests/conftest.py).

Use them as:  def test_x(page, app, fake_treeherder): page.goto(app.url("/try/"))
(`app` needs `fake_treeherder`, scenario "quick" unless a module overrides the `fake_scenario` fixture;
its clock stands still: only `fake_treeherder.advance(seconds)` moves jobs along.)
`signed_in` puts a session cookie for a user into the page's context.
Chromium or Playwright missing: the tests skip (fail with BUILDWATCH_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fakeherder import FakeTreeherder

from ..helpers import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Short enough that a test sees a live refresh quickly, long enough for a 2-core machine.
BROWSER_REFRESH_SECONDS = 1


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    """One Chromium per test module. Module-scoped rather than session-scoped because only one Playwright
    sync API can run per thread: a module that starts its own (tests/browser/test_webpush_browser.py)
    must not overlap ours. Playwright's sync API runs an event loop in this thread, so the ORM's
    async-safety check is relaxed while it runs (the tests themselves stay synchronous)."""
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright for Python is not installed (pip install -e '.[test]')")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_context(playwright_browser: Any, app: App) -> Iterator[Any]:
    # Depends on `app` so the tab closes (and stops polling) before the settings it reads are restored.
    context = playwright_browser.new_context(locale="en-US", timezone_id="UTC")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context: Any) -> Any:
    """A fresh tab; JavaScript errors on the page are collected in `page.js_errors`."""
    tab = browser_context.new_page()
    tab.js_errors = []
    tab.on("pageerror", lambda error: tab.js_errors.append(str(error)))
    return tab


@pytest.fixture
def page_without_javascript(playwright_browser: Any, app: App) -> Iterator[Any]:
    """A tab of a browser with JavaScript off."""
    context = playwright_browser.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@dataclass
class App:
    live_server: Any

    def url(self, path: str) -> str:
        return f"{self.live_server.url}{path}"


@pytest.fixture
def app(
    live_server: Any, fake_treeherder: FakeTreeherder, settings: Any, transactional_db: None
) -> Iterator[App]:
    """The app on `live_server`, reading the fake Treeherder, refreshing every BROWSER_REFRESH_SECONDS."""
    from pushes import reads

    settings.TREEHERDER_URL = fake_treeherder.url
    settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    settings.BUILDWATCH_REFRESH_SECONDS = BROWSER_REFRESH_SECONDS
    settings.ALLOWED_HOSTS = ["*"]
    yield App(live_server)
    # The tab is closed by now (browser_context depends on app); the reads its last requests started in
    # the background finish against the fake, before the settings pointing at it are restored.
    reads.prefetched(timeout=30)


@pytest.fixture
def signed_in(browser_context: Any, live_server: Any, transactional_db: None) -> Callable[[Any], None]:
    """signed_in(user): the browser context now carries a session of that user for live_server."""
    from django.conf import settings as django_settings
    from django.test import Client

    def sign_in(user: Any) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
        browser_context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])

    return sign_in
