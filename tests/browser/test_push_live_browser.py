"""The live push page and push list in a real browser (headless Debian Chromium) against the fake
Treeherder: a refresh keeps the reader's place and open groups, a group that starts failing opens once,
a new push appears in an open list, and the filters and search work with and without JavaScript."""

from __future__ import annotations

import re

import pytest

from ..helpers import open_push_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_refresh(page, after: str) -> None:
    """Until the totals no longer read `after` (a live refresh has landed)."""
    page.wait_for_function(
        "text => document.querySelector('#push-totals .counts').innerText !== text", arg=after, timeout=15_000
    )


def running_linux_job(
    page, app, fake_treeherder, query: str = "", open_group: bool = True
) -> tuple[int, object]:
    """The running push's page (with `query`), a job still running in its linux2404-64 opt group, and
    that group: opened (its jobs loaded) or, with open_group=False, closed."""
    running = fake_treeherder.push_id("running")
    page.goto(app.url(f"/try/pushes/{running}/{query}"))
    job_id = next(
        job["id"]
        for job in fake_treeherder.jobs(running)
        if (job["platform"], job["platform_option"], job["state"]) == ("linux2404-64", "opt", "running")
    )
    group = page.locator("#g-linux2404-64-opt")
    if (group.get_attribute("open") is None) == open_group:
        group.locator("summary").click()
    return job_id, group


@pytest.fixture
def fake_scenario() -> str:
    return "default"


def test_a_refresh_keeps_the_scroll_position_the_open_groups_and_focus(page, app, fake_treeherder):
    big = fake_treeherder.push_id("big")
    page.set_viewport_size({"width": 1280, "height": 800})
    open_push_page(page, app.url(f"/try/pushes/{big}/"))
    sizes = page.locator("#push-live details.group:not(.other)").evaluate_all(
        "l => l.map(e => [e.id, Number(e.querySelector('.group-counts').innerText.split('/')[1].split(' ')[0])])"
    )
    opened = [group_id for group_id, size in sizes if size > 200][:3]
    for group_id in opened:
        group = page.locator(f"[id='{group_id}']")
        group.locator("summary").click()
        group.locator(".chips a.chip").first.wait_for()
    # Read in the middle of the second opened group: scrolled there, focus on one of its chips.
    chip = page.locator(f"[id='{opened[1]}'] a.chip").nth(120)
    chip.scroll_into_view_if_needed()
    page.mouse.wheel(0, 150)
    chip.focus()
    chip_id = chip.get_attribute("id")
    before_y, before_top = page.evaluate("window.scrollY"), chip.bounding_box()["y"]
    counts = page.locator("#push-totals .counts").inner_text()

    fake_treeherder.advance(120)  # hundreds of jobs move on
    wait_for_refresh(page, counts)
    page.wait_for_timeout(300)

    assert page.evaluate("window.scrollY") == before_y
    assert abs(page.locator(f"#{chip_id}").bounding_box()["y"] - before_top) < 1
    assert page.evaluate("document.activeElement.id") == chip_id
    for group_id in opened:
        assert page.locator(f"[id='{group_id}']").get_attribute("open") is not None
    assert page.js_errors == []


def test_a_group_that_starts_failing_opens_once(page, app, fake_treeherder):
    running = fake_treeherder.push_id("running")
    open_push_page(page, app.url(f"/try/pushes/{running}/"))  # its groups there, not the shell's placeholder
    closed_before = set(
        page.locator("#push-live details.group:not([open]):not(.other)").evaluate_all("l => l.map(e => e.id)")
    )
    counts = page.locator("#push-totals .counts").inner_text()

    fake_treeherder.advance(600)  # tests fail on several platforms
    wait_for_refresh(page, counts)
    newly = page.locator("#push-live details.group[open]:has(summary[data-status=failing])")
    newly.first.wait_for()
    opened_now = [gid for gid in newly.evaluate_all("l => l.map(e => e.id)") if gid in closed_before]
    assert opened_now, "a group that was not failing before has opened by itself"
    group = page.locator(f"[id='{opened_now[0]}']")
    group.locator("tr.job.failed").first.wait_for()  # and loaded its jobs, failures in rows

    group.locator("summary").click()  # the user closes it: it stays closed through later refreshes
    counts = page.locator("#push-totals .counts").inner_text()
    fake_treeherder.advance(300)
    wait_for_refresh(page, counts)
    page.wait_for_timeout(500)
    assert group.get_attribute("open") is None
    assert page.js_errors == []


