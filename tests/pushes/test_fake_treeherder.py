"""The fake Treeherder over real HTTP (loopback): the real API's shapes and errors, paging through the
5,000-job push, the simulated clock, the Taskcluster retrigger endpoints, the control endpoints and the
CLI — and the real client (pushes/treeherder.py) reading everything it needs from it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import jsone
import pytest
import requests
import taskcluster

from fakeherder import (
    BIG_PUSH_JOBS,
    DEMO_AUTHOR,
    NON_MOZILLA_AUTHOR,
    PROJECT_PROPERTY_NAMES,
    UI_PROPERTY_NAMES,
    XSS_TEXT,
    FakeTreeherder,
)
from pushes.rules import Revision, TextLogError, display_title
from pushes.triage import failure_groups

T0 = 1_795_000_000  # a fixed simulated start: every answer is reproducible
COUNT_DETAIL = "Specified count exceeds API MAX_JOBS_COUNT value: 2000"


@pytest.fixture
def fake_scenario() -> str:
    return "default"


@pytest.fixture
def fake_start_time() -> float:
    return T0


@pytest.fixture
def default_fake(fake_treeherder: FakeTreeherder) -> FakeTreeherder:
    """The session's fake on the default scenario at T0 (rebuilt only when a test changed it)."""
    return fake_treeherder


@pytest.fixture
def quick(fake_treeherder: FakeTreeherder) -> FakeTreeherder:
    fake_treeherder.reset("quick", start_time=T0)
    return fake_treeherder


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["User-Agent"] = "BuildWatch tests"
        yield session


def get(http: requests.Session, fake: FakeTreeherder, path: str, **params: object) -> requests.Response:
    return http.get(fake.url + path, params=params, timeout=10)


def all_ui_jobs(http: requests.Session, url: str) -> tuple[list[dict], int]:
    """Every row of `/api/jobs/` from `url`, following `next`; and the number of pages read."""
    rows, pages = [], 0
    while url:
        body = http.get(url, timeout=10).json()
        pages += 1
        names = body["job_property_names"]
        rows += [dict(zip(names, row, strict=True)) for row in body["results"]]
        url = body["next"]
    return rows, pages


# --- Repositories, pushes ---------------------------------------------------------------------------------


def test_it_serves_repositories_and_failure_classifications(http, default_fake):
    repos = get(http, default_fake, "/api/repository/").json()
    classifications = get(http, default_fake, "/api/failureclassification/").json()

    assert {repo["name"] for repo in repos} == {"mozilla-central", "try", "autoland"}
    assert classifications[0] == {"id": 1, "name": "not classified"}
    assert {c["id"] for c in classifications} == set(range(1, 9))


