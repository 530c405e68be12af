"""Failure triage on the pages, over real HTTP against the fake Treeherder: the failure summary in
three sections (new first), and the push's verdict in the list's status cell, the header and tab."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from fakeherder import FakeTreeherder
from tests.helpers import parse_html

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
INTERMITTENT = (
    "TEST-UNEXPECTED-FAIL | devtools/client/netmonitor/src/har/test/browser_net_har_copy_all_as_har.js"
    " | There must be some page title -"
)
OLD = "TEST-UNEXPECTED-FAIL | dom/media/test/test_old.html | timed out"
MINE = "TEST-UNEXPECTED-FAIL | dom/base/test/test_mine.html | got 1, expected 2 <script>alert(1)</script>"


@pytest.fixture
def upstream(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def push_with(upstream: FakeTreeherder, *failures: tuple[str, int], classification: int = 1) -> int:
    push_id = upstream.add_push(messages=["Bug 42 - Triage me"], size=1, hold="completed")
    upstream.add_job(push_id, "completed", platform="windows11-64")
    for n, (line, seen) in enumerate(failures):
        upstream.add_job(push_id, "completed", result="testfailed", platform=f"linux{n}", errors=[line], seen=seen,
                         classification=classification)  # fmt: skip
    return push_id


def sections(html: str) -> list[str]:
    return re.findall(r'data-section="(\w+)"', html)


def test_failure_summary_shows_new_then_preexisting_then_intermittent(upstream):
    push_id = push_with(upstream, (INTERMITTENT, 9), (OLD, 37), (MINE, 0))
    response = Client().get(f"/try/pushes/{push_id}/failures/")
    assert response.status_code == 200
    html = response.content.decode()

    assert sections(html) == ["new", "preexisting", "intermittent"]
    assert (
        "1 new failure (dom/base/test/test_mine.html) · 1 known intermittent · 1 already failing on autoland/mozilla-central"
        in html
    )
    page = parse_html(html)
    groups = [li.attrs.get("data-triage") for li in page.find_all("li", class_="failure-group")]
    assert groups == ["new", "preexisting", "intermittent"]
    # Each class has a word beside its colour, and its evidence.
    badge, key = page.find_all("li", data_triage="new")[0].one("p", class_="failure-key").elements[:2]
    assert (badge.tag, badge.classes, badge.text) == ("span", {"badge", "c-red"}, "new")
    assert (key.tag, key.text) == ("code", "dom/base/test/test_mine.html")
    assert "Seen 37× on autoland/mozilla-central in the last 21 days." in html
    assert 'href="https://bugzilla.mozilla.org/show_bug.cgi?id=1622925">Bug 1622925</a>' in html
    # Log lines are untrusted: escaped.
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_jobs_classified_intermittent_by_treeherder_are_known_and_say_so(upstream):
    push_id = push_with(upstream, (MINE, 0), classification=4)
    html = Client().get(f"/try/pushes/{push_id}/failures/", **HX).content.decode()
    assert sections(html) == ["intermittent"]
    assert "Classified as intermittent on Treeherder (1 job)." in html


def test_a_log_not_parsed_yet_says_so_and_the_push_is_not_called_known(upstream):
    push_id = push_with(upstream, (INTERMITTENT, 9))
    pending = upstream.add_job(push_id, "completed", result="testfailed", platform="mac")  # no log lines yet
    html = Client().get(f"/try/pushes/{push_id}/failures/").content.decode()
    assert "Logs not parsed yet" in html
    assert re.search(r"selectedTaskRun=[^\"]*\">mac [^<]*</a> — log not parsed yet", html), pending
    detail = Client().get(f"/try/pushes/{push_id}/").content.decode()
    assert "known failures only" not in detail


@pytest.mark.parametrize(
    ("failures", "badge", "favicon"),
    [
        ([(INTERMITTENT, 9), (OLD, 37)], "⚠ known failures only", "favicon-known.svg"),
        (
            [(INTERMITTENT, 9), (MINE, 0), (MINE.replace("mine", "mine2"), 0)],
            "✗ 2 new failures",
            "favicon-failing.svg",
        ),
        ([], "✓ passed", "favicon-passing.svg"),
    ],
)
def test_the_verdict_shows_in_the_list_the_header_and_the_tab(upstream, failures, badge, favicon):
    push_id = push_with(upstream, *failures)
    detail = Client().get(f"/try/pushes/{push_id}/").content.decode()
    assert f"<title>{badge} · Bug 42 - Triage me" in detail
    # A failing push's badge links to its failure summary (issue 28); a passed one's is a plain label.
    assert (f">{badge}</a>" if "passed" not in badge else f">{badge}</span>") in detail
    assert favicon in detail
    cell = Client().get(f"/try/pushes/{push_id}/status/", **HX).content.decode()
    assert f">{badge}</span>" in cell


def test_no_cap_the_only_new_failure_of_40_being_the_40th_is_the_verdict(upstream):
    push_id = push_with(upstream, *[(INTERMITTENT, 9)] * 39, (MINE, 0))
    detail = Client().get(f"/try/pushes/{push_id}/").content.decode()
    assert "<title>✗ 1 new failure · Bug 42 - Triage me" in detail
    html = Client().get(f"/try/pushes/{push_id}/failures/", **HX).content.decode()
    assert "40 failed jobs." in html and "not shown" not in html
    assert sections(html) == ["new", "intermittent"]
    assert "1 new failure (dom/base/test/test_mine.html) · 1 known intermittent" in html