def test_a_new_push_appears_at_the_top_of_an_open_list(page, app, fake_treeherder):
    page.goto(app.url("/try/?author="))
    first = page.locator("#push-list > li").first
    top = first.get_attribute("id")
    page.locator(f"#{top} .status-cell .badge").wait_for()  # filled by the list's one poller
    page.evaluate("window.__notReloaded = true")

    new_id = fake_treeherder.add_push(
        author="someone@mozilla.com", messages=["Bug 1999999 - Brand new. r=me"]
    )

    page.locator(f"#push-{new_id}").get_by_text("Bug 1999999 - Brand new. r=me").wait_for()
    assert page.locator("#push-list > li").first.get_attribute("id") == f"push-{new_id}"
    page.locator(f"#push-{new_id} .status-cell .badge").wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert page.js_errors == []


def _shown_groups(page) -> list[str]:
    return page.locator("#push-live details.group summary").evaluate_all("l => l.map(e => e.dataset.status)")


def test_filters_and_search_with_javascript(page, app, fake_treeherder):
    failed = fake_treeherder.push_id("failed")
    open_push_page(page, app.url(f"/try/pushes/{failed}/"))
    assert "passing" in _shown_groups(page)
    page.evaluate("window.__notReloaded = true")

    page.locator(".job-filters label", has_text="Failures only").click()
    page.wait_for_url(re.compile(r"show=failures"))
    page.wait_for_function("!document.querySelector('#push-live summary[data-status=passing]')")
    assert set(_shown_groups(page)) == {"failing"}
    assert (
        page.locator("#push-live a.chip").count() == 0
        and page.locator("#push-live tr.job.failed").count() >= 9
    )

    page.locator(".job-filters label", has_text="All").click()
    page.locator(".job-filters input[type=search]").fill("xpcshell")
    page.wait_for_url(re.compile(r"q=xpcshell"))
    page.wait_for_function(
        "[...document.querySelectorAll('#push-live a.chip')].every(c => c.title.includes('xpcshell'))"
    )
    assert page.locator("#push-live a.chip").count() >= 3
    assert page.evaluate("window.__notReloaded") is True
    assert page.js_errors == []


