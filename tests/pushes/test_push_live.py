"""The push page at Firefox scale, against the fake Treeherder over real HTTP: a live refresh sends only
what changed, the job view is sorted and filtered, jobs link to their logs, the push list has one poller."""

from __future__ import annotations

import gzip
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model

from buildwatch.compression import CompressionMiddleware
from fakeherder import FakeTreeherder
from pushes import jobview
from tests.helpers import AttrMatch, Element, has_class, parse_html

HX = {"HTTP_HX_REQUEST": "true"}
GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


@pytest.fixture
def fake_scenario() -> str:
    return "default"  # the 5,200-job push, the failed 642-job push, a running one


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    settings.BUILDWATCH_REFRESH_SECONDS = 1  # cached copies last 0.8 s: `clock.shift(1.0)` gets new data
    return fake_treeherder


def poll_url(html: str) -> str:
    return parse_html(html).one(id="push-poll").attrs["hx-get"]


def ids(page: Element, tag: str, prefix: str, **attrs: AttrMatch) -> list[str]:
    """The ids of the `tag` elements (with `attrs`) whose id starts with `prefix`, without it, in order."""
    found = page.find_all(tag, id=re.compile(f"{prefix}.+"), **attrs)
    return [element.attrs["id"].removeprefix(prefix) for element in found]


def states(fake: FakeTreeherder, push_id: int) -> dict[int, tuple[str, str]]:
    return {job["id"]: (job["state"], job["result"]) for job in fake.jobs(push_id)}


def anchors_of(fake: FakeTreeherder, push_id: int, count: int) -> list[str]:
    names = sorted(
        {(job["platform"], job["platform_option"]) for job in fake.jobs(push_id) if job["tier"] == 1}
    )
    return [jobview.group_anchor(platform, option) for platform, option in names[:count]]


def with_open(url: str, anchors: list[str]) -> str:
    return re.sub(r"open=[^&]*", "open=" + ",".join(anchors), url)


@pytest.mark.django_db
def test_a_refresh_of_the_5200_job_push_sends_only_what_changed(client, fake, clock):
    big = fake.push_id("big")
    html = client.get(f"/try/pushes/{big}/").content.decode()
    url = poll_url(html)

    unchanged = client.get(url, **HX, **GZIP)
    assert len(unchanged.content) <= 1024
    # Gzipped unless it gains nothing: Django leaves answers under 200 bytes alone, and returns the plain
    # answer when the gzipped one, with up to max_random_bytes of BREACH padding, is not shorter.
    gzipped = unchanged.get("Content-Encoding") == "gzip"
    body = gzip.decompress(unchanged.content) if gzipped else unchanged.content
    padding = CompressionMiddleware.max_random_bytes
    assert (
        gzipped
        or len(body) < 200
        or len(gzip.compress(body, compresslevel=6, mtime=0)) + padding + 1 >= len(body)
    )
    assert "hx-swap-oob" not in body.decode()  # the poller alone

    before = states(fake, big)
    changed: set[int] = set()
    while len(changed) < 5:
        fake.advance(1)
        changed = {job_id for job_id, state in states(fake, big).items() if before.get(job_id) != state}
    assert len(changed) <= 50
    anchor_of = {
        job["id"]: jobview.group_anchor(job["platform"], job["platform_option"], job["tier"])
        for job in fake.jobs(big)
    }
    with_new_jobs = {anchor_of[job_id] for job_id in changed if job_id not in before}  # reruns: redrawn whole
    busiest = sorted(
        {anchor_of[job_id] for job_id in changed} - with_new_jobs,
        key=lambda a: -sum(anchor_of[j] == a for j in changed),
    )
    opened = busiest[:2]  # two open groups with changed jobs; the others are closed
    clock.shift(1.0)
    response = client.get(with_open(url, opened), **HX, **GZIP)
    assert len(response.content) <= 10 * 1024
    body = gzip.decompress(response.content).decode()
    assert 'id="push-totals"' in body and 'hx-swap-oob="true"' in body
    assert "<details" not in body  # groups are not redrawn, only their summaries
    # Each changed job of an open group comes back as its chip, or as its row where the group shows rows:
    # the tier-2/3 group (every platform's, so always rows) may be one of the two busiest.
    page = parse_html(body)
    chips, rows = set(ids(page, "a", "job-")), set(ids(page, "tr", "jr-"))
    swapped = {int(job_id) for job_id in chips | rows}
    assert swapped == {job_id for job_id in changed if anchor_of[job_id] in opened}  # and nothing else
    summaries = set(ids(page, "summary", "gs-"))
    assert summaries == {anchor_of[job_id] for job_id in changed}  # the groups whose jobs changed
    # The next refresh starts from the new token: nothing again.
    again = client.get(with_open(poll_url(body), opened), **HX)
    assert len(again.content) <= 1024 and "hx-swap-oob" not in again.content.decode()


