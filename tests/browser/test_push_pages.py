"""The push pages in a real browser (headless Debian Chromium) against the fake Treeherder: the list, a
push with its groups and failure summary, a live refresh without reload, and escaped commit messages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_list_then_push_with_groups_and_failure_summary(page, app, fake_treeherder):
    failed = fake_treeherder.push_id("failed")
    page.goto(app.url("/try/"))
    row = page.locator(f"#push-{failed}")
    row.get_by_text("Bug 1800003 - Rewrite IndexedDB transaction lifetimes. r=asuth").wait_for()
    # The status cell arrives lazily, with a label beside the colour.
    row.locator(".status-cell .badge").get_by_text(re.compile(r"✗ \d+ new failures")).wait_for()
    assert re.search(r"\d+/\d+ done", row.locator(".status-cell").inner_text())

    row.locator("a.push-link").click()
    page.wait_for_url(app.url(f"/try/pushes/{failed}/"))
    expect(page).to_have_title(re.compile(r"^✗ \d+ new failures"))  # at once, or when the badge arrives
    groups = page.locator("#push-live details.group:not(.other)")
    assert groups.count() >= 2
    failing = page.locator("#push-live details.group[open]").first
    failing.locator("table.jobs .badge", has_text="testfailed").first.wait_for()
    # A closed group loads its jobs when opened.
    closed_id = page.locator("#push-live details.group:not([open])").first.get_attribute("id")
    closed = page.locator(f"[id='{closed_id}']")
    assert closed.locator(".job-list").count() == 0
    closed.locator("summary").click()
    closed.locator(".chips a.chip").first.wait_for()
    summary = page.locator("#failures")
    summary.locator(".failure-group").first.wait_for()
    assert "failed job" in summary.inner_text()
    # Triage: new failures first, then those already failing on mozilla-central, then intermittents.
    sections = summary.locator(".triage-section")
    assert [sections.nth(i).get_attribute("data-section") for i in range(sections.count())] == [
        "new",
        "preexisting",
        "intermittent",
    ]
    first = summary.locator(".failure-group").first
    assert first.get_attribute("data-triage") == "new"
    assert first.locator(".badge").first.inner_text() == "new"
    known = summary.locator('.failure-group[data-triage="intermittent"]').first
    assert known.locator("a", has_text="Bug ").count() or "Unfiled" in known.inner_text()
    assert summary.locator("pre.sample .line-number").first.inner_text().startswith("line ")
    assert page.js_errors == []


def test_running_push_updates_without_reload_and_stops_when_finished(page, app, fake_treeherder):
    watched = fake_treeherder.push_id("watched")
    page.goto(app.url(f"/try/pushes/{watched}/"))
    live = page.locator("#push-live")
    assert page.locator("#push-poll").get_attribute("hx-trigger") == "every 1s"
    assert not page.title().startswith("✓")
    page.evaluate("window.__notReloaded = true")
    # Open a group: it must stay open across refreshes (static/js/push.js).
    group_id = live.locator("details.group").first.get_attribute("id")
    group = page.locator(f"[id='{group_id}']")
    group.locator("summary").click()
    group.locator(".job-list").first.wait_for()

    fake_treeherder.advance(300)  # every job completes, green

    # Not wait_for_function: Playwright evaluates its string with eval, which the page's CSP forbids.
    expect(page).to_have_title(re.compile(r"^✓ passed"))
    assert page.locator("#push-poll").get_attribute("data-state") == "passing"
    assert page.locator("#favicon").get_attribute("href").endswith("favicon-passing.svg")
    assert page.evaluate("window.__notReloaded") is True
    counts = page.locator("#push-live .totals .counts").inner_text()
    done, total = map(int, re.search(r"(\d+) of (\d+) jobs done", counts).groups())
    assert done == total > 1
    assert group.get_attribute("open") is not None
    group.locator("a.chip.c-green").first.wait_for()  # its jobs, swapped in place as they passed
    # Finished: the refreshed poller no longer polls.
    assert page.locator("#push-poll").get_attribute("hx-trigger") is None
    assert page.js_errors == []


def test_script_in_a_commit_message_is_shown_as_text_and_not_run(page, app, fake_treeherder):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    xss = fake_treeherder.push_id("xss")
    page.goto(app.url("/try/?author="))
    page.locator(f"#push-{xss} a.push-link").get_by_text("<script>alert(1)</script>", exact=False).wait_for()
    page.goto(app.url(f"/try/pushes/{xss}/"))
    assert "<script>alert(1)</script>" in page.locator("h1.push-title").inner_text()
    assert page.locator("h1.push-title script").count() == 0
    page.locator("#failures h2").wait_for()
    assert dialogs == []
