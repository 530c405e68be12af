"""The answer first (issue 28), on the server: the links a failure summary gives (the log viewer at the
failing line, Bugzilla's prefilled "file a bug"), which platform groups failed only in known ways, one
vocabulary in the failures page and its Taskcluster link, Confirm and Settings without Taskcluster
credentials, and /watching/'s red bar for a failed push."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from fakeherder import FakeTreeherder
from notifications.models import PushState, Watch
from pushes import answer, jobrows, links
from pushes.rules import Job, Push, TextLogError
from pushes.triage import FailureGroup, JobLog, Triage
from pushes.verdict import summarize_failures
from tests.helpers import has_class, make_user, parse_html, signed_in

MINE = "TEST-UNEXPECTED-FAIL | dom/base/test/test_mine.html | got 1, expected 2"
OLD = "TEST-UNEXPECTED-FAIL | dom/media/test/test_old.html | timed out"


def test_the_log_viewer_link_goes_to_the_failing_line():
    base = "https://treeherder.mozilla.org"
    assert links.treeherder_log_url(base, "try", 42) == f"{base}/logviewer?job_id=42&repo=try"
    assert (
        links.treeherder_log_url(base, "try", 42, 8151)
        == f"{base}/logviewer?job_id=42&repo=try&lineNumber=8151"
    )


def test_a_bugzilla_link_is_prefilled_and_leaves_out_what_is_not_known():
    url = links.bugzilla_file_bug_url("TEST-UNEXPECTED-FAIL | a.html | x & y", "line one\nline two")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "bugzilla.mozilla.org", "/enter_bug.cgi")
    query = parse_qs(parts.query)
    assert query == {
        "bug_type": ["defect"],
        "short_desc": ["TEST-UNEXPECTED-FAIL | a.html | x & y"],
        "comment": ["line one\nline two"],
    }
    with_component = parse_qs(
        urlsplit(links.bugzilla_file_bug_url("s", "d", product="Core", component="DOM")).query
    )
    assert with_component["product"] == ["Core"] and with_component["component"] == ["DOM"]
    assert len(parse_qs(urlsplit(links.bugzilla_file_bug_url("x" * 400, "d")).query)["short_desc"][0]) == 255


def job(job_id: int, platform: str = "linux64", option: str = "debug", **extra: Any) -> Job:
    fields = dict(
        id=job_id, push_id=7, platform=platform, platform_option=option, job_type_name=f"test-{platform}-{job_id}",
        job_type_symbol="bc1", job_group_name="Mochitests", job_group_symbol="M", state="completed",
        result="testfailed", start_timestamp=None, end_timestamp=None, tier=1, task_id=f"T{job_id}",
    )  # fmt: skip
    fields.update(extra)
    return Job(**fields)


def test_file_a_bug_for_a_new_failure_names_the_line_the_job_and_the_push(settings):
    settings.TREEHERDER_URL = "https://th.example"
    settings.TASKCLUSTER_ROOT_URL = "https://tc.example"
    push = Push(id=7, revision="abc123", author="me@mozilla.com", push_timestamp=0, revisions=[])
    failing = job(1)
    error = TextLogError(
        id=1, line=f"[task 2026-12-01T10:00:00Z] 12:00:01  ERROR -  {MINE}", line_number=8151, job=1
    )
    group = FailureGroup(
        key="dom/base/test/test_mine.html", affected_job_count=1, errors=[error], job_ids=[1]
    )
    jobs = answer.failure_jobs("try", group, {1: jobrows.job_row("try", push.revision, failing, 0.0)})
    assert [(j.platform, j.symbol, j.line_number) for j in jobs] == [("linux64 debug", "M(bc1)", 8151)]
    assert jobs[0].viewer_url.endswith("&lineNumber=8151") and jobs[0].log_url == "/try/jobs/1/log/"

    query = parse_qs(urlsplit(answer.file_bug_url("try", push, group, jobs)).query)
    assert query["short_desc"] == [MINE]  # the line, without the harness prefixes
    comment = query["comment"][0]
    assert "try push 7: https://th.example/jobs?repo=try&revision=abc123" in comment
    assert "Log (line 8151): https://th.example/logviewer?job_id=1&repo=try&lineNumber=8151" in comment
    assert "Task: https://tc.example/tasks/T1" in comment and MINE in comment
    assert "product" not in query and "component" not in query  # bug suggestions carry neither


def test_a_group_is_known_only_when_every_failed_job_in_it_is_explained():
    def log(job_id: int, platform: str, line: str, **extra: Any) -> JobLog:
        errors = [TextLogError(id=job_id, line=line, line_number=10, job=job_id)]
        return JobLog(
            job=job(job_id, platform, **extra), errors=errors, parse_status="parsed", suggestions=[]
        )

    logs = [
        log(1, "linux64", OLD),
        log(2, "windows11-64", MINE),
        log(3, "windows11-64", OLD),
        log(4, "macosx", MINE, failure_classification_id=4),  # classified intermittent on Treeherder
    ]
    summary = summarize_failures(logs, failed_total=4, tier1_failed=4)
    # Mark OLD as already failing, MINE as new (what Treeherder's suggestions would say).
    groups = [
        replace(g, triage=Triage.PREEXISTING if "test_old" in g.key else Triage.NEW) for g in summary.groups
    ]
    summary = replace(summary, groups=groups)
    failed = {"g-linux64-debug": 1, "g-windows11-64-debug": 2, "g-macosx-debug": 1}
    assert answer.known_only_anchors(summary, failed) == {"g-linux64-debug", "g-macosx-debug"}
    # A failed job the summary has not triaged yet keeps its group "failing".
    assert answer.known_only_anchors(summary, {**failed, "g-linux64-debug": 2}) == {"g-macosx-debug"}
    assert answer.known_only_anchors(None, failed) == frozenset()


# --- Pages -------------------------------------------------------------------------------------------------


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings: Any) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    return fake_treeherder


def failed_push(fake: FakeTreeherder) -> int:
    push_id = fake.add_push(messages=["Bug 7 - Answer me"], size=1, hold="completed")
    fake.add_job(push_id, "completed", result="testfailed", platform="linux1804-64", errors=[MINE])
    fake.add_job(push_id, "completed", result="testfailed", platform="macosx1015-64", errors=[OLD], seen=37)
    return push_id


@pytest.mark.django_db
def test_the_failures_page_has_the_taskcluster_link_and_one_vocabulary(fake):
    push_id = failed_push(fake)
    page = Client().get(f"/try/pushes/{push_id}/failures/").content.decode()
    html = parse_html(page)
    links_ = html.one("div", class_="push-links").find_all("a")
    assert any("/tasks/groups/" in a.attrs["href"] and a.text == "Taskcluster" for a in links_)
    assert "1 already failing on autoland/mozilla-central" in html.one("p", class_="triage-line").text
    assert "also failing" not in page
    new = html.one("section", id="failures-new")
    assert "1 new failure" in new.one("h3").text  # the triage line's count
    assert (
        html.one(id="failures-preexisting")
        .one("h3")
        .text.strip()
        .endswith("1 already failing on autoland/mozilla-central")
    )
    jobs = new.one("ul", class_="failure-jobs").text
    assert "linux1804-64 opt" in jobs or "linux1804-64 debug" in jobs  # platform with its option
    assert (
        new.one("p", class_="file-bug")
        .one("a")
        .attrs["href"]
        .startswith("https://bugzilla.mozilla.org/enter_bug.cgi?")
    )
    assert not html.one(id="failures-preexisting").find_all("p", class_="file-bug")  # new failures only


@pytest.mark.django_db
def test_confirm_without_credentials_says_what_to_set_up(fake):
    push_id = failed_push(fake)
    carol = make_user("carol", "carol@mozilla.com")
    section = signed_in(carol).get(f"/try/pushes/{push_id}/failures/").content.decode()
    html = parse_html(section)
    assert not html.find_all("form", class_="confirm-form")
    note = html.one("p", data_confirming="no-credentials")
    assert "add your Taskcluster credentials in Settings" in note.text
    assert note.one("a").attrs["href"] == "/settings/#taskcluster"

    settings_page = signed_in(carol).get("/settings/").content.decode()
    words = parse_html(settings_page).one("p", class_=has_class("no-credentials")).text
    assert "Retrigger and Confirm run" in words and "retrigger it on Treeherder instead" in words
    assert "will send you to Treeherder" not in settings_page


@pytest.mark.django_db
def test_watching_shows_a_failed_push_with_a_red_bar(client):
    user = make_user("dana", "dana@mozilla.com")
    Watch.objects.create(user=user, repo="try", push_id=11)
    Watch.objects.create(user=user, repo="try", push_id=12)
    PushState.objects.create(
        repo="try", push_id=11, state="running", job_count=10, completed_count=4, failed_count=2
    )
    PushState.objects.create(repo="try", push_id=12, state="running", job_count=10, completed_count=4)
    client.force_login(user)
    html = parse_html(client.get("/watching/").content.decode())
    assert html.one("tr", id="watch-try-11").one("td", class_=has_class("state-failing")).find_all("progress")
    assert html.one("tr", id="watch-try-12").one("td", class_=has_class("state-running")).find_all("progress")