def test_filters_and_search_without_javascript(page_without_javascript, app, fake_treeherder):
    page = page_without_javascript
    failed = fake_treeherder.push_id("failed")
    page.goto(app.url(f"/try/pushes/{failed}/"))
    page.locator(".job-filters input[type=search]").fill("xpcshell")
    page.locator(".job-filters label", has_text="Rows").click()
    page.locator(".job-filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"q=xpcshell"))
    names = page.locator("#push-live .job-name").all_inner_texts()
    assert names and all("xpcshell" in name for name in names)

    page.locator(".job-filters label", has_text="Failures only").click()
    page.locator(".job-filters input[type=search]").fill("")
    page.locator(".job-filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"show=failures"))
    assert set(_shown_groups(page)) == {"failing"}


def test_a_tier_2_group_that_starts_failing_opens_once(page, app, fake_treeherder):
    running = fake_treeherder.push_id("running")
    first = fake_treeherder.add_job(running, "running", tier=2, platform="linux2404-64", name="test-tier2-a")
    second = fake_treeherder.add_job(running, "running", tier=2, platform="linux2404-64", name="test-tier2-b")
    page.goto(app.url(f"/try/pushes/{running}/"))
    group = page.locator("#tier-other")
    assert group.locator("summary").get_attribute("data-status") == "running"
    assert group.get_attribute("open") is None

    fake_treeherder.set_job(first, "completed", "testfailed")
    page.locator("#tier-other[open] summary[data-status=failing]").wait_for()
    group.locator(f"#jr-{first}.failed").wait_for()  # opened by itself, and loaded its jobs

    group.locator("summary").click()  # closed by the user: it stays closed
    assert group.get_attribute("open") is None
    counts = page.locator("#push-totals .counts").inner_text()
    fake_treeherder.set_job(second, "completed", "testfailed")
    wait_for_refresh(page, counts)
    page.wait_for_timeout(500)
    assert group.get_attribute("open") is None
    assert page.js_errors == []


def test_the_failure_summary_updates_live_without_polling_itself(page, app, fake_treeherder):
    running = fake_treeherder.push_id("running")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(app.url(f"/try/pushes/{running}/"))
    failures = page.locator("#failures[data-digest]")
    failures.get_by_text("No failed jobs so far").wait_for()
    assert failures.get_attribute("hx-trigger") is None
    page.evaluate("window.__notReloaded = true")

    fake_treeherder.add_job(running, "completed", result="testfailed", platform="linux2404-64",
                            name="test-linux2404-64/opt-mochitest-live-2",
                            errors=["TEST-UNEXPECTED-FAIL | dom/tests/test_seen_live.html | boom"])  # fmt: skip
    failures.locator("code", has_text="dom/tests/test_seen_live.html").wait_for(timeout=15_000)
    assert page.locator("#push-totals .badge").inner_text().startswith("✗")
    assert sum("/failures/" in url for url in asked) == 1  # loaded once; the page's poller did the rest
    assert page.evaluate("window.__notReloaded") is True
    assert page.js_errors == []


def test_under_a_filter_a_job_that_starts_matching_appears_live(page, app, fake_treeherder):
    running = fake_treeherder.push_id("running")
    page.goto(app.url(f"/try/pushes/{running}/?show=failures"))
    page.get_by_text("No jobs match the filter").wait_for()
    page.evaluate("window.__notReloaded = true")
    job_id = next(
        job["id"]
        for job in fake_treeherder.jobs(running)
        if (job["platform"], job["platform_option"], job["state"]) == ("linux2404-64", "opt", "running")
    )

    fake_treeherder.set_job(job_id, "completed", "testfailed")
    page.locator(f"#g-linux2404-64-opt[open] #jr-{job_id}.failed").wait_for(timeout=15_000)
    assert page.get_by_text("No jobs match the filter").count() == 0
    assert page.locator("#push-live details.group").count() == 1
    assert page.evaluate("window.__notReloaded") is True
    assert page.js_errors == []


def test_a_group_closed_and_reopened_shows_its_jobs_as_they_are_now(page, app, fake_treeherder):
    job_id, group = running_linux_job(page, app, fake_treeherder)
    chip = page.locator(f"#job-{job_id}")
    chip.wait_for()
    assert "running" in chip.get_attribute("title")
    group.locator("summary").click()  # closed: refreshes no longer carry its jobs
    counts = page.locator("#push-totals .counts").inner_text()

    fake_treeherder.set_job(job_id, "completed", "success")
    wait_for_refresh(page, counts)
    group.locator("summary").click()  # reopened: its jobs as they are now, not as when it was closed
    page.wait_for_function(
        "id => (document.getElementById(id) || {}).title?.includes('success')",
        arg=f"job-{job_id}",
        timeout=10_000,
    )
    assert page.js_errors == []


def test_a_groups_jobs_read_before_a_refresh_that_landed_first_are_read_again(page, app, fake_treeherder):
    """The race behind a flaky run of the test above, made certain: the group's jobs are read while the
    job still runs, a refresh then marks the job finished on the page, and only after that does the older
    read arrive and replace the group's rows. The page reads them again rather than going back in time."""
    job_id, group = running_linux_job(page, app, fake_treeherder)
    chip = page.locator(f"#job-{job_id}")
    chip.wait_for()
    group.locator("summary").click()  # closed

    held: list[tuple[object, object]] = []
    reads: list[str] = []

    def hold_the_first_read(route: object) -> None:
        reads.append(route.request.url)
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))  # read now (the job running), answered later

    page.route(re.compile(r"/jobs/\?(.*&)?platform=linux2404-64(&|$)"), hold_the_first_read)
    group.locator("summary").click()  # reopened: its jobs are read again…
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    [(route, answer)] = held
    assert "running" in answer.text()

    fake_treeherder.set_job(job_id, "completed", "success")
    # …meanwhile a refresh lands and updates the rows the reopened group still shows…
    page.wait_for_function(
        "id => (document.getElementById(id) || {}).title?.includes('success')", arg=f"job-{job_id}"
    )
    route.fulfill(response=answer)  # …and then the older read arrives: the page reads them once more.
    for _ in range(100):
        if len(reads) == 2:
            break
        page.wait_for_timeout(50)
    assert len(reads) == 2
    page.wait_for_function(
        "id => (document.getElementById(id) || {}).title?.includes('success')",
        arg=f"job-{job_id}",
        timeout=10_000,
    )
    page.wait_for_timeout(1500)  # a refresh more
    assert len(reads) == 2  # once more, and not again
    assert page.js_errors == []


