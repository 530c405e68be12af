"""A running push's estimated finish in a real browser (headless Debian Chromium) against the fake's
default scenario: the push list shows it on the first visit, in the browser's time zone (its `bw_tz`
cookie), without breaking the status cell at phone width; the push page's header and tab title follow
each live refresh, and drop it once the push is finished."""

from __future__ import annotations

import re

import pytest

from ..helpers import open_push_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ETA = re.compile(r"ETA (\d\d:\d\d) \(\d\d:\d\d–\d\d:\d\d\)")


@pytest.fixture
def fake_scenario() -> str:
    return "default"


@pytest.fixture
def tokyo(playwright_browser, app):
    context = playwright_browser.new_context(locale="en-US", timezone_id="Asia/Tokyo")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.js_errors = []
    tab.on("pageerror", lambda error: tab.js_errors.append(str(error)))
    yield tab
    context.close()


def cell_eta(page, push_id: int):
    return page.locator(f"#status-{push_id} .eta")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_list_shows_running_pushes_etas_on_the_first_visit_in_the_browsers_zone(
    tokyo, app, fake_treeherder, width
):
    tokyo.set_viewport_size({"width": width, "height": 900})
    tokyo.goto(app.url("/try/?author="))
    running, decision = fake_treeherder.push_id("running"), fake_treeherder.push_id("decision")
    eta = cell_eta(tokyo, running)
    eta.wait_for()
    assert ETA.fullmatch(eta.inner_text())  # learned from the list's finished pushes at once
    assert "JST" in eta.get_attribute("title")  # Intl's zone, sent back in the bw_tz cookie
    assert {c["name"]: c["value"] for c in tokyo.context.cookies()}["bw_tz"] == "Asia/Tokyo"
    assert cell_eta(tokyo, decision).inner_text() == "no estimate yet"  # its decision task still runs
    box, cell = eta.bounding_box(), tokyo.locator(f"#status-{running}").bounding_box()
    assert box["x"] + box["width"] <= cell["x"] + cell["width"] + 1 <= width  # on one line, inside
    assert box["height"] < 30
    assert tokyo.js_errors == []


def test_the_header_and_tab_title_follow_the_live_refresh(page, app, fake_treeherder):
    page.goto(app.url("/try/?author="))  # the list reads the finished pushes: the history
    running = fake_treeherder.push_id("running")
    cell_eta(page, running).wait_for()

    open_push_page(page, app.url(f"/try/pushes/{running}/"))
    header = page.locator("#push-eta")
    page.wait_for_function("() => /^ETA /.test(document.querySelector('#push-eta').innerText)")
    first = ETA.fullmatch(header.inner_text())
    assert first and f"ETA {first[1]} · " in page.title()

    counts = page.locator("#push-totals .counts").inner_text()
    fake_treeherder.advance(150)
    page.wait_for_function(
        "t => document.querySelector('#push-totals .counts').innerText !== t", arg=counts, timeout=15_000
    )
    # The header follows the new poller once the refresh has settled (push.js, htmx:afterSettle).
    page.wait_for_function(
        "() => document.querySelector('#push-eta').innerText === document.querySelector('#push-poll').dataset.eta"
    )
    poll_eta = page.locator("#push-poll").get_attribute("data-eta")
    assert header.inner_text() == poll_eta and ETA.fullmatch(poll_eta)
    assert f"ETA {ETA.fullmatch(poll_eta)[1]} · " in page.title()

    fake_treeherder.advance(3600)  # every job done
    page.wait_for_function(  # finished: the totals stop saying they refresh
        "() => !document.querySelector('#push-totals .updated').innerText.includes('refreshing')",
        timeout=15_000,
    )
    header.wait_for(state="hidden")  # no ETA once finished
    page.wait_for_function("() => !document.title.includes('ETA')")
    assert page.js_errors == []
