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
    return unescape(re.search(r'id="push-poll" hx-get="([^"]+)"', html).group(1))


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
    chips = set(re.findall(r'<a id="job-(\d+)"', body))
    rows = set(re.findall(r'<tr id="jr-(\d+)"', body))
    swapped = {int(job_id) for job_id in chips | rows}
    assert swapped == {job_id for job_id in changed if anchor_of[job_id] in opened}  # and nothing else
    summaries = set(re.findall(r'<summary id="gs-([\w-]+)"', body))
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
    appended = re.findall(r'<tbody hx-swap-oob="beforeend:#fr-g-[\w-]+">(.*?)</tbody>', body, re.S)
    redrawn = re.findall(r'<div id="gj-g-[\w-]+" hx-swap-oob="innerHTML">(.*?)</tbody></table>', body, re.S)
    for job_id in newly:
        assert f'<tr id="jr-{job_id}" class="job failed"' in "".join(appended + redrawn)
    assert re.search(r'<summary id="gs-g-[\w-]+" data-status="failing" hx-swap-oob="true">', body)


def failure_section(body: str) -> str:
    found = re.search(
        r'<section id="failures" class="failures" data-digest="(\w+)"[^>]*>.*?</section>\s*$', body, re.S
    )
    return found.group(0) if found else ""


def digest_of(section: str) -> str:
    return re.search(r'data-digest="(\w+)"', section).group(1)


@pytest.mark.django_db
def test_the_failure_summary_comes_with_a_refresh_only_when_it_changed(client, fake, clock):
    running = fake.push_id("running")
    url = poll_url(client.get(f"/try/pushes/{running}/").content.decode())
    loaded = client.get(f"/try/pushes/{running}/failures/", **HX).content.decode()
    assert 'id="failures"' in loaded and "hx-trigger" not in loaded  # it does not poll itself
    standalone = client.get(f"/try/pushes/{running}/failures/").content.decode()  # its own page does
    assert f'hx-get="/try/pushes/{running}/failures/?self=1" hx-trigger="every 1s"' in standalone
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


def groups_on(html: str) -> list[str]:
    return re.findall(r'<details class="group[^"]*" id="([^"]+)"', html)


def added(body: str) -> str:
    found = re.search(
        r'<div hx-swap-oob="beforeend:#push-groups">(.*?)</div>(?=<p id="push-empty"|<tbody|<tr|<div id="push|$)',
        body,
        re.S,
    )
    return found.group(1) if found else ""


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
    assert groups_on(group) == ["g-linux2404-64-opt"] and f'<tr id="jr-{first}" class="job failed"' in group
    assert '<p id="push-empty" hx-swap-oob="delete">' in body

    second = running_job(fake, running, "linux2404-64")
    fake.set_job(second, "completed", "testfailed")
    clock.shift(1.0)
    body = refresh(client, poll_url(body), ["g-linux2404-64-opt"])
    appended = re.search(r'<tbody hx-swap-oob="beforeend:#fr-g-linux2404-64-opt">(.*?)</tbody>', body, re.S)
    assert f'<tr id="jr-{second}" class="job failed"' in appended.group(1)
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
    row = re.search(rf'<tr id="jr-{job_id}" class="job" hx-swap-oob="true">.*?</tr>', body).group(0)
    assert ">success<" in row  # swapped in place, not removed: nothing the reader reads moves
    group = added(body)
    assert groups_on(group) == ["g-linux1804-64-opt"] and f'<tr id="jr-{late}"' in group


@pytest.mark.django_db
def test_a_group_whose_first_jobs_arrive_is_added_to_the_page(client, fake, clock):
    running = fake.push_id("running")
    html = client.get(f"/try/pushes/{running}/").content.decode()
    assert "g-linux-brand-new-opt" not in groups_on(html)
    fake.add_job(running, "pending", platform="linux-brand-new", name="test-linux-brand-new/opt-1")
    clock.shift(1.0)
    body = client.get(poll_url(html), **HX).content.decode()
    group = added(body)
    assert groups_on(group) == ["g-linux-brand-new-opt"] and 'hx-trigger="toggle once"' in group
    assert 'id="gs-g-linux-brand-new-opt" data-status="pending"' in group
    assert "push-empty" not in body  # the page had groups


@pytest.mark.django_db
def test_a_token_older_than_the_change_log_reloads_the_live_section(client, fake):
    big = fake.push_id("big")
    client.get(f"/try/pushes/{big}/")
    response = client.get(f"/try/pushes/{big}/live/?since=1000.000&open=", **HX)
    assert response["HX-Retarget"] == "#push-live" and response["HX-Reswap"] == "outerHTML"
    assert response.content.decode().lstrip().startswith('<section id="push-live"')
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
    statuses = re.findall(r'<span class="badge c-\w+">(\w+)</span></td>', html)
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
    pending_row = re.search(
        r'<tr id="jr-\d+" class="job">(?:(?!</tr>).)*>pending<(?:(?!</tr>).)*</tr>', html
    ).group(0)
    assert '<td class="duration"></td>' in pending_row and "Retrigger" not in pending_row
    assert re.search(r'<span class="elapsed" data-since="\d+">(\d+ min|&lt; 1 min)</span>', html)


def test_natural_symbol_order():
    symbols = ["M(10)", "M(2)", "M(bc10)", "M(bc2)", "M(1)", "X(1)", "M(dt10)", "M(dt2)"]
    assert sorted(symbols, key=jobview.natural_key) == [
        "M(1)", "M(2)", "M(10)", "M(bc2)", "M(bc10)", "M(dt2)", "M(dt10)", "X(1)"
    ]  # fmt: skip