@pytest.mark.django_db
def test_a_job_that_fails_gets_a_row_and_its_group_badge_turns_failing(client, fake, clock):
    running = fake.push_id("running")
    html = client.get(f"/try/pushes/{running}/").content.decode()
    every = anchors_of(fake, running, 100)
    url = with_open(poll_url(html), every)
    failed_before = set(fake.job_ids(running, result="testfailed", tier=1))
    while not set(fake.job_ids(running, result="testfailed", tier=1)) - failed_before:
        fake.advance(60)
    newly = set(fake.job_ids(running, result="testfailed", tier=1)) - failed_before
    clock.shift(1.0)
    body = client.get(url, **HX).content.decode()
    # Appended to its open group's rows, or (the group got new jobs too) in the group redrawn.
    page = parse_html(body)
    appended = page.find_all("tbody", hx_swap_oob=re.compile(r"beforeend:#fr-g-[\w-]+"))
    redrawn = page.find_all("div", id=re.compile(r"gj-g-[\w-]+"), hx_swap_oob="innerHTML")
    for job_id in newly:
        assert any(part.find_all("tr", id=f"jr-{job_id}", class_="job failed") for part in appended + redrawn)
    assert page.find_all("summary", id=re.compile(r"gs-g-[\w-]+"), data_status="failing", hx_swap_oob="true")


def failure_section(body: str) -> str:
    """The failure section a refresh ends with, as it came; "" if it ends with none."""
    last = parse_html(body).elements[-1:]
    digest = re.compile(r"\w+")
    found = last and last[0].matches("section", id="failures", class_="failures", data_digest=digest)
    return last[0].source if found else ""


def digest_of(section: str) -> str:
    return parse_html(section).find_all(data_digest=re.compile(r"\w+"))[0].attrs["data-digest"]


@pytest.mark.django_db
def test_the_failure_summary_comes_with_a_refresh_only_when_it_changed(client, fake, clock):
    running = fake.push_id("running")
    url = poll_url(client.get(f"/try/pushes/{running}/").content.decode())
    loaded = client.get(f"/try/pushes/{running}/failures/", **HX).content.decode()
    assert 'id="failures"' in loaded and "hx-trigger" not in loaded  # it does not poll itself
    standalone = client.get(f"/try/pushes/{running}/failures/").content.decode()  # its own page does
    self_poll = f"/try/pushes/{running}/failures/?self=1"
    assert parse_html(standalone).find_all(hx_get=self_poll, hx_trigger="every 1s")
    shown = digest_of(loaded)
    assert not failure_section(client.get(f"{url}&failures={shown}", **HX).content.decode())

    # A job fails; Treeherder parses its log a minute later.
    job_id = fake.add_job(running, "completed", result="testfailed", platform="linux2404-64", name="test-linux2404-64/opt-mochitest-live-1",
                          errors=["TEST-UNEXPECTED-FAIL | dom/tests/test_live_refresh.html | boom"])  # fmt: skip
    fake.jobs_by_id[job_id].parse_delay = 60
    clock.shift(1.0)
    body = client.get(f"{url}&failures={shown}", **HX).content.decode()
    section = failure_section(body)
    assert 'hx-swap-oob="true"' in section and "hx-trigger" not in section
    assert "log not parsed yet" in section and "test_live_refresh.html" not in section
    url, shown = poll_url(body), digest_of(section)

    clock.shift(1.0)  # nothing changed: no section, however often the page asks
    body = client.get(f"{url}&failures={shown}", **HX).content.decode()
    assert not failure_section(body) and "hx-swap-oob" not in body
    assert not failure_section(client.get(f"{poll_url(body)}&failures={shown}", **HX).content.decode())

    fake.advance(61)  # the log is parsed: the job itself did not change, the summary did
    clock.shift(1.0)
    section = failure_section(client.get(f"{poll_url(body)}&failures={shown}", **HX).content.decode())
    assert "dom/tests/test_live_refresh.html" in section and digest_of(section) != shown
    # Without a digest (the section not loaded yet: it loads itself), never.
    assert not failure_section(client.get(poll_url(body), **HX).content.decode())