def test_push_list_is_newest_first_ten_by_default_with_meta(http, default_fake):
    response = get(http, default_fake, "/api/project/try/push/")
    body = response.json()

    assert response.headers["Content-Type"] == "application/json"
    assert body["meta"] == {"count": 10, "repository": "try", "filter_params": {}}
    ids = [push["id"] for push in body["results"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 10
    push = body["results"][0]
    assert list(push) == [
        "id", "revision", "author", "revisions", "revision_count", "push_timestamp", "repository_id", "branch",
    ]  # fmt: skip
    assert push["revision"] == push["revisions"][0]["revision"]  # top commit first
    assert set(push["revisions"][0]) == {"result_set_id", "repository_id", "revision", "author", "comments"}
    # the push arriving 4 minutes in is not listed yet
    assert default_fake.push_id("future") not in ids
    big = get(http, default_fake, f"/api/project/try/push/{default_fake.push_id('big')}/").json()
    assert (len(big["revisions"]), big["revision_count"]) == (20, 25)  # at most 20 commits, top first
    assert big["revisions"][1]["comments"].startswith("Bug 1900006 - Part 24:")


def test_push_list_filters_by_author_case_insensitively_and_pages_with_id_lt(http, default_fake):
    mine = get(http, default_fake, "/api/project/try/push/", author=DEMO_AUTHOR.upper(), count=100).json()
    others = get(http, default_fake, "/api/project/try/push/", author="-" + DEMO_AUTHOR, count=100).json()
    older = get(http, default_fake, "/api/project/try/push/", id__lt=511138, count=3).json()

    assert mine["results"] and {p["author"] for p in mine["results"]} == {DEMO_AUTHOR}
    assert [p["id"] for p in mine["results"]] == default_fake.push_ids(author=DEMO_AUTHOR)
    assert DEMO_AUTHOR not in {p["author"] for p in others["results"]}
    assert {NON_MOZILLA_AUTHOR, "jarilvalenciano@gmail.com"} <= {p["author"] for p in others["results"]}
    assert [p["id"] for p in older["results"]] == [511137, 511136, 511135]
    assert older["meta"]["filter_params"] == {"id__lt": "511138", "count": "3"}


def test_push_list_is_ordered_by_time_as_treeherder_orders_it(http, quick):
    """A push ingested late (a higher id, an older time) is listed at its time; pushes of the same second
    come in an order of their own (PostgreSQL's for `-time` alone), not by id, and filters by time are
    Treeherder's (any float moment; a bad one is a 400 naming the parameter)."""
    ids = quick.push_ids()  # 600005 ... 600001, pushed 20 s to 2 h ago
    late = quick.add_push(pushed_ago=3000)  # between 600003 (1 h ago) and 600004 (30 s ago)
    ties = [quick.add_push(pushed_ago=4500) for _ in range(4)]  # between 600003 and 600002
    listed = [p["id"] for p in get(http, quick, "/api/project/try/push/", count=20).json()["results"]]

    assert late > max(ids) and listed.index(late) == 2 and listed[:2] == ids[:2]
    assert set(listed[4:8]) == set(ties) and listed[3] == ids[2] and listed[8:] == ids[3:]
    orders = {
        tuple(p["id"] for p in get(http, quick, "/api/project/try/push/", count=n).json()["results"][4:8])
        for n in (8, 9, 10, 11, 20)
    }
    assert all(set(order) == set(ties) for order in orders)
    assert len(orders) > 1 and tuple(sorted(ties, reverse=True)) not in orders  # ties: no order of ids

    moment = quick.push(late).push_timestamp
    older = get(http, quick, "/api/project/try/push/", push_timestamp__lte=moment, count=3).json()
    assert [p["id"] for p in older["results"]][:2] == [late, ids[2]] and older["results"][2]["id"] in ties
    assert older["meta"]["filter_params"] == {"push_timestamp__lte": str(moment), "count": "3"}
    strictly = get(http, quick, "/api/project/try/push/", push_timestamp__lt=f"{moment}.0", count=1).json()
    assert [p["id"] for p in strictly["results"]] == [ids[2]]
    bad = get(http, quick, "/api/project/try/push/", push_timestamp__lte="soon")
    assert (bad.status_code, bad.json()) == (
        400,
        {"detail": "Invalid timestamp specified for push_timestamp__lte"},
    )


@pytest.mark.parametrize(
    ("count", "status"), [("0", 400), ("-1", 400), ("1001", 400), ("ten", 400), ("1000", 200), ("1", 200)]
)
def test_push_list_count_is_bounded(http, default_fake, count, status):
    response = get(http, default_fake, "/api/project/try/push/", count=count)

    assert response.status_code == status
    if status == 400:
        assert "detail" in response.json()


def test_one_push_and_its_404s(http, default_fake):
    push_id = default_fake.push_id("failed")

    assert get(http, default_fake, f"/api/project/try/push/{push_id}/").json()["id"] == push_id
    missing = get(http, default_fake, "/api/project/try/push/5/")
    assert (missing.status_code, missing.json()) == (404, "No push with id: 5")
    future = get(http, default_fake, f"/api/project/try/push/{default_fake.push_id('future')}/")
    assert future.status_code == 404
    unknown_repo = get(http, default_fake, "/api/project/no-such-repo/push/")
    assert (unknown_repo.status_code, unknown_repo.json()) == (
        404,
        {"detail": "No project with name no-such-repo"},
    )


@pytest.mark.parametrize(
    "path",
    ["/api/project/try/push", "/api/jobs", "/api/project/try/push/511140", "/api/nothing/here/", "/jobs"],
)
def test_a_path_without_trailing_slash_or_unknown_answers_html(http, default_fake, path):
    response = get(http, default_fake, path)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<!doctype html>")


def test_push_status_counts_states_and_results_of_tier_1_2_unclassified_jobs(http, default_fake):
    push_id = default_fake.push_id("failed")
    status = get(http, default_fake, f"/api/project/try/push/{push_id}/status/").json()

    jobs = default_fake.jobs(push_id)
    counted = [j for j in jobs if j["tier"] < 3 and j["failure_classification_id"] == 1]
    assert status["completed"] == len(counted) < len(jobs)  # the classified intermittent is left out
    assert status["pending"] == status["running"] == 0
    assert status["testfailed"] >= 3 and status["busted"] == 1 and status["success"] > 100


def test_decision_task_lookup(http, default_fake):
    push_id = default_fake.push_id("failed")
    other = default_fake.push_id("xss")

    body = get(
        http, default_fake, "/api/project/try/push/decisiontask/", push_ids=f"{push_id},{other}"
    ).json()
    assert body[str(push_id)] == {"id": default_fake.decision_task_id(push_id), "run": "0"}
    assert set(body) == {str(push_id), str(other)}
    missing = get(http, default_fake, "/api/project/try/push/decisiontask/", push_ids="5")
    assert missing.status_code == 404 and isinstance(missing.json(), str)


# --- Jobs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/jobs/", "/api/project/try/jobs/"])
def test_more_than_2000_jobs_a_page_is_a_400(http, default_fake, path):
    response = get(http, default_fake, path, push_id=default_fake.push_id("big"), count=2001)

    assert (response.status_code, response.json()) == (400, {"detail": COUNT_DETAIL})


def test_api_jobs_pages_reach_every_job_of_the_big_push_in_id_order(http, default_fake):
    push_id = default_fake.push_id("big")
    first = get(http, default_fake, "/api/jobs/", push_id=push_id, count=2000).json()

    assert first["job_property_names"] == UI_PROPERTY_NAMES
    assert first["count"] > BIG_PUSH_JOBS and first["previous"] is None
    assert first["next"] == f"{default_fake.url}/api/jobs/?count=2000&page=2&push_id={push_id}"
    rows, pages = all_ui_jobs(http, f"{default_fake.url}/api/jobs/?push_id={push_id}&count=2000")
    ids = [row["id"] for row in rows]
    assert pages == 3 and len(ids) == first["count"]
    assert ids == sorted(set(ids))
    assert {row["push_id"] for row in rows} == {push_id}
    second = get(http, default_fake, "/api/jobs/", push_id=push_id, count=2000, page=2).json()
    assert second["previous"] == f"{default_fake.url}/api/jobs/?count=2000&push_id={push_id}"
    assert get(http, default_fake, "/api/jobs/", push_id=push_id, count=2000, page=4).status_code == 404


def test_project_jobs_offset_paging_meta_and_todays_property_order(http, default_fake):
    push_id = default_fake.push_id("big")
    rows, offset = [], 0
    while True:
        body = get(
            http,
            default_fake,
            "/api/project/try/jobs/",
            push_id=push_id,
            count=2000,
            offset=offset,
            return_type="list",
        ).json()
        assert body["meta"] == {"repository": "try", "offset": offset, "count": 2000}
        rows += body["results"]
        if len(body["results"]) < 2000:
            break
        offset += 2000

    assert body["job_property_names"] == PROJECT_PROPERTY_NAMES
    assert PROJECT_PROPERTY_NAMES[-1] == "platform_option"
    ids = [row[PROJECT_PROPERTY_NAMES.index("id")] for row in rows]
    assert len(ids) == len(set(ids)) == len(default_fake.jobs(push_id)) > BIG_PUSH_JOBS
    as_dicts = get(http, default_fake, "/api/project/try/jobs/", push_id=push_id).json()
    assert len(as_dicts["results"]) == 10  # count defaults to 10
    assert list(as_dicts["results"][0]) == PROJECT_PROPERTY_NAMES
    assert "job_property_names" not in as_dicts


def test_bad_last_modified_dates_are_400s(http, default_fake):
    push_id = default_fake.push_id("failed")

    ui = get(http, default_fake, "/api/jobs/", push_id=push_id, last_modified__gt="yesterday")
    project = get(http, default_fake, "/api/project/try/jobs/", push_id=push_id, last_modified__gte="soon")

    assert (ui.status_code, ui.json()) == (400, {"last_modified__gt": ["Enter a valid date/time."]})
    assert (project.status_code, project.json()) == (400, "Invalid date value for `last_modified`: soon")


def test_jobs_move_from_decision_only_to_pending_running_completed(http, quick):
    push_id = quick.push_id("watched")

    def states() -> dict[str, int]:
        rows, _ = all_ui_jobs(http, f"{quick.url}/api/jobs/?push_id={push_id}")
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return counts

    at_start = get(http, quick, "/api/jobs/", push_id=push_id).json()["results"]
    assert [row[UI_PROPERTY_NAMES.index("job_type_name")] for row in at_start] == ["Gecko Decision Task"]
    quick.advance(90)  # the decision task is done: the whole graph is there, tests wait for the build
    assert states() == {"completed": 1, "running": 1, "unscheduled": len(quick.jobs(push_id)) - 2}
    quick.advance(60)
    assert states().get("running", 0) > 1 and "unscheduled" not in states()
    quick.advance(150)
    final = states()
    assert set(final) == {"completed"} and final["completed"] > 5
    assert quick.is_finished(push_id)


def test_last_modified_gt_returns_only_jobs_changed_since(http, quick):
    push_id = quick.push_id("failing")
    quick.advance(100)
    before, _ = all_ui_jobs(http, f"{quick.url}/api/jobs/?push_id={push_id}")
    cursor = max(row["last_modified"] for row in before)
    by_id = {row["id"]: row for row in before}

    assert get(http, quick, "/api/jobs/", push_id=push_id, last_modified__gt=cursor).json()["results"] == []
    quick.advance(60)
    changed, _ = all_ui_jobs(http, f"{quick.url}/api/jobs/?push_id={push_id}&last_modified__gt={cursor}")
    everything, _ = all_ui_jobs(http, f"{quick.url}/api/jobs/?push_id={push_id}")

    assert changed and len(changed) < len(everything)
    assert all(row["last_modified"] > cursor for row in changed)
    expected = {
        row["id"] for row in everything if row["id"] not in by_id or row["state"] != by_id[row["id"]]["state"]
    }
    assert {row["id"] for row in changed} == expected
    project = get(
        http, quick, "/api/project/try/jobs/", push_id=push_id, last_modified__gt=cursor, count=2000,
        return_type="list",
    ).json()  # fmt: skip
    assert len(project["results"]) == len(changed)
    lte = get(http, quick, "/api/jobs/", push_id=push_id, last_modified__lte=cursor).json()
    assert lte["count"] == len(everything) - len([r for r in changed if r["id"] in by_id])


def test_bulk_updates_do_not_touch_last_modified(http, quick):
    push_id = quick.push_id("green")
    job_id = quick.job_ids(push_id, result="success")[-1]
    before = {row["id"]: row for row in quick.jobs(push_id)}
    cursor = max(row["last_modified"] for row in before.values())

    quick.bulk_update([job_id], result="superseded", failure_classification_id=7)

    assert get(http, quick, "/api/jobs/", push_id=push_id, last_modified__gt=cursor).json()["results"] == []
    job = get(http, quick, f"/api/project/try/jobs/{job_id}/").json()
    assert (job["result"], job["failure_classification_id"]) == ("superseded", 7)
    assert job["last_modified"] == before[job_id]["last_modified"]


def test_one_job_with_logs_and_its_404(http, default_fake):
    push_id = default_fake.push_id("failed")
    job_id = default_fake.job_ids(push_id, result="testfailed")[0]

    job = get(http, default_fake, f"/api/project/try/jobs/{job_id}/").json()
    assert job["id"] == job_id and job["result"] == "testfailed" and job["state"] == "completed"
    assert job["logs"][0]["name"] == "live_backing_log" and job["logs"][0]["url"].endswith("live_backing.log")
    assert job["taskcluster_metadata"] == {"task_id": job["task_id"], "retry_id": 0}
    missing = get(http, default_fake, "/api/project/try/jobs/12/")
    assert (missing.status_code, missing.json()) == (404, "No job with id: 12")
    log = http.get(job["logs"][0]["url"], timeout=10)
    assert log.status_code == 200 and "TEST-UNEXPECTED-FAIL" in log.text


def test_error_lines_are_empty_until_the_log_is_parsed(http, quick):
    push_id = quick.push_id("failing")
    job = next(j for j in quick.push(push_id).jobs if j.result == "testfailed" and j.tier == 1)
    quick.advance(job.end_at - quick.now() + 1)  # just completed, not parsed yet

    log_urls = get(http, quick, "/api/project/try/job-log-url/", job_id=job.id).json()
    assert log_urls and {row["parse_status"] for row in log_urls} == {"pending"}
    assert get(http, quick, f"/api/project/try/jobs/{job.id}/text_log_errors/").json() == []
    assert get(http, quick, f"/api/project/try/jobs/{job.id}/bug_suggestions/").json() == []

    quick.advance(job.parse_delay)
    log_urls = get(http, quick, "/api/project/try/job-log-url/", job_id=job.id).json()
    errors = get(http, quick, f"/api/project/try/jobs/{job.id}/text_log_errors/").json()
    assert {row["parse_status"] for row in log_urls} == {"parsed"}
    assert errors and set(errors[0]) >= {"id", "line", "line_number", "job", "new_failure"}
    assert [e["id"] for e in errors] == sorted(e["id"] for e in errors)
    assert {e["job"] for e in errors} == {job.id}


def test_the_same_test_fails_in_several_jobs_and_bug_suggestions_know_intermittents(http, default_fake):
    push_id = default_fake.push_id("failed")
    errors = []
    for job_id in default_fake.job_ids(push_id, result="testfailed", tier=1):
        rows = get(http, default_fake, f"/api/project/try/jobs/{job_id}/text_log_errors/").json()
        errors += [
            TextLogError(r["id"], r["line"], r["line_number"], r["job"], r["new_failure"]) for r in rows
        ]

    groups = failure_groups(errors)
    assert groups[0].key == "dom/indexedDB/test/test_transaction_lifetimes.html"
    assert groups[0].affected_job_count == 3
    assert any(g.affected_job_count == 2 for g in groups[1:])

    intermittent = next(
        job_id
        for job_id in default_fake.job_ids(push_id, result="testfailed")
        if "browser_net_har"
        in json.dumps(get(http, default_fake, f"/api/project/try/jobs/{job_id}/text_log_errors/").json())
    )
    suggestions = get(http, default_fake, f"/api/project/try/jobs/{intermittent}/bug_suggestions/").json()
    assert set(suggestions[0]) >= {"search", "search_terms", "path_end", "bugs", "line_number", "counter",
                                   "failure_new_in_rev"}  # fmt: skip
    assert suggestions[0]["path_end"].endswith("browser_net_har_copy_all_as_har.js")
    assert suggestions[0]["bugs"]["open_recent"][0]["id"] == 1622925


def test_scenario_has_the_cases_the_pages_must_handle(default_fake):
    pushes = {push.role: push for push in default_fake.pushes.values()}
    failed = default_fake.jobs(pushes["failed"].id)
    results = {job["result"] for job in failed}
    titles = {role: display_title([Revision(**r) for r in push.revisions]) for role, push in pushes.items()}
    comments = [r["comments"] for push in pushes.values() for r in push.revisions]

    assert {"testfailed", "busted", "exception", "retry", "superseded", "usercancel", "success"} <= results
    retried = next(job for job in failed if job["result"] == "retry")
    assert any(j["task_id"] == retried["task_id"] and j["retry_id"] == 1 for j in failed)
    assert any(job["tier"] == 2 and job["result"] == "testfailed" for job in failed)
    assert len(default_fake.jobs(pushes["big"].id)) > 5000
    assert XSS_TEXT in titles["xss"]
    assert any(c.startswith("Fuzzy query=") for c in comments) and any(
        c.startswith("try: -b do -p") for c in comments
    )
    assert any(c.startswith("Bug ") for c in comments)
    authors = {push.author for push in pushes.values()}
    assert DEMO_AUTHOR in authors and NON_MOZILLA_AUTHOR in authors and len(authors) >= 5


def test_scenarios_are_deterministic(http, default_fake):
    again = FakeTreeherder("default", speed=0, start_time=T0)

    assert again.state() == default_fake.state() | {"request_count": 0}
    assert (
        again.jobs(again.push_id("running"))[:50] == default_fake.jobs(default_fake.push_id("running"))[:50]
    )


def test_default_scenario_keeps_pushes_coming_and_moving(http, default_fake):
    fake = default_fake
    newest = get(http, fake, "/api/project/try/push/", count=1).json()["results"][0]["id"]
    assert not fake.is_finished(fake.push_id("running")) and not fake.is_finished(fake.push_id("big"))
    fake.advance(15 * 60)
    arrived = get(http, fake, "/api/project/try/push/", count=3).json()["results"]
    assert [p["id"] for p in arrived][:2] == [newest + 2, newest + 1]  # "future", then a recurring one
    fake.advance(3 * 3600)
    assert fake.is_finished(fake.push_id("running")) and fake.is_finished(fake.push_id("big"))


# --- Push Health, base pushes, the triage scenario --------------------------------------------------------


@pytest.fixture
def triage_fake(triage_upstream: FakeTreeherder) -> FakeTreeherder:
    return triage_upstream


def health(http: requests.Session, fake: FakeTreeherder, role: str, repo: str = "try") -> dict:
    revision = fake.push(fake.push_id(role)).revision
    response = get(http, fake, f"/api/project/{repo}/push/health/", revision=revision)
    assert response.status_code == 200
    return response.json()


def test_push_health_names_the_base_push_and_the_new_failures_in_todays_shape(http, triage_fake):
    fake = triage_fake
    body = health(http, fake, "mixed")
    base = fake.push(fake.push_id("base"))

    assert set(body) == {"revision", "id", "result", "jobs", "metrics", "status"}
    assert set(body["metrics"]) == {"commitHistory", "linting", "tests", "builds"}
    history = body["metrics"]["commitHistory"]["details"]
    assert (history["id"], history["parentPushRevision"], history["parentSha"]) == (
        base.id,
        base.revision,
        base.revision,
    )
    assert history["exactMatch"] is True and history["parentRepository"]["name"] == "autoland"
    assert history["jobCounts"]["completed"] == len(base.jobs) and history["jobCounts"]["running"] == 0
    assert history["currentPush"]["id"] == fake.push_id("mixed")
    tests = body["metrics"]["tests"]["details"]
    assert tests["knownIssues"] == []  # today's server: always empty
    rows = tests["needInvestigation"]
    # Only the jobs the log parser marked new failures (6): the two new tests and the four failing on the
    # base push with another message; never the 294 known intermittents.
    assert len(rows) == 6 and body["result"] == "fail"
    assert {row["testName"] for row in rows} >= {
        "testing/triage/new/test_mine.html",
        "testing/triage/base/test_broken_0.html",
    }
    assert all(row["failedInParent"] is False for row in rows)  # today's code never sets it
    assert set(rows[0]) >= {"testName", "jobName", "platform", "config", "tier", "suggestedClassification",
                            "isClassifiedIntermittent", "totalFailures", "failedInParent", "isInvestigated",
                            "investigatedTestId", "failedInJobs"}  # fmt: skip
    assert all(job["failure_classification_id"] == 6 for jobs in body["jobs"].values() for job in jobs)
    assert sum(len(jobs) for jobs in body["jobs"].values()) == 6

    from pushes.treeherder.client import TreeherderClient
    from pushes.triage import BasePush

    client = TreeherderClient(fake.url, timeout=10, session=http, max_retries=0)
    read = client.push_health("try", fake.push(fake.push_id("mixed")).revision)
    assert read.base == BasePush("autoland", base.id, base.revision, exact_match=True, unfinished_jobs=0)
    assert len(read.need_investigation) == 6


def test_push_health_without_a_base_push_and_for_unknown_revisions(http, triage_fake):
    fake = triage_fake
    history = health(http, fake, "no-base")["metrics"]["commitHistory"]["details"]
    # What the server sends when no parent is found: nulls, and `parentRepository: true`.
    assert (history["id"], history["parentPushRevision"], history["exactMatch"]) == (None, None, False)
    assert history["parentRepository"] is True and history["jobCounts"] is None
    running = health(http, fake, "base-still-running")["metrics"]["commitHistory"]["details"]
    assert running["jobCounts"]["running"] > 0
    assert health(http, fake, "known")["result"] == "pass"  # 300 known intermittents: none is "new" (6)

    missing = get(http, fake, "/api/project/try/push/health/", revision="f" * 40)
    assert (missing.status_code, missing.json()) == (404, f"No push with revision: {'f' * 40}")
    # The project-less path is not the API: the web app's HTML, as for any unknown path.
    revision = fake.push(fake.push_id("mixed")).revision
    html = get(http, fake, "/api/push/health/", repo="try", revision=revision)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")


def test_push_health_summary_counts(http, triage_fake):
    fake = triage_fake
    mixed, one_new = (fake.push(fake.push_id(role)).revision for role in ("mixed", "one-new"))
    rows = get(http, fake, "/api/project/try/push/health_summary/", revision=f"{mixed},{one_new}").json()
    by_revision = {row["revision"]: row for row in rows}
    assert by_revision[mixed]["needInvestigation"] == by_revision[mixed]["testFailureCount"] == 6
    assert by_revision[one_new]["needInvestigation"] == 1
    assert set(rows[0]) >= {"repository", "testFailureCount", "buildFailureCount", "lintFailureCount",
                            "needInvestigation", "status", "metrics"}  # fmt: skip
    mine = get(http, fake, "/api/project/try/push/health_summary/", author=DEMO_AUTHOR, count=3).json()
    assert len(mine) == 3


def test_the_log_parser_marks_new_failures_in_pushes_that_play_it(http, quick):
    push_id = quick.add_push(size=1, hold="completed", autoclassify=True)
    new = quick.add_job(
        push_id, "completed", result="testfailed", errors=["TEST-UNEXPECTED-FAIL | a.html | x"]
    )
    known = quick.add_job(
        push_id, "completed", result="testfailed", errors=["TEST-UNEXPECTED-FAIL | b.html | x"], seen=3
    )
    pending = quick.add_job(push_id, "completed", result="testfailed")  # no log lines yet
    rows = {job["id"]: job for job in quick.jobs(push_id)}
    assert (rows[new]["failure_classification_id"], rows[known]["failure_classification_id"]) == (6, 1)
    assert rows[pending]["failure_classification_id"] == 1
    status = get(http, quick, f"/api/project/try/push/{push_id}/status/").json()
    assert status["testfailed"] == 2  # the push's status leaves the classified one out
    older = quick.add_push(size=1, hold="completed")  # the older scenarios' pushes keep theirs
    plain = quick.add_job(
        older, "completed", result="testfailed", errors=["TEST-UNEXPECTED-FAIL | a.html | x"]
    )
    assert {job["id"]: job for job in quick.jobs(older)}[plain]["failure_classification_id"] == 1


def test_the_triage_scenario(http, triage_fake):
    fake = triage_fake
    for role in ("known", "one-new", "mixed"):
        assert fake.is_finished(fake.push_id(role))
        assert len(fake.job_ids(fake.push_id(role), result="testfailed", tier=1)) == 300
    known = fake.push_id("known")
    some = fake.job_ids(known, result="testfailed")[7]
    [suggestion] = get(http, fake, f"/api/project/try/jobs/{some}/bug_suggestions/").json()
    assert suggestion["bugs"]["open_recent"][0]["summary"].startswith("Intermittent testing/triage/")
    assert suggestion["counter"] > 0
    base = fake.push_id("base")
    assert fake.push(base).repo == "autoland" and len(fake.job_ids(base, result="testfailed")) == 4
    assert fake.push_ids(repo="autoland") == [fake.push_id("base-running"), base]
    running = fake.push_id("running-60")
    assert not fake.is_finished(running) and len(fake.job_ids(running, result="testfailed")) == 60
    fake.advance(10 * 60 + 30)
    assert len(fake.job_ids(running, result="testfailed")) == 70
    later = fake.job_ids(running, result="testfailed")[-1]
    assert get(http, fake, f"/api/project/try/jobs/{later}/bug_suggestions/").json()  # parsed 20 s after


def test_failing_some_requests_and_slowing_others(http, quick):
    push_id = quick.push_id("failed")
    job_id = quick.job_ids(push_id, result="testfailed")[0]
    path = f"/api/project/try/jobs/{job_id}/bug_suggestions/"
    quick.fail_path("/bug_suggestions/", 500, times=2)
    assert [get(http, quick, path).status_code for _ in range(3)] == [500, 500, 200]
    quick.delay_path("/push/health/", 0.3)
    revision = quick.push(push_id).revision
    started = time.monotonic()
    assert get(http, quick, "/api/project/try/push/health/", revision=revision).status_code == 200
    assert time.monotonic() - started >= 0.3


# --- Taskcluster: actions, task definitions, hook trigger ---------------------------------------------------


def test_actions_json_and_task_definitions_for_retrigger(http, default_fake):
    push_id = default_fake.push_id("failed")
    decision = default_fake.decision_task_id(push_id)
    job_id = default_fake.job_ids(push_id, result="testfailed")[0]
    task_id = get(http, default_fake, f"/api/project/try/jobs/{job_id}/").json()["task_id"]

    actions = get(http, default_fake, f"/api/queue/v1/task/{decision}/artifacts/public/actions.json").json()
    task = get(http, default_fake, f"/api/queue/v1/task/{task_id}").json()

    assert actions["version"] == 1
    retrigger = next(a for a in actions["actions"] if a["name"] == "retrigger-multiple")
    assert (
        retrigger["kind"] == "hook"
        and retrigger["hookPayload"]["decision"]["action"]["taskGroupId"] == decision
    )
    assert retrigger["hookPayload"]["decision"]["push"]["pushlog_id"] == str(push_id)
    assert task["taskGroupId"] == decision
    assert task["tags"]["kind"] == "test" and task["tags"]["label"] == task["metadata"]["name"]
    missing = get(http, default_fake, "/api/queue/v1/task/nope/artifacts/public/actions.json")
    assert missing.status_code == 404 and missing.json()["code"] == "ResourceNotFound"


def test_hook_trigger_needs_hawk_auth_and_adds_the_retriggered_job(http, quick):
    push_id = quick.push_id("failed")
    decision = quick.decision_task_id(push_id)
    failed_job = get(
        http, quick, f"/api/project/try/jobs/{quick.job_ids(push_id, result='testfailed')[0]}/"
    ).json()
    actions = get(http, quick, f"/api/queue/v1/task/{decision}/artifacts/public/actions.json").json()
    action = next(a for a in actions["actions"] if a["name"] == "retrigger-multiple")
    context = {"taskGroupId": decision, "taskId": None, **actions["variables"],
               "input": {"requests": [{"tasks": [failed_job["job_type_name"]], "times": 1}]}}  # fmt: skip
    payload = jsone.render(action["hookPayload"], context)
    trigger_url = f"{quick.url}/api/hooks/v1/hooks/{action['hookGroupId']}/{action['hookId']}/trigger"
    before = quick.job_ids(push_id)

    unsigned = http.post(trigger_url, json=payload, timeout=10)
    assert unsigned.status_code == 401 and quick.job_ids(push_id) == before

    hooks = taskcluster.Hooks(
        {"rootUrl": quick.url, "credentials": {"clientId": "me", "accessToken": "t0ken"}}
    )
    answer = hooks.triggerHook(action["hookGroupId"], action["hookId"], payload)

    assert answer["status"]["taskId"] and answer["status"]["state"] == "pending"
    new_ids = sorted(set(quick.job_ids(push_id)) - set(before))
    assert len(new_ids) == 1
    rows, _ = all_ui_jobs(http, f"{quick.url}/api/jobs/?push_id={push_id}")
    new_job = next(row for row in rows if row["id"] == new_ids[0])
    assert (new_job["job_type_name"], new_job["state"]) == (failed_job["job_type_name"], "pending")
    trigger = quick.triggers[-1]
    assert trigger["authorization"].startswith("Hawk ") and trigger["payload"] == payload
    assert trigger["new_job_ids"] == new_ids and trigger["action"] == "retrigger-multiple"
    quick.advance(600)
    assert quick.jobs(push_id)[-1]["state"] == "completed"


# --- Control: clock, reset, failure modes, request log -----------------------------------------------------


def test_control_endpoints_move_the_clock_reset_and_finish(http, quick):
    watched = quick.push_id("watched")
    state = http.get(f"{quick.url}/__fake__/state", timeout=10).json()
    assert state["scenario"] == "quick" and state["elapsed"] == 0

    advanced = http.post(f"{quick.url}/__fake__/advance?seconds=45", timeout=10).json()
    assert advanced["elapsed"] == 45
    finished = http.post(f"{quick.url}/__fake__/finish?push_id={watched}&failures=2", timeout=10).json()
    row = next(p for p in finished["pushes"] if p["id"] == watched)
    assert row["finished"] and len(quick.job_ids(watched, result="testfailed")) == 2
    failed_job = quick.job_ids(watched, result="testfailed")[0]
    assert get(http, quick, f"/api/project/try/jobs/{failed_job}/text_log_errors/").json()  # parsed at once

    added = http.post(f"{quick.url}/__fake__/add-push?size=5&hold=running", timeout=10).json()["push_id"]
    assert (
        len(quick.jobs(added)) == 5 and quick.job_ids(added, state="running") and not quick.is_finished(added)
    )

    reset = http.post(f"{quick.url}/__fake__/reset?scenario=default", timeout=10).json()
    assert reset["scenario"] == "default" and reset["elapsed"] == 0
    assert http.post(f"{quick.url}/__fake__/reset?scenario=nope", timeout=10).status_code == 400


def test_down_garbage_failures_and_the_request_log(http, quick):
    quick.clear_requests()
    quick.set_down(True)
    down = get(http, quick, "/api/project/try/push/")
    assert down.status_code == 503 and down.headers["Content-Type"].startswith("text/html")
    assert http.get(f"{quick.url}/__fake__/state", timeout=10).status_code == 200  # control still answers
    quick.set_down(False)
    quick.set_garbage(True)
    garbage = get(http, quick, "/api/project/try/push/")
    with pytest.raises(ValueError):
        garbage.json()
    quick.set_garbage(False)
    quick.fail_next(1, status=429, retry_after=2)
    limited = get(http, quick, "/api/project/try/push/")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert get(http, quick, "/api/project/try/push/").status_code == 200

    assert quick.request_count == 4  # control requests are not counted
    assert quick.request_paths("/push/") == ["/api/project/try/push/"] * 4


def test_add_push_helper(http, quick):
    push_id = quick.add_push(author="someone@example.com", size=8, pushed_ago=600, plan="failures")

    assert quick.push_ids(author="SOMEONE@example.com") == [push_id]
    assert get(http, quick, f"/api/project/try/push/{push_id}/").json()["author"] == "someone@example.com"
    assert quick.is_finished(push_id) and quick.job_ids(push_id, result="testfailed")


def test_cli_serves_and_prints_its_url():
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    process = subprocess.Popen(
        [
            sys.executable,
            str(manage),
            "fake_treeherder",
            "--port",
            "0",
            "--scenario",
            "quick",
            "--speed",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("Fake Treeherder on http://127.0.0.1:"), first
        url = first.split(" on ", 1)[1].split("/ ", 1)[0]
        body = requests.get(f"{url}/api/project/try/push/", timeout=10).json()
        assert body["results"][0]["author"] == DEMO_AUTHOR
        process.terminate()  # SIGTERM, as `make demo` (and docker, systemd) stop it: a clean stop
        assert process.wait(timeout=10) == 0
        assert "Stopped." in process.stdout.read()
    finally:
        process.kill()
        process.wait(timeout=10)


# --- The real client against the fake ------------------------------------------------------------------------


def test_the_client_reads_everything_it_needs_from_the_fake(default_fake):
    from pushes.treeherder.client import TreeherderClient
    from pushes.treeherder.parsing import Evidence

    fake = default_fake
    client = TreeherderClient(fake.url, timeout=10, session=requests.Session(), max_retries=0)
    pushes = client.pushes("try", author=DEMO_AUTHOR, count=50)
    assert [p.id for p in pushes] == fake.push_ids(author=DEMO_AUTHOR)
    big = client.push("try", fake.push_id("big"))
    assert big.author == DEMO_AUTHOR and big.revisions

    jobs = client.jobs("try", big.id)
    assert len(jobs) == len({job.id for job in jobs}) == len(fake.jobs(big.id)) > 5000
    cursor = max(job.last_modified for job in jobs)
    fake.advance(120)
    changed = client.jobs("try", big.id, last_modified_gt=datetime.fromisoformat(cursor))
    assert changed and len(changed) < len(jobs) and all(job.last_modified > cursor for job in changed)

    failed = fake.push_id("failed")
    job_id = fake.job_ids(failed, result="testfailed")[0]
    evidence = client.failure_evidence("try", job_id)
    assert evidence.parse_status == "parsed" and evidence.suggestions
    lines = get(requests.Session(), fake, f"/api/project/try/jobs/{job_id}/text_log_errors/").json()
    assert evidence.suggestions[0].search in lines[0]["line"]  # the line without its harness prefix
    green = fake.job_ids(failed, result="success")[1]
    assert client.failure_evidence("try", green) == Evidence("parsed", [])
    assert client.decision_task("try", failed) == fake.decision_task_id(failed)
    assert client.decision_task("try", 5) is None