@pytest.mark.django_db
def test_compact_view_shows_chips_and_rows_for_the_failures_with_log_links(client, fake):
    failed = fake.push_id("failed")
    html = client.get(f"/try/pushes/{failed}/").content.decode()
    live = html[html.index('id="push-live"') : html.index('id="failures"')]
    failed_ids = set(fake.job_ids(failed, result="testfailed", tier=1))
    rows = {int(job_id) for job_id in re.findall(r'<tr id="jr-(\d+)"', live)}
    assert failed_ids <= rows  # every tier-1 test failure has its row, in a group open at once
    chips = re.findall(r'<a id="job-(\d+)" class="chip c-(\w+)"', live)
    assert len(chips) > 4 * len(rows) and (str(min(failed_ids)), "red") in chips
    job_id = min(failed_ids)
    row = re.search(rf'<tr id="jr-{job_id}".*?</tr>', live).group(0)
    assert f'href="/try/jobs/{job_id}/log/"' in row
    assert f'href="{fake.url}/logviewer?job_id={job_id}&amp;repo=try"' in row
    assert "Treeherder</a>" in row and "task</a>" in row
    # Groups: failing ones first; their summaries line up as one row each.
    statuses = re.findall(r'<summary id="gs-g-[\w-]+" data-status="(\w+)"', live)
    assert statuses[: statuses.count("failing")] == ["failing"] * statuses.count("failing")


@pytest.mark.django_db
def test_filters_and_search_work_as_plain_links(client, fake):
    failed = fake.push_id("failed")
    only = client.get(f"/try/pushes/{failed}/?show=failures").content.decode()
    live = only[only.index('id="push-live"') : only.index('id="failures"')]
    assert 'class="chip' not in live and 'data-status="passing"' not in live
    assert {int(i) for i in re.findall(r'<tr id="jr-(\d+)"', live)} >= set(
        fake.job_ids(failed, result="testfailed", tier=1)
    )
    assert 'value="failures" checked' in only

    wanted = next(job for job in fake.jobs(failed) if "xpcshell" in job["job_type_name"])
    search = client.get(f"/try/pushes/{failed}/?q=XPCshell&view=rows").content.decode()
    names = set(re.findall(r'<span class="job-name">([^<]+)</span>', search))
    assert wanted["job_type_name"] in names and all("xpcshell" in name for name in names)
    # A test name matches the failed jobs whose failure mentions it (from the failure summary).
    by_test = client.get(f"/try/pushes/{failed}/?q=test_transaction_lifetimes").content.decode()
    assert 'class="job failed"' in by_test
    nothing = client.get(f"/try/pushes/{failed}/?q=no-such-job-anywhere", **HX).content.decode()
    assert "No jobs match the filter" in nothing and nothing.lstrip().startswith('<section id="push-live"')


@pytest.mark.django_db
def test_one_retrigger_control_per_page_and_buttons_only_on_completed_jobs(bob_client, fake):
    failed = fake.push_id("failed")
    html = bob_client.get(f"/try/pushes/{failed}/").content.decode()
    assert html.count('<form id="retrigger"') == 1 and html.count('<select name="times"') == 1
    job_id = min(fake.job_ids(failed, result="testfailed"))
    assert f'form="retrigger" formaction="/try/jobs/{job_id}/retrigger/"' in html
    row_bytes = [len(row) for row in re.findall(r'<tr id="jr-\d+".*?</tr>', html, re.S)]
    assert max(row_bytes) < 1200  # no form, select and token per row any more


@pytest.mark.django_db
def test_the_groups_rendered_for_one_viewer_are_not_served_to_another_kind(client, fake):
    failed = fake.push_id("failed")
    job_id = min(fake.job_ids(failed, result="testfailed"))
    anonymous = client.get(f"/try/pushes/{failed}/").content.decode()
    assert f'<tr id="jr-{job_id}"' in anonymous and "formaction=" not in anonymous
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
def test_a_chip_opens_the_jobs_details(client, fake):
    failed = fake.push_id("failed")
    job = next(job for job in fake.jobs(failed) if job["result"] == "success")
    card = client.get(f"/try/pushes/{failed}/jobs/{job['id']}/", **HX).content.decode()
    assert "<html" not in card and job["job_type_name"] in card and "log viewer" in card
    assert client.get(f"/try/pushes/{failed}/jobs/1/").status_code == 404


@pytest.mark.django_db
def test_the_push_list_has_one_poller_that_adds_new_pushes_on_top(client, fake, clock):
    html = client.get("/try/?author=").content.decode()
    url = unescape(re.search(r'id="list-poll" hx-get="([^"]+)" hx-trigger="load, every 1s"', html).group(1))
    shown = [int(i) for i in re.findall(r'<li class="push-row" id="push-(\d+)"', html)]
    first = client.get(url, **HX).content.decode()
    cells = re.findall(r'<div class="status-cell state-\w+" id="status-(\d+)" hx-swap-oob="true">', first)
    assert sorted(map(int, cells)) == sorted(shown)  # every row's status in one answer
    new_id = fake.add_push(author="someone@mozilla.com")
    clock.shift(1.0)
    second = client.get(unescape(re.search(r'hx-get="([^"]+)"', first).group(1)), **HX).content.decode()
    added = second[second.index('<ol hx-swap-oob="afterbegin:#push-list">') :]
    assert f'id="push-{new_id}"' in added and f'id="status-{new_id}"' in added
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