def groups_on(html: str | Element) -> list[str]:
    page = parse_html(html) if isinstance(html, str) else html
    return [group.attrs["id"] for group in page.find_all("details", class_=has_class("group"), id=True)]


def added(body: str) -> Element | None:
    """What a refresh adds after the page's groups, if anything."""
    found = parse_html(body).find_all("div", hx_swap_oob="beforeend:#push-groups")
    return found[0] if found else None


def refresh(client, url: str, on_page: list[str]) -> str:
    """A refresh as push.js asks for it on a filtered page: every group open and shown."""
    ids = ",".join(on_page)
    return client.get(f"{with_open(url, on_page)}&shown={ids}", **HX).content.decode()


def running_job(fake: FakeTreeherder, push_id: int, platform: str, option: str = "opt") -> int:
    return next(
        job["id"]
        for job in fake.jobs(push_id)
        if job["platform"] == platform and job["platform_option"] == option and job["state"] == "running"
    )


@pytest.mark.django_db
def test_under_failures_only_a_job_that_fails_appears_live_with_its_group(client, fake, clock):
    running = fake.push_id("running")
    html = client.get(f"/try/pushes/{running}/?show=failures").content.decode()
    assert "No jobs match the filter" in html and not groups_on(html)
    first = running_job(fake, running, "linux2404-64")
    fake.set_job(first, "completed", "testfailed")
    clock.shift(1.0)
    body = refresh(client, poll_url(html), [])
    group = added(body)
    assert groups_on(group) == ["g-linux2404-64-opt"]
    assert group.find_all("tr", id=f"jr-{first}", class_="job failed")
    assert parse_html(body).find_all("p", id="push-empty", hx_swap_oob="delete")

    second = running_job(fake, running, "linux2404-64")
    fake.set_job(second, "completed", "testfailed")
    clock.shift(1.0)
    body = refresh(client, poll_url(body), ["g-linux2404-64-opt"])
    appended = parse_html(body).one("tbody", hx_swap_oob="beforeend:#fr-g-linux2404-64-opt")
    assert appended.find_all("tr", id=f"jr-{second}", class_="job failed")
    assert not added(body) and "push-empty" not in body  # nothing added twice


@pytest.mark.django_db
def test_under_unfinished_a_finished_job_stays_with_its_new_status_and_new_jobs_appear(client, fake, clock):
    running = fake.push_id("running")
    html = client.get(f"/try/pushes/{running}/?show=unfinished&view=rows").content.decode()
    shown = groups_on(html)
    assert "g-linux2404-64-opt" in shown and "g-linux1804-64-opt" not in shown  # only finished jobs there
    job_id = running_job(fake, running, "linux2404-64")
    fake.set_job(job_id, "completed", "success")
    late = fake.add_job(running, "pending", platform="linux1804-64", name="test-linux1804-64/opt-late-1")
    clock.shift(1.0)
    body = refresh(client, poll_url(html), shown)
    row = parse_html(body).one("tr", id=f"jr-{job_id}", class_="job", hx_swap_oob="true")
    assert "success" in [e.text for e in row.iter()]  # swapped in place, not removed: nothing read moves
    group = added(body)
    assert groups_on(group) == ["g-linux1804-64-opt"] and group.find_all("tr", id=f"jr-{late}")


