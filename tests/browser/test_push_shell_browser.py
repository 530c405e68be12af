"""The push page's shell in a real browser (headless Debian Chromium) against the fake Treeherder: a cold
page paints at once with "reading…" in each part, then the badge arrives and the tab title and favicon
follow it; a part whose Treeherder read fails, or whose request BuildWatch fails to answer, says so in
its own place; a warm page arrives whole; without JavaScript the page arrives whole."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import open_push_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 10


class Held:
    """Holds the push page's fragment requests (htmx's) until `release()`: the test sees the shell as
    first painted, however fast the fragments would answer."""

    def __init__(self, page, push_id: int) -> None:
        self.page, self.routes, self.holding = page, [], True
        page.route(re.compile(rf"/try/pushes/{push_id}/"), self._route)

    def _route(self, route) -> None:
        if self.holding and route.request.headers.get("hx-request"):
            self.routes.append(route)
        else:
            route.continue_()

    def wait_for(self, count: int) -> None:
        for _ in range(WAIT_SECONDS * 20):
            if len(self.routes) >= count:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"{len(self.routes)} fragment requests, expected {count}")

    def release(self) -> None:
        self.holding = False
        for route in self.routes:
            route.continue_()


def favicon(page) -> str:
    return page.locator("#favicon").get_attribute("href")


def test_a_cold_page_paints_reading_then_the_badge_title_and_favicon_arrive(page, app, fake_treeherder):
    failed = fake_treeherder.push_id("failed")
    held = Held(page, failed)
    page.goto(app.url(f"/try/pushes/{failed}/"))
    held.wait_for(3)  # the header, the live section, the failure summary
    for part in ("#push-header", "#push-live", "#failures"):
        expect(page.locator(f"{part} .reading")).to_contain_text("reading…")
    expect(page.locator("#push-totals .badge")).to_have_text("reading…")
    assert page.title() == f"Reading… · push {failed} · try · BuildWatch"
    assert favicon(page).endswith("/favicon.svg")

    held.release()
    badge = page.locator("#push-totals .badge")
    expect(badge).not_to_have_text("reading…")
    verdict = badge.inner_text()
    assert badge.get_attribute("data-verdict") == "failing" and verdict.startswith("✗ ")
    expect(page).to_have_title(re.compile(rf"^{re.escape(verdict)} · Bug 1800003 - .* · try · BuildWatch$"))
    expect(page.locator("#favicon")).to_have_attribute("href", re.compile(r"favicon-failing\.svg$"))
    expect(page.locator("#push-header h1")).to_have_text(re.compile(r"^Bug 1800003 - Rewrite IndexedDB"))
    expect(page.locator("#failures[data-digest] .triage-line")).to_be_visible()
    expect(page.locator("#push-live details.group[open]").first).to_be_visible()  # failing groups open
    assert page.locator(".reading").count() == 0
    assert page.locator("#request-status").is_hidden()
    assert page.js_errors == []


def test_a_part_whose_treeherder_read_fails_says_so_in_its_place(page, app, fake_treeherder):
    failed = fake_treeherder.push_id("failed")
    fake_treeherder.fail_path("/api/jobs/", 500)  # the push answers, its jobs do not
    page.goto(app.url(f"/try/pushes/{failed}/"))
    expect(page.locator("#push-header h1")).to_have_text(re.compile(r"^Bug 1800003"))
    expect(page.locator("#push-live [role=alert]")).to_contain_text("Treeherder did not answer")
    expect(page.locator("#failures [role=alert]")).to_contain_text("the failure summary is not available yet")
    assert page.locator("#push-header [role=alert]").count() == 0
    assert page.locator("#request-status").is_hidden()
    assert page.js_errors == []


def test_a_part_buildwatch_fails_to_answer_says_so_in_its_place(page, app, fake_treeherder):
    failed = fake_treeherder.push_id("failed")
    page.route(re.compile(r"/failures/$"), lambda route: route.fulfill(status=500, body="boom"))
    open_push_page(page, app.url(f"/try/pushes/{failed}/"))
    error = page.locator("#failures .banner-error[role=alert]")
    expect(error).to_contain_text("Could not read this part: BuildWatch answered HTTP 500.")
    assert error.locator("a").inner_text() == "Try again"
    assert error.locator("a").get_attribute("href") == f"/try/pushes/{failed}/failures/"
    expect(page.locator("#push-totals .badge")).not_to_have_text("reading…")  # the other parts are there
    assert page.locator("#request-status").is_hidden()  # said in its place, not in the page's banner


def test_a_warm_page_arrives_whole_in_one_response(page, app, fake_treeherder):
    green = fake_treeherder.push_id("green")
    open_push_page(page, app.url(f"/try/pushes/{green}/"))
    expect(page.locator("#failures[data-digest]")).to_be_attached()
    fragments = []
    page.on(
        "request",
        lambda request: fragments.append(request.url) if request.headers.get("hx-request") else None,
    )
    response = page.goto(app.url(f"/try/pushes/{green}/"))
    html = response.text()
    assert "data-shell" not in html and 'id="push-poll"' in html and 'data-digest="' in html
    expect(page.locator("#push-totals .badge")).to_have_text("✓ passed")
    assert page.title().startswith("✓ passed · ")
    assert fragments == []  # nothing loaded after it (a finished push's page does not poll)


def test_without_javascript_the_page_arrives_whole(page_without_javascript, app, fake_treeherder):
    page = page_without_javascript
    failed = fake_treeherder.push_id("failed")
    page.goto(app.url(f"/try/pushes/{failed}/"))
    page.wait_for_url(re.compile(r"\?whole=1$"))
    assert page.locator("#push-totals .badge").get_attribute("data-verdict") == "failing"
    assert page.locator("#push-live details.group").count() > 1
    assert page.locator("#failures[data-digest] .failure-group").count() > 0
    assert page.locator(".reading").count() == 0
    assert page.title().startswith("✗ ")
