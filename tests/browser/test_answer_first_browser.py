"""The push page answers "is it my fault?" first (issue 28), in Chromium at 1280 and 390 px against the fake
Treeherder: the failure summary above the platforms, the badge a link to the new failures, each new
failure's jobs with platform and option, its line in the log viewer, the raw log and "File a bug", the
known intermittents folded, groups failing only in known ways saying "known only", and a retrigger's
answer under its job without widening the page."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from ..helpers import open_push_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1280, 390]
SCREENS = os.path.join(os.path.dirname(__file__), "..", "..", "var", "screens")


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def screenshot(page, name: str) -> None:
    os.makedirs(SCREENS, exist_ok=True)
    page.screenshot(path=os.path.join(SCREENS, f"{name}.png"), full_page=True)
    page.screenshot(path=os.path.join(SCREENS, f"{name}-screen.png"))  # what the window shows


@pytest.mark.parametrize("width", WIDTHS)
def test_the_failure_summary_comes_before_the_platforms_and_the_badge_links_to_it(
    page, app, fake_treeherder, width
):
    failed = fake_treeherder.push_id("failed")
    page.set_viewport_size({"width": width, "height": 900})
    open_push_page(page, app.url(f"/try/pushes/{failed}/"))
    failures = page.locator("#failures")
    failures.locator(".failure-group").first.wait_for()

    def top(selector: str) -> float:
        return page.locator(selector).first.bounding_box()["y"]

    assert top("#push-totals") < top("#failures") < top(".job-tools") < top("#push-live details.group")
    assert top("#failures") < 900  # on the first screen, under the header and the badge
    badge = page.locator("#push-totals .badge")
    assert re.fullmatch(r"✗ \d+ new failures?", badge.inner_text())
    assert badge.get_attribute("href") == "#failures-new"
    new = page.locator("#failures-new")
    assert badge.inner_text().removeprefix("✗ ") in new.locator("h3").inner_text()  # they agree
    assert (
        page.locator("#failures .triage-line")
        .inner_text()
        .startswith(badge.inner_text().removeprefix("✗ ")[:1])
    )

    # Each new failure: its jobs with platform and option, the line in the log viewer, the raw log.
    group = new.locator(".failure-group").first
    job = group.locator(".failure-jobs li").first
    assert re.match(
        r"\S+ (opt|debug|asan|tsan|ccov|pgo|shippable)\b", job.locator("a.failure-job").inner_text()
    )
    line = job.locator("a.log-line")
    number = re.fullmatch(r"line (\d+)", line.inner_text()).group(1)
    assert parse_qs(urlsplit(line.get_attribute("href")).query)["lineNumber"] == [number]
    assert re.fullmatch(r"/try/jobs/\d+/log/", job.locator("a.raw-log").get_attribute("href"))
    # File a bug: Bugzilla's form, prefilled with the failure line and the push.
    bug = urlsplit(group.locator(".file-bug a").get_attribute("href"))
    assert (bug.netloc, bug.path) == ("bugzilla.mozilla.org", "/enter_bug.cgi")
    query = parse_qs(bug.query)
    assert query["short_desc"][0] in group.locator("pre.sample").inner_text()
    assert f"push {failed}" in query["comment"][0] and "lineNumber=" in query["comment"][0]

    # Already failing, then the known intermittents, folded.
    sections = page.locator("#failures .triage-section")
    ids = sections.evaluate_all("l => l.map(e => e.id)")
    assert ids[0] == "failures-new" and ids[-1] == "failures-known"
    known = page.locator("details#failures-known")
    assert known.get_attribute("open") is None
    assert re.fullmatch(r"known intermittent \d+ known intermittents?", known.locator("summary").inner_text())
    assert (
        page.locator("#failures-preexisting h3")
        .inner_text()
        .endswith("already failing on autoland/mozilla-central")
    )

    page.mouse.wheel(0, 2000)
    badge.click()
    page.wait_for_function("location.hash === '#failures-new'")
    box = new.bounding_box()
    assert -1 <= box["y"] < 900
    assert no_sideways_scroll(page)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, f"push-failed-{width}")
    new.screenshot(path=os.path.join(SCREENS, f"push-failed-{width}-new.png"))
    assert page.js_errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_groups_that_fail_only_in_known_ways_say_known_only(page, app, triage_upstream, width):
    known = triage_upstream.push_id("known")
    page.set_viewport_size({"width": width, "height": 900})
    open_push_page(page, app.url(f"/try/pushes/{known}/"))
    # Its 300 failed jobs' evidence is read first; the live refresh then relabels the groups.
    expect(page.locator("#push-totals .badge")).to_have_text("⚠ known failures only", timeout=30_000)
    page.locator("#failures .failure-group").first.wait_for(state="attached", timeout=30_000)
    expect(page.locator("#push-live summary[data-status=failing] .badge").first).to_have_text("known only")
    assert page.locator("#push-totals .badge").get_attribute("href") == "#failures"
    failing = page.locator("#push-live details.group:not(.other) summary[data-status=failing] .badge")
    assert failing.count() > 0
    assert set(failing.all_inner_texts()) == {"known only"}
    # The legend says what the colours mean.
    page.locator(".legend summary").click()
    assert "known only" in page.locator(".legend").inner_text()
    assert no_sideways_scroll(page)
    screenshot(page, f"push-known-{width}")
    assert page.js_errors == []


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("with_credentials", [True, False], ids=["retriggered", "no-credentials"])
def test_a_retrigger_answer_sits_under_its_job_and_never_widens_the_page(
    page, app, fake_treeherder, signed_in, alice, request, width, with_credentials
):
    if with_credentials:
        request.getfixturevalue("alice_creds")
    signed_in(alice)
    push_id = fake_treeherder.push_id("failed")
    job_id = fake_treeherder.job_ids(push_id, result="testfailed")[0]
    page.set_viewport_size({"width": width, "height": 900})
    open_push_page(page, app.url(f"/try/pushes/{push_id}/"))
    row = page.locator(f"tr#jr-{job_id}")
    name_width = row.locator("td.job-cell").bounding_box()["width"]

    row.locator("button.retrigger-button").click()

    result = page.locator(f"tr#rr-{job_id} .retrigger-result")
    result.wait_for()
    assert result.get_attribute("data-outcome") == ("success" if with_credentials else "no_credentials")
    assert row.locator(".retrigger-result").count() == 0  # not in the job's cells
    # The job's name keeps its column (it shrank to ~50 px when the answer was in the row's cells).
    assert row.locator("td.job-cell").bounding_box()["width"] > 0.8 * name_width
    assert no_sideways_scroll(page)
    box = result.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    result.evaluate("e => e.dataset.seen = '1'")
    row.locator("button.retrigger-button").click()  # again: one answer per job, the latest
    page.locator(f"tr#rr-{job_id} .retrigger-result:not([data-seen])").wait_for()
    assert page.locator(f"tr#rr-{job_id}").count() == 1
    assert no_sideways_scroll(page)
    result.scroll_into_view_if_needed()
    screenshot(page, f"retrigger-{'ok' if with_credentials else 'nocreds'}-{width}")
    assert page.js_errors == []


@pytest.mark.parametrize("fake_scenario", ["default"])
def test_a_summary_that_changed_above_the_reader_waits_until_they_scroll_back(page, app, fake_treeherder):
    big = fake_treeherder.push_id("big")
    page.set_viewport_size({"width": 1280, "height": 800})
    open_push_page(page, app.url(f"/try/pushes/{big}/"))
    page.locator("#failures[data-digest]").wait_for(state="attached")
    group = page.locator("#push-live details.group").nth(3)
    group.scroll_into_view_if_needed()
    page.mouse.wheel(0, 400)
    assert (
        page.locator("#failures").bounding_box()["y"] + page.locator("#failures").bounding_box()["height"] < 0
    )
    before_y, digest = page.evaluate("window.scrollY"), page.locator("#failures").get_attribute("data-digest")
    counts = page.locator("#push-totals .counts").inner_text()

    fake_treeherder.advance(300)  # jobs fail: the summary above changes
    page.wait_for_function(
        "text => document.querySelector('#push-totals .counts').innerText !== text",
        arg=counts,
        timeout=15_000,
    )
    page.wait_for_timeout(2500)  # more refreshes, each bringing the changed summary
    assert page.evaluate("window.scrollY") == before_y
    assert page.locator("#failures").get_attribute("data-digest") == digest  # it waits

    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("d => document.getElementById('failures').dataset.digest !== d", arg=digest)
    assert page.js_errors == []