@pytest.mark.django_db
def test_a_group_whose_first_jobs_arrive_is_added_to_the_page(client, fake, clock):
    running = fake.push_id("running")
    html = client.get(f"/try/pushes/{running}/").content.decode()
    assert "g-linux-brand-new-opt" not in groups_on(html)
    fake.add_job(running, "pending", platform="linux-brand-new", name="test-linux-brand-new/opt-1")
    clock.shift(1.0)
    body = client.get(poll_url(html), **HX).content.decode()
    group = added(body)
    assert groups_on(group) == ["g-linux-brand-new-opt"] and group.find_all(hx_trigger="toggle once")
    assert group.find_all(id="gs-g-linux-brand-new-opt", data_status="pending")
    assert "push-empty" not in body  # the page had groups


@pytest.mark.django_db
def test_a_token_older_than_the_change_log_reloads_the_live_section(client, fake):
    big = fake.push_id("big")
    client.get(f"/try/pushes/{big}/")
    response = client.get(f"/try/pushes/{big}/live/?since=1000.000&open=", **HX)
    assert response["HX-Retarget"] == "#push-live" and response["HX-Reswap"] == "outerHTML"
    assert parse_html(response.content).first().matches("section", id="push-live")
    assert (
        client.get(f"/try/pushes/{big}/live/?show=failures")["Location"]
        == f"/try/pushes/{big}/?show=failures"
    )


@pytest.mark.django_db
def test_failures_come_first_then_running_pending_passed_and_symbols_sort_naturally(client, fake):
    running = fake.push_id("running")
    fake.advance(120)
    by_group: dict[tuple[str, str], set[str]] = {}
    for j in fake.jobs(running):
        if j["tier"] == 1:
            by_group.setdefault((j["platform"], j["platform_option"]), set()).add(j["state"])
    platform, option = next(group for group, seen in by_group.items() if {"running", "pending"} <= seen)
    job = {"platform": platform, "platform_option": option}
    html = client.get(
        f"/try/pushes/{running}/jobs/",
        {"platform": job["platform"], "option": job["platform_option"], "view": "rows"},
    ).content.decode()
    page = parse_html(html)
    statuses = [  # each row's status: the badge its cell ends with
        td.elements[-1].text
        for td in page.find_all("td")
        if td.elements and td.elements[-1].matches("span", class_=has_class("badge"))
    ]
    rank = {
        "testfailed": 0,
        "busted": 0,
        "exception": 0,
        "running": 1,
        "pending": 2,
        "unscheduled": 2,
        "success": 3,
    }
    assert statuses == sorted(statuses, key=lambda status: rank.get(status, 4))
    assert "running" in statuses and "pending" in statuses
    # Pending jobs show no duration and no Retrigger; running ones their elapsed time, ticking on the page.
    pending_row = next(
        row
        for row in page.find_all("tr", id=re.compile(r"jr-\d+"), class_="job")
        if "pending" in [e.text for e in row.iter()]
    )
    assert pending_row.one("td", class_="duration").children == [] and "Retrigger" not in pending_row.source
    elapsed = page.find_all("span", class_="elapsed", data_since=re.compile(r"\d+"))
    assert any(re.search(r">(\d+ min|&lt; 1 min)</span>$", span.source) for span in elapsed)


def test_natural_symbol_order():
    symbols = ["M(10)", "M(2)", "M(bc10)", "M(bc2)", "M(1)", "X(1)", "M(dt10)", "M(dt2)"]
    assert sorted(symbols, key=jobview.natural_key) == [
        "M(1)", "M(2)", "M(10)", "M(bc2)", "M(bc10)", "M(dt2)", "M(dt10)", "X(1)"
    ]  # fmt: skip