def test_a_failure_row_a_group_already_shows_is_not_appended_twice(page, app, fake_treeherder):
    """A group opened while the page's refreshes were not getting through reads the push as it is now,
    failure row included; the refresh that then gets through, from the page's older token, carries that
    job as newly failed. The group shows its row once."""
    job_id, group = running_linux_job(page, app, fake_treeherder, open_group=False)
    assert page.locator("#push-poll").get_attribute("data-token")
    refreshes = {"blocked": True, "through": 0}

    def block_refreshes(route: object) -> None:
        if refreshes["blocked"]:
            route.abort()
        else:
            refreshes["through"] += 1
            route.continue_()

    page.route(re.compile(r"/try/pushes/\d+/live/"), block_refreshes)
    fake_treeherder.set_job(job_id, "completed", "testfailed")
    page.wait_for_timeout(1500)  # past the cached jobs: the group's read sees the failure
    group.locator("summary").click()
    page.locator(f"#g-linux2404-64-opt #jr-{job_id}.failed").wait_for()

    refreshes["blocked"] = False
    for _ in range(100):
        if refreshes["through"] >= 2:
            break
        page.wait_for_timeout(50)
    assert refreshes["through"] >= 2
    assert page.locator(f'[id="jr-{job_id}"]').count() == 1
    assert page.js_errors == []


def test_a_job_failing_in_an_open_group_gets_its_failure_row_live(page, app, fake_treeherder):
    job_id, group = running_linux_job(page, app, fake_treeherder)
    page.locator(f"#job-{job_id}").wait_for()  # a chip: the group is compact
    assert page.locator(f"#jr-{job_id}").count() == 0

    fake_treeherder.set_job(job_id, "completed", "testfailed")
    page.locator(f"#g-linux2404-64-opt #jr-{job_id}.failed").wait_for(timeout=15_000)  # its row, below
    assert "testfailed" in page.locator(f"#job-{job_id}").get_attribute("title")  # and its chip
    assert page.locator(f'[id="jr-{job_id}"]').count() == 1
    assert page.js_errors == []


def test_in_rows_view_a_jobs_row_changes_in_place(page, app, fake_treeherder):
    job_id, group = running_linux_job(page, app, fake_treeherder, "?view=rows")
    row = page.locator(f"#jr-{job_id}")
    row.wait_for()
    assert "running" in row.locator(".badge").inner_text()

    fake_treeherder.set_job(job_id, "completed", "success")
    page.locator(f"#jr-{job_id} .badge", has_text="success").wait_for(timeout=15_000)
    assert page.locator(f'[id="jr-{job_id}"]').count() == 1
    assert page.js_errors == []