@pytest.mark.django_db
def test_compact_view_shows_chips_and_rows_for_the_failures_with_log_links(client, fake):
    failed = fake.push_id("failed")
    html = client.get(f"/try/pushes/{failed}/").content.decode()
    live = parse_html(html).one("section", id="push-live")
    failed_ids = set(fake.job_ids(failed, result="testfailed", tier=1))
    rows = {int(job_id) for job_id in ids(live, "tr", "jr-")}
    assert failed_ids <= rows  # every tier-1 test failure has its row, in a group open at once
    chips = [
        (a.attrs["id"].removeprefix("job-"), colour.removeprefix("c-"))
        for a in live.find_all("a", id=re.compile(r"job-\d+"), class_=has_class("chip"))
        for colour in a.classes - {"chip"}
    ]
    assert len(chips) > 4 * len(rows) and (str(min(failed_ids)), "red") in chips
    job_id = min(failed_ids)
    row = live.one("tr", id=f"jr-{job_id}").source
    assert f'href="/try/jobs/{job_id}/log/"' in row
    assert f'href="{fake.url}/logviewer?job_id={job_id}&amp;repo=try"' in row
    assert "Treeherder</a>" in row and "task</a>" in row
    # Groups: failing ones first; their summaries line up as one row each.
    statuses = [s.attrs["data-status"] for s in live.find_all("summary", id=re.compile(r"gs-g-[\w-]+"))]
    assert statuses[: statuses.count("failing")] == ["failing"] * statuses.count("failing")


@pytest.mark.django_db
def test_filters_and_search_work_as_plain_links(client, fake):
    failed = fake.push_id("failed")
    only = client.get(f"/try/pushes/{failed}/?show=failures").content.decode()
    live = parse_html(only).one("section", id="push-live")
    chip_like = live.find_all(class_=lambda value: any(c.startswith("chip") for c in value.split()))
    assert not chip_like and not live.find_all(data_status="passing")
    assert {int(i) for i in ids(live, "tr", "jr-")} >= set(fake.job_ids(failed, result="testfailed", tier=1))
    assert parse_html(only).find_all("input", value="failures", checked=True)

    wanted = next(job for job in fake.jobs(failed) if "xpcshell" in job["job_type_name"])
    search = client.get(f"/try/pushes/{failed}/?q=XPCshell&view=rows").content.decode()
    names = {span.text for span in parse_html(search).find_all("span", class_="job-name")}
    assert wanted["job_type_name"] in names and all("xpcshell" in name for name in names)
    # A test name matches the failed jobs whose failure mentions it (from the failure summary).
    by_test = client.get(f"/try/pushes/{failed}/?q=test_transaction_lifetimes").content.decode()
    assert parse_html(by_test).find_all(class_="job failed")
    nothing = client.get(f"/try/pushes/{failed}/?q=no-such-job-anywhere", **HX).content.decode()
    assert "No jobs match the filter" in nothing
    assert parse_html(nothing).first().matches("section", id="push-live")


@pytest.mark.django_db
def test_one_retrigger_control_per_page_and_buttons_only_on_completed_jobs(bob_client, fake):
    failed = fake.push_id("failed")
    html = bob_client.get(f"/try/pushes/{failed}/").content.decode()
    page = parse_html(html)
    assert len(page.find_all("form", id="retrigger")) == 1 and len(page.find_all("select", name="times")) == 1
    job_id = min(fake.job_ids(failed, result="testfailed"))
    assert page.find_all(form="retrigger", formaction=f"/try/jobs/{job_id}/retrigger/")
    row_bytes = [len(row.source) for row in page.find_all("tr", id=re.compile(r"jr-\d+"))]
    assert max(row_bytes) < 1200  # no form, select and token per row any more


@pytest.mark.django_db
def test_the_groups_rendered_for_one_viewer_are_not_served_to_another_kind(client, fake):
    failed = fake.push_id("failed")
    job_id = min(fake.job_ids(failed, result="testfailed"))
    anonymous = client.get(f"/try/pushes/{failed}/").content.decode()
    assert parse_html(anonymous).find_all("tr", id=f"jr-{job_id}") and "formaction=" not in anonymous
    client.force_login(get_user_model().objects.create_user("dora", "dora@example.com", "pw"))
    signed_in = client.get(f"/try/pushes/{failed}/").content.decode()
    assert f'formaction="/try/jobs/{job_id}/retrigger/"' in signed_in  # the same fetch, its own rendering
    client.logout()
    assert "formaction=" not in client.get(f"/try/pushes/{failed}/").content.decode()


@pytest.mark.django_db
def test_the_log_link_redirects_to_the_log_found_through_job_log_url_once(client, fake):
    failed = fake.push_id("failed")
    job_id = min(fake.job_ids(failed, result="testfailed"))
    fake.clear_requests()
    for _ in range(3):
        response = client.get(f"/try/jobs/{job_id}/log/")
        assert response.status_code == 302 and response["Location"].endswith("/logs/live_backing.log")
    assert len(fake.request_paths("/job-log-url/")) == 1
    pending = fake.job_ids(fake.push_id("big"), state="pending")[0]
    response = client.get(f"/try/jobs/{pending}/log/")
    assert response.status_code == 404 and "no log for this job yet" in response.content.decode()


@pytest.mark.django_db
def test_the_log_link_of_a_job_of_another_repository_says_it_is_not_in_this_one(client, fake):
    """Treeherder's job-log-url filters by repository: a job of another one has no logs there, as an
    unfinished job has none; its job endpoint (also by repository) answers 404, and the page says so."""
    other = fake.add_push(repo="autoland", size=2, hold="completed")
    job_id = fake.job_ids(other, state="completed")[-1]

    response = client.get(f"/try/jobs/{job_id}/log/")

    html = response.content.decode()
    assert response.status_code == 404
    assert f"Job {job_id} is not in repository “try”" in html and "no log for this job yet" not in html
    assert client.get(f"/autoland/jobs/{job_id}/log/").status_code == 302  # in its own repository


@pytest.mark.django_db
def test_a_chip_opens_the_jobs_details(client, fake):
    failed = fake.push_id("failed")
    job = next(job for job in fake.jobs(failed) if job["result"] == "success")
    card = client.get(f"/try/pushes/{failed}/jobs/{job['id']}/", **HX).content.decode()
    assert "<html" not in card and job["job_type_name"] in card and "log viewer" in card
    assert client.get(f"/try/pushes/{failed}/jobs/1/").status_code == 404


@pytest.mark.django_db
def test_the_push_list_has_one_poller_that_adds_new_pushes_on_top(client, fake, clock):
    html = client.get("/try/?author=").content.decode()
    url = parse_html(html).one(id="list-poll", hx_trigger="load, every 1s").attrs["hx-get"]
    shown = [int(i) for i in ids(parse_html(html), "li", "push-", class_="push-row")]
    first = client.get(url, **HX).content.decode()
    cells = [
        cell.attrs["id"].removeprefix("status-")
        for cell in parse_html(first).find_all("div", id=re.compile(r"status-\d+"), hx_swap_oob="true")
        if "status-cell" in cell.classes and any(c.startswith("state-") for c in cell.classes)
    ]
    assert sorted(map(int, cells)) == sorted(shown)  # every row's status in one answer
    new_id = fake.add_push(author="someone@mozilla.com")
    clock.shift(1.0)
    second = client.get(unescape(re.search(r'hx-get="([^"]+)"', first).group(1)), **HX).content.decode()
    added = parse_html(second).one("ol", hx_swap_oob="afterbegin:#push-list")
    assert added.find_all(id=f"push-{new_id}") and added.find_all(id=f"status-{new_id}")
    # Finished pushes are not asked about again; the new one is.
    next_url = unescape(re.search(r'hx-get="([^"]+)"', second).group(1))
    assert str(new_id) in next_url.split("ids=")[1].split("&")[0]


@pytest.mark.django_db
def test_pages_are_compressed_with_random_padding_but_settings_are_not(client, fake):
    failed = fake.push_id("failed")
    response = client.get(f"/try/pushes/{failed}/", **GZIP)
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    assert response.content[3] & 0x08  # FNAME set: Django's "Heal The Breach" random-length padding
    assert b"Bug 1900002" in gzip.decompress(response.content)
    client.force_login(get_user_model().objects.create_user("carol", "carol@example.com", "pw"))
    settings_page = client.get("/settings/", **GZIP)
    assert settings_page.status_code == 200 and not settings_page.has_header("Content-Encoding")
