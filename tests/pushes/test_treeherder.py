"""The Treeherder client against the real API's shapes (recordings from mozilla/treeherder), served by
`responses`: every endpoint, paging past 2,000 jobs, column order, and every way an answer can be wrong."""

from __future__ import annotations

import copy
import json
import pickle
import random
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from responses import matchers

from fakeherder import (
    PROJECT_PROPERTY_NAMES,
    UI_PROPERTY_NAMES,
    api_jobs_page,
    job_properties,
    project_jobs_page,
)
from pushes.rules import Job, Push, Revision
from pushes.treeherder.client import TreeherderClient, get_client
from pushes.treeherder.errors import TreeherderError, TreeherderNotFound
from pushes.treeherder.parsing import Evidence, parse_jobs
from pushes.triage import BasePush, Bug, BugSuggestion
from tests.conftest import NetworkBlocked
from tests.helpers import free_port, recording
from tests.pushes.conftest import BASE_URL

JOBS_URL = f"{BASE_URL}/api/jobs/"


def query(**params: object) -> list:
    return [matchers.query_param_matcher({key: str(value) for key, value in params.items()})]


# --- Repositories and pushes ---------------------------------------------------------------------------


def test_it_lists_active_repositories(mocked_responses, th_client):
    repos = recording("repositories.json")
    repos.append({**copy.deepcopy(repos[0]), "name": "old-esr", "active_status": "onhold"})
    mocked_responses.get(f"{BASE_URL}/api/repository/", json=repos)

    assert th_client.repositories() == ["mozilla-central", "try", "autoland"]


def test_it_reads_the_push_list_newest_first(mocked_responses, th_client):
    payload = recording("push_list.json")
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/", json=payload, match=query(count=20))

    pushes = th_client.pushes("try")

    assert [push.id for push in pushes] == [push["id"] for push in payload["results"]]
    first = pushes[0]
    assert isinstance(first, Push)
    assert first.id == 511138
    assert first.author == "jarilvalenciano@gmail.com"
    assert first.push_timestamp == 1562867957
    assert first.revision_count == 2
    assert first.repository_id == 4
    assert first.revisions[0] == Revision(
        revision="ba9c692786e95143b8df3f4b3e9b504dfbc589a0",
        author="jaril <jarilvalenciano@gmail.com>",
        comments="Fuzzy query='debugger | 'node-devtools&query='mozlint-eslint&query='mochitest-devtools",
    )


def test_it_filters_pushes_by_author_and_pages_back_by_push_time(mocked_responses, th_client):
    mocked_responses.get(
        f"{BASE_URL}/api/project/try/push/",
        json=recording("poll_push_list.json"),
        match=query(count=50, author="someone@mozilla.com", push_timestamp__lte=1562867957),
    )

    pushes = th_client.pushes("try", count=50, author="someone@mozilla.com", push_timestamp_lte=1562867957)

    assert len(pushes) == len(recording("poll_push_list.json")["results"])


@pytest.mark.parametrize(("asked", "sent"), [(0, 1), (-5, 1), (1, 1), (1000, 1000), (5000, 1000)])
def test_it_clamps_the_push_count_to_what_the_server_accepts(mocked_responses, th_client, asked, sent):
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/", json={"results": []}, match=query(count=sent))

    assert th_client.pushes("try", count=asked) == []


def test_it_skips_an_unreadable_push_but_keeps_the_others(mocked_responses, th_client, caplog):
    payload = recording("push_list.json")
    del payload["results"][1]["id"]
    payload["results"][2]["revisions"] = "not a list"
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/", json=payload)

    pushes = th_client.pushes("try")

    assert len(pushes) == len(payload["results"]) - 2
    assert "Skipping unreadable Treeherder push" in caplog.text


def test_it_reads_pushes_without_optional_fields(mocked_responses, th_client):
    bare = {"id": 7, "revision": "abc", "author": "a@b.c", "push_timestamp": 1, "branch": None}
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/", json={"results": [bare]})

    assert th_client.pushes("try") == [Push(id=7, revision="abc", author="a@b.c", push_timestamp=1)]


def test_it_reads_one_push(mocked_responses, th_client):
    push = recording("push_list.json")["results"][0]
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/511138/", json=push)

    assert th_client.push("try", 511138).revision == "ba9c692786e95143b8df3f4b3e9b504dfbc589a0"


def test_an_unknown_push_is_not_found_with_the_servers_reason(mocked_responses, th_client):
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/5/", json="No push with id: 5", status=404)

    with pytest.raises(TreeherderNotFound) as info:
        th_client.push("try", 5)

    assert info.value.status == 404
    assert info.value.url == f"{BASE_URL}/api/project/try/push/5/"
    assert "No push with id: 5" in info.value.reason


def test_an_unknown_repository_is_not_found_with_the_detail(mocked_responses, th_client):
    mocked_responses.get(
        f"{BASE_URL}/api/project/nope/push/", json={"detail": "No project with name nope"}, status=404
    )

    with pytest.raises(TreeherderNotFound) as info:
        th_client.pushes("nope")

    assert info.value.reason == "HTTP 404: No project with name nope"
    assert info.value.url.startswith(f"{BASE_URL}/api/project/nope/push/?count=20")


def test_a_repository_name_that_would_change_the_path_is_refused_without_a_request(
    mocked_responses, th_client
):
    with pytest.raises(TreeherderNotFound):
        th_client.pushes("../repository")
    assert len(mocked_responses.calls) == 0


def test_it_reads_push_status_counts(mocked_responses, th_client):
    status = {"completed": 40, "pending": 3, "running": 2, "success": 38, "testfailed": 2, "note": "x"}
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/511138/status/", json=status)

    assert th_client.push_status("try", 511138) == {
        "completed": 40,
        "pending": 3,
        "running": 2,
        "success": 38,
        "testfailed": 2,
    }


def test_it_reads_the_decision_task(mocked_responses, th_client):
    mocked_responses.get(
        f"{BASE_URL}/api/project/try/push/decisiontask/",
        json={"511138": {"id": "VaQoWKTbSdGSwBJn6UZV9g", "run": "0"}},
        match=query(push_ids=511138),
    )

    assert th_client.decision_task("try", 511138) == "VaQoWKTbSdGSwBJn6UZV9g"


def test_no_decision_task_yet_is_none(mocked_responses, th_client):
    mocked_responses.get(
        f"{BASE_URL}/api/project/try/push/decisiontask/", body="No decision task for push 9", status=404
    )

    assert th_client.decision_task("try", 9) is None


# --- Jobs ----------------------------------------------------------------------------------------------


def test_it_reads_jobs_in_the_old_column_order(mocked_responses, th_client):
    mocked_responses.get(JOBS_URL, json=recording("job_1.json"), match=query(push_id=511138, count=2000))

    jobs = th_client.jobs("try", 511138)

    assert len(jobs) == 5
    decision, build, lint, jittest, _ = jobs
    assert decision == Job(
        id=259537193,
        push_id=511138,
        task_id="VaQoWKTbSdGSwBJn6UZV9g",
        platform="gecko-decision",
        platform_option="opt",
        job_type_name="Gecko Decision Task",
        job_type_symbol="D",
        job_group_name="unknown",
        job_group_symbol="?",
        state="completed",
        result="success",
        start_timestamp=None,
        end_timestamp=None,
        tier=1,
        retry_id=0,
        duration=2.0,
        last_modified="2019-08-05T20:19:51.818175",
        failure_classification_id=1,
    )
    assert (build.result, build.duration) == ("busted", 18.0)
    assert (lint.state, lint.result) == ("running", "unknown")
    assert (jittest.tier, jittest.failure_classification_id) == (2, 4)


def test_it_follows_relative_next_links_and_keeps_its_page_size(mocked_responses, th_client):
    # page_1.json's `next` is "/jobs/?push_id=526443&page=2": relative, and without `count`.
    mocked_responses.get(JOBS_URL, json=recording("page_1.json"), match=query(push_id=526443, count=2000))
    mocked_responses.get(
        JOBS_URL, json=recording("page_2.json"), match=query(push_id=526443, count=2000, page=2)
    )

    jobs = th_client.jobs("try", 526443)

    assert [job.id for job in jobs] == [259537193, 259537372, 259539688]
    assert jobs[2].state == "running"
    # These old rows have neither task_id nor retry_id.
    assert (jobs[0].task_id, jobs[0].retry_id) == (None, 0)


def test_it_reads_todays_column_order_across_absolute_next_links(mocked_responses, th_client):
    mocked_responses.get(
        JOBS_URL,
        json=recording("current_joblist_with_video_results_page_1.json"),
        match=query(push_id=847217, count=2000),
    )
    mocked_responses.get(
        JOBS_URL,
        json=recording("current_joblist_with_video_results_page_2.json"),
        match=query(push_id=847217, count=2000, page=2, repo="autoland"),
    )

    jobs = th_client.jobs("autoland", 847217)

    assert [job.id for job in jobs] == list(range(326364945, 326364951))
    first = jobs[0]
    assert first.platform == "linux64-shippable-qr"
    assert first.platform_option == "opt"
    assert first.job_group_symbol == "T"
    assert first.job_type_symbol == "tabswitch"
    assert first.task_id == "c0EjbgzDRz--MfAdyvdU2Q"
    assert first.duration == 7.0
    assert first.last_modified == "2021-01-16T11:42:42.940157"
    # The absolute next link points at another host: only its query is used, on our base URL.
    assert all(call.request.url.startswith(JOBS_URL) for call in mocked_responses.calls)


def test_it_reads_every_job_of_a_push_of_4500_jobs_over_three_pages(mocked_responses, th_client):
    push_id = 900001
    all_rows = [
        job_properties(10_000 + n, push_id, state="running" if n % 7 else "completed") for n in range(4_520)
    ]
    pages = [all_rows[:2000], all_rows[2000:4000], all_rows[4000:]]
    for number, rows in enumerate(pages, start=1):
        next_url = None if number == 3 else f"{JOBS_URL}?count=2000&page={number + 1}&push_id={push_id}"
        params = {"push_id": push_id, "count": 2000} | ({"page": number} if number > 1 else {})
        mocked_responses.get(
            JOBS_URL, json=api_jobs_page(rows, next_url=next_url, count=4520), match=query(**params)
        )

    jobs = th_client.jobs("try", push_id)

    assert len(jobs) == 4_520
    assert [job.id for job in jobs] == [10_000 + n for n in range(4_520)]
    assert len(mocked_responses.calls) == 3
    assert sum(job.state == "completed" for job in jobs) == len(range(0, 4_520, 7))


def test_a_job_seen_on_two_pages_is_kept_once_with_its_later_state(mocked_responses, th_client):
    mocked_responses.get(
        JOBS_URL,
        json=api_jobs_page([job_properties(1), job_properties(2, state="running")], next_url="?page=2"),
        match=query(push_id=1000, count=2000),
    )
    mocked_responses.get(
        JOBS_URL,
        json=api_jobs_page([job_properties(2, state="completed"), job_properties(3)]),
        match=query(push_id=1000, count=2000, page=2),
    )

    jobs = th_client.jobs("try", 1000)

    assert [(job.id, job.state) for job in jobs] == [(1, "completed"), (2, "completed"), (3, "completed")]


def test_it_reads_rows_by_property_name_in_any_order(mocked_responses, th_client):
    props = [job_properties(1), job_properties(2, result="testfailed", tier=2, platform_option="debug")]
    expected = parse_jobs(api_jobs_page(props), push_id=1000)
    shuffled = list(UI_PROPERTY_NAMES)
    random.Random(4).shuffle(shuffled)
    assert shuffled != UI_PROPERTY_NAMES
    mocked_responses.get(JOBS_URL, json=api_jobs_page(props, names=shuffled))

    assert th_client.jobs("try", 1000) == expected
    assert expected[1].result == "testfailed"
    assert (expected[1].tier, expected[1].platform_option) == (2, "debug")


def test_it_ignores_unknown_extra_properties(mocked_responses, th_client):
    names = ["brand_new_field", *UI_PROPERTY_NAMES, "another_one"]
    props = [job_properties(1, brand_new_field={"nested": True}, another_one=[1, 2])]
    mocked_responses.get(JOBS_URL, json=api_jobs_page(props, names=names))

    (job,) = th_client.jobs("try", 1000)

    assert job.id == 1
    assert job.platform_option == "opt"


def test_it_tolerates_missing_optional_properties(mocked_responses, th_client):
    names = [
        name for name in UI_PROPERTY_NAMES if name not in ("platform_option", "tier", "task_id", "duration")
    ]
    mocked_responses.get(JOBS_URL, json=api_jobs_page([job_properties(1)], names=names))

    (job,) = th_client.jobs("try", 1000)

    assert (job.platform_option, job.tier, job.task_id, job.duration) == ("", None, None, None)


def test_it_tolerates_null_timestamps_and_fields(mocked_responses, th_client):
    props = job_properties(
        1,
        state="pending",
        result="unknown",
        start_timestamp=0,
        end_timestamp=None,
        last_modified=None,
        failure_classification_id=None,
        tier=None,
        retry_id=None,
        platform_option=None,
    )
    mocked_responses.get(f"{BASE_URL}/api/project/try/jobs/", json=project_jobs_page([props]))

    (job,) = th_client.project_jobs("try", 1000)

    assert (job.start_timestamp, job.end_timestamp, job.last_modified) == (None, None, None)
    assert (job.tier, job.retry_id, job.platform_option, job.failure_classification_id) == (None, 0, "", None)


def test_it_reads_todays_project_endpoint_shape_with_offset_paging(mocked_responses, th_client):
    push_id = 717491
    rows = [job_properties(50_000 + n, push_id) for n in range(2_100)]
    url = f"{BASE_URL}/api/project/try/jobs/"
    for offset in (0, 2000):
        mocked_responses.get(
            url,
            json=project_jobs_page(rows[offset : offset + 2000], offset=offset),
            match=query(push_id=push_id, count=2000, offset=offset, return_type="list"),
        )

    jobs = th_client.project_jobs("try", push_id)

    assert len(jobs) == 2_100
    assert jobs[0].start_timestamp == 1_700_000_100
    assert jobs[0].end_timestamp == 1_700_000_900
    assert jobs[0].duration is None  # the project endpoint has timestamps, not minutes
    assert PROJECT_PROPERTY_NAMES[-1] == "platform_option"
    assert jobs[-1].platform_option == "opt"


def test_parse_jobs_reads_the_dict_form_of_the_project_endpoint():
    rows = list(recording("job_map.json").values())

    jobs = parse_jobs({"results": rows, "meta": {"repository": "try"}})

    assert len(jobs) == len(rows) == 26
    assert all(job.push_id for job in jobs)


def test_incremental_jobs_send_last_modified_as_naive_utc(mocked_responses, th_client):
    cest = timezone(timedelta(hours=2))
    since = datetime(2026, 11, 24, 19, 30, 5, 123456, tzinfo=cest)
    mocked_responses.get(
        JOBS_URL,
        json=api_jobs_page([job_properties(1, last_modified="2026-11-24T17:31:00.000001")]),
        match=query(push_id=1000, count=2000, last_modified__gt="2026-11-24T17:30:05.123456"),
    )

    (job,) = th_client.jobs("try", 1000, last_modified_gt=since)

    assert job.last_modified == "2026-11-24T17:31:00.000001"


def test_incremental_paging_keeps_the_last_modified_filter(mocked_responses, th_client):
    since = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    filters = {"push_id": 1000, "count": 2000, "last_modified__gt": "2026-11-24T17:00:00"}
    mocked_responses.get(
        JOBS_URL,
        json=api_jobs_page([job_properties(1)], next_url="/api/jobs/?page=2"),
        match=query(**filters),
    )
    mocked_responses.get(JOBS_URL, json=api_jobs_page([job_properties(2)]), match=query(**filters, page=2))

    assert [job.id for job in th_client.jobs("try", 1000, last_modified_gt=since)] == [1, 2]


def test_it_skips_one_malformed_row_and_keeps_the_page(mocked_responses, th_client, caplog):
    page = api_jobs_page([job_properties(1), job_properties(2), job_properties(3)])
    page["results"][1] = page["results"][1][:-1]  # one value short
    page["results"].append("not a row")
    mocked_responses.get(JOBS_URL, json=page)

    assert [job.id for job in th_client.jobs("try", 1000)] == [1, 3]
    assert "Skipping unreadable Treeherder job row" in caplog.text


def test_rows_that_never_match_the_property_names_are_an_error(mocked_responses, th_client):
    page = api_jobs_page([job_properties(1), job_properties(2)])
    page["job_property_names"].append("surprise")
    mocked_responses.get(JOBS_URL, json=page)

    with pytest.raises(TreeherderError) as info:
        th_client.jobs("try", 1000)

    assert "no readable job row" in info.value.reason
    assert info.value.url.startswith(JOBS_URL)


@pytest.mark.parametrize(
    "payload",
    [
        {"results": "nope", "job_property_names": UI_PROPERTY_NAMES},
        {"results": [[1, 2]]},
        {"results": [[1, "completed"]], "job_property_names": ["job_id", "state"]},
        [[1, 2, 3]],
    ],
    ids=["results-not-a-list", "no-property-names", "no-id-property", "a-bare-list"],
)
def test_a_wrong_shaped_jobs_answer_is_an_error(mocked_responses, th_client, payload):
    mocked_responses.get(JOBS_URL, json=payload)

    with pytest.raises(TreeherderError) as info:
        th_client.jobs("try", 1000)

    assert info.value.url.startswith(JOBS_URL)


def test_a_next_link_that_loops_is_an_error(mocked_responses, th_client):
    mocked_responses.get(JOBS_URL, json=api_jobs_page([job_properties(1)], next_url=f"{JOBS_URL}?page=2"))

    with pytest.raises(TreeherderError, match="loops"):
        th_client.jobs("try", 1000)


def test_it_reads_one_job_in_dict_form(mocked_responses, th_client):
    mocked_responses.get(f"{BASE_URL}/api/project/try/jobs/303550431/", json=recording("full_job.json"))

    job = th_client.job("try", 303550431)

    assert job.push_id == 717491
    assert job.task_id == "O5YBAWwxRfuZ_UlRJS5Rqg"
    assert (job.start_timestamp, job.end_timestamp) == (1590617373, 1590619891)
    assert (job.state, job.result, job.platform_option) == ("completed", "testfailed", "debug")


# --- Errors of a job -----------------------------------------------------------------------------------


def suggestion_rows() -> list[dict]:
    """bug_suggestions rows as today's server serializes them: the recorded (older) rows with a line
    number, `counter` and `failure_new_in_rev`."""
    rows = recording("bug_suggestions.json")
    for n, row in enumerate(rows):
        row.update(line_number=row.get("line_number") or 100 + n, counter=n, failure_new_in_rev=n == 0)
    return rows


def test_the_evidence_of_a_parsed_job_is_one_read_of_its_bug_suggestions(mocked_responses, th_client):
    url = f"{BASE_URL}/api/project/try/jobs/1/bug_suggestions/"
    mocked_responses.get(url, json=suggestion_rows())

    evidence = th_client.failure_evidence("try", 1)

    assert evidence.parse_status == "parsed" and len(evidence.suggestions) == len(suggestion_rows())
    assert evidence.suggestions[0].search.startswith("TEST-UNEXPECTED-FAIL | devtools/client/netmonitor/")
    assert (evidence.suggestions[0].counter, evidence.suggestions[0].failure_new_in_rev) == (0, True)
    assert len(mocked_responses.calls) == 1  # no log status asked


def test_no_error_lines_in_a_parsed_log_is_believed_after_asking_again(mocked_responses, th_client):
    url = f"{BASE_URL}/api/project/try/jobs/303550427/bug_suggestions/"
    mocked_responses.get(url, json=[])
    mocked_responses.get(
        f"{BASE_URL}/api/project/try/job-log-url/",
        json=recording("job_log_urls.json"),
        match=query(job_id=303550427),
    )

    evidence = th_client.failure_evidence("try", 303550427)

    assert (evidence.parse_status, evidence.suggestions) == ("parsed", [])
    assert [call.request.url.split("?")[0] for call in mocked_responses.calls] == [
        url, f"{BASE_URL}/api/project/try/job-log-url/", url,
    ]  # fmt: skip


def test_lines_that_landed_between_the_two_reads_are_kept(mocked_responses, th_client):
    url = f"{BASE_URL}/api/project/try/jobs/8/bug_suggestions/"
    mocked_responses.get(url, json=[])
    mocked_responses.get(f"{BASE_URL}/api/project/try/job-log-url/", json=recording("job_log_urls.json"))
    mocked_responses.get(url, json=suggestion_rows()[:1])

    evidence = th_client.failure_evidence("try", 8)

    assert evidence.parse_status == "parsed" and len(evidence.suggestions) == 1


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pending", "parsed"], "pending"),
        (["parsed", "failed"], "failed"),
        (["skipped-size"], "skipped-size"),
        ([], "unknown"),
        (["something-new"], "unknown"),
    ],
)
def test_no_suggestions_of_an_unparsed_log_is_not_no_errors(mocked_responses, th_client, statuses, expected):
    logs = [dict(recording("job_log_urls.json")[0], parse_status=status) for status in statuses]
    mocked_responses.get(f"{BASE_URL}/api/project/try/jobs/7/bug_suggestions/", json=[])
    mocked_responses.get(f"{BASE_URL}/api/project/try/job-log-url/", json=logs)

    evidence = th_client.failure_evidence("try", 7)

    assert (evidence.parse_status, evidence.suggestions) == (expected, [])


def test_the_evidence_of_an_unknown_job_is_not_found(mocked_responses, th_client):
    mocked_responses.get(
        f"{BASE_URL}/api/project/try/jobs/5/bug_suggestions/", json="No job with id: 5", status=404
    )

    with pytest.raises(TreeherderNotFound, match="No job with id: 5"):
        th_client.failure_evidence("try", 5)


def test_bug_suggestions_answering_500_now_and_then_are_retried(mocked_responses, sleeps):
    # Treeherder's bug_suggestions answers 500 under concurrent reads (a race in its cache bookkeeping).
    client = TreeherderClient(BASE_URL, timeout=12, session=requests.Session(), backoff=0.25, sleep=sleeps,
                              max_retries=3)  # fmt: skip
    url = f"{BASE_URL}/api/project/try/jobs/1/bug_suggestions/"
    for _ in range(2):
        mocked_responses.get(url, status=500, body="<html>Server Error</html>", content_type="text/html")
    mocked_responses.get(url, json=suggestion_rows())

    assert client.failure_evidence("try", 1).parse_status == "parsed"
    assert sleeps.calls == [0.25, 0.5]  # backing off


# --- Push Health -------------------------------------------------------------------------------------


def health_payload(**history: object) -> dict:
    """The recorded Push Health answer (older shape) with today's keys on its rows."""
    payload = recording("push_health.json")
    for row in payload["metrics"]["tests"]["details"]["needInvestigation"]:
        row.update(
            failedInParent=False, isInvestigated=False, investigatedTestId=None, failedInJobs=[285852125]
        )
    payload["metrics"]["commitHistory"]["details"].update(history)
    return payload


def test_push_health_gives_the_base_push_and_what_needs_investigation(mocked_responses, th_client):
    payload = health_payload()
    payload["metrics"]["tests"]["details"]["needInvestigation"][1]["failedInParent"] = True
    revision = "cd02b96bdce57d9ae53b632ca4740c871d3ecc32"
    mocked_responses.get(
        f"{BASE_URL}/api/project/try/push/health/", json=payload, match=query(revision=revision)
    )

    health = th_client.push_health("try", revision)

    assert health.base == BasePush(
        repo="autoland", push_id=630312, revision="eeb6fd68c0223a72d8714734a34d3e6da69995e1", exact_match=True
    )
    assert len(health.need_investigation) == 17 and health.result == "fail"
    first, second = health.need_investigation[:2]
    assert first.job_name == "test-windows10-64-mingwclang/debug-reftest-e10s-1" and first.tier == 2
    assert first.test_name.startswith("layout/reftests/high-contrast/backplate-bg-image-006.html == ")
    assert (first.failed_in_parent, second.failed_in_parent, first.job_ids) == (False, True, (285852125,))


@pytest.mark.parametrize(
    "history",
    [
        {
            "parentSha": None,
            "parentPushRevision": None,
            "parentRepository": True,
            "id": None,
            "jobCounts": None,
        },
        {"id": "630312"},
        {"parentRepository": {"name": None}},
    ],
    ids=["no-parent", "id-text", "repository-unnamed"],
)
def test_push_health_without_a_readable_parent_has_no_base(mocked_responses, th_client, history):
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/health/", json=health_payload(**history))
    assert th_client.push_health("try", "abc123").base is None


def test_push_health_of_a_git_repository_has_no_commit_history(mocked_responses, th_client):
    payload = health_payload()
    payload["metrics"]["commitHistory"]["details"] = None
    payload["metrics"]["tests"]["details"]["needInvestigation"].append({"jobName": "no test name"})
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/health/", json=payload)

    health = th_client.push_health("try", "abc123")

    assert health.base is None and len(health.need_investigation) == 17  # the unreadable row skipped


def test_a_base_push_still_running_says_so(mocked_responses, th_client):
    counts = {"completed": 200, "pending": 40, "running": 12, "success": 200}
    mocked_responses.get(f"{BASE_URL}/api/project/try/push/health/", json=health_payload(jobCounts=counts))
    assert th_client.push_health("try", "abc123").base.unfinished_jobs == 52


def test_it_reads_bug_suggestions_of_the_older_shape(mocked_responses, th_client):
    payload = recording("bug_suggestions.json")
    mocked_responses.get(f"{BASE_URL}/api/project/try/jobs/303550431/bug_suggestions/", json=payload)

    suggestions = th_client.bug_suggestions("try", 303550431)

    assert len(suggestions) == 6
    first = suggestions[0]
    assert isinstance(first, BugSuggestion)
    assert first.path_end == "devtools/client/netmonitor/src/har/test/browser_net_har_copy_all_as_har.js"
    assert first.line_number is None
    assert first.open_recent[0] == Bug(
        id=1622925,
        summary="Intermittent devtools/client/netmonitor/src/har/test/browser_net_har_copy_all_as_har.js"
        " | There must be some page title -",
        status="NEW",
        resolution="",
        internal_id=16,
        keywords="intermittent-failure,leave-open",
        whiteboard="[stockwell disabled]",
    )
    assert first.counter is None  # the older shape: unknown, not 0
    assert [bug.id for bug in first.all_others] == [1548870]
    assert suggestions[1].line_number == 2618
    assert (suggestions[2].search, suggestions[2].path_end, suggestions[2].open_recent) == (
        "Return code: 1",
        None,
        [],
    )


def test_a_suggested_bug_not_yet_in_bugzilla_keeps_its_internal_id(mocked_responses, th_client):
    payload = recording("bug_suggestions.json")
    payload[0]["bugs"]["open_recent"][0].update(id=None, internal_id=4242)
    payload[0].update(line_number=12, counter=3, failure_new_in_rev=False)
    mocked_responses.get(f"{BASE_URL}/api/project/try/jobs/1/bug_suggestions/", json=payload)

    first = th_client.bug_suggestions("try", 1)[0]

    assert (first.open_recent[0].id, first.open_recent[0].internal_id) == (None, 4242)
    assert first.line_number == 12


# --- Failure modes -------------------------------------------------------------------------------------

PUSH_URL = f"{BASE_URL}/api/project/try/push/1/"


def test_a_timeout_is_an_error_and_is_not_retried(mocked_responses, th_client):
    mocked_responses.get(PUSH_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(TreeherderError) as info:
        th_client.push("try", 1)

    assert info.value.reason == "timed out after 12 s"
    assert (info.value.url, info.value.status) == (PUSH_URL, None)
    assert len(mocked_responses.calls) == 1


def test_connection_errors_are_retried_with_backoff_then_reported(mocked_responses, th_client, sleeps):
    mocked_responses.get(PUSH_URL, body=requests.ConnectionError("connection refused"))

    with pytest.raises(TreeherderError) as info:
        th_client.push("try", 1)

    assert info.value.reason == "connection failed after 3 attempts"
    assert (info.value.url, info.value.status) == (PUSH_URL, None)
    assert len(mocked_responses.calls) == 3
    assert sleeps.calls == [0.25, 0.5]


def test_a_500_then_success_is_retried_once(mocked_responses, th_client, sleeps):
    push = recording("push_list.json")["results"][0]
    mocked_responses.get(PUSH_URL, body="<h1>Server Error (500)</h1>", status=500, content_type="text/html")
    mocked_responses.get(PUSH_URL, json=push)

    assert th_client.push("try", 1).id == push["id"]
    assert len(mocked_responses.calls) == 2
    assert sleeps.calls == [0.25]


def test_5xx_retries_are_bounded(mocked_responses, th_client, sleeps):
    mocked_responses.get(PUSH_URL, json={"detail": "upstream down"}, status=503)

    with pytest.raises(TreeherderError) as info:
        th_client.push("try", 1)

    assert (info.value.status, info.value.reason) == (503, "HTTP 503: upstream down")
    assert len(mocked_responses.calls) == 3
    assert len(sleeps.calls) == 2


def test_max_retries_zero_means_one_attempt(mocked_responses, sleeps):
    client = TreeherderClient(BASE_URL, timeout=1, session=requests.Session(), max_retries=0, sleep=sleeps)
    mocked_responses.get(PUSH_URL, status=502, body="bad gateway", content_type="text/plain")

    with pytest.raises(TreeherderError) as info:
        client.push("try", 1)

    assert info.value.reason == "HTTP 502: bad gateway"
    assert len(mocked_responses.calls) == 1
    assert sleeps.calls == []


def test_429_waits_as_long_as_retry_after_says(mocked_responses, th_client, sleeps):
    mocked_responses.get(PUSH_URL, status=429, json={"detail": "slow down"}, headers={"Retry-After": "4"})
    mocked_responses.get(PUSH_URL, json=recording("push_list.json")["results"][0])

    assert th_client.push("try", 1).id == 511138
    assert sleeps.calls == [4.0]


def test_a_retry_after_http_date_is_honoured(mocked_responses, th_client, sleeps):
    soon = datetime.now(UTC) + timedelta(seconds=6)
    when = soon.strftime("%a, %d %b %Y %H:%M:%S GMT")
    mocked_responses.get(PUSH_URL, status=503, body="", headers={"Retry-After": when})
    mocked_responses.get(PUSH_URL, json=recording("push_list.json")["results"][0])

    th_client.push("try", 1)

    assert len(sleeps.calls) == 1 and 0 <= sleeps.calls[0] <= 6


def test_a_retry_after_beyond_the_cap_gives_up_at_once(mocked_responses, th_client, sleeps):
    mocked_responses.get(PUSH_URL, status=429, json={"detail": "throttled"}, headers={"Retry-After": "3600"})

    with pytest.raises(TreeherderError) as info:
        th_client.push("try", 1)

    assert info.value.status == 429
    assert info.value.reason == "HTTP 429: throttled (asked to retry after 3600 s)"
    assert sleeps.calls == []
    assert len(mocked_responses.calls) == 1


def test_a_400_is_an_error_with_the_detail_and_is_not_retried(mocked_responses, th_client):
    mocked_responses.get(
        JOBS_URL, status=400, json={"detail": "Specified count exceeds API MAX_JOBS_COUNT value: 2000"}
    )

    with pytest.raises(TreeherderError) as info:
        th_client.jobs("try", 1000)

    assert not isinstance(info.value, TreeherderNotFound)
    assert info.value.status == 400
    assert "MAX_JOBS_COUNT" in info.value.reason
    assert len(mocked_responses.calls) == 1


def test_an_html_answer_with_status_200_is_an_error_not_data(mocked_responses, th_client):
    # What Treeherder serves for a path missing its trailing slash or an unknown API path.
    html = (
        "<!DOCTYPE html><html><head><title>Treeherder</title></head><body><div id=root></div></body></html>"
    )
    mocked_responses.get(PUSH_URL, body=html, status=200, content_type="text/html; charset=utf-8")

    with pytest.raises(TreeherderError) as info:
        th_client.push("try", 1)

    assert (info.value.status, info.value.url) == (200, PUSH_URL)
    assert info.value.reason == "expected JSON, got text/html"


def test_a_json_content_type_with_a_broken_body_is_an_error(mocked_responses, th_client):
    mocked_responses.get(PUSH_URL, body='{"id": 1,', content_type="application/json")

    with pytest.raises(TreeherderError, match="not valid JSON"):
        th_client.push("try", 1)


@pytest.mark.parametrize(
    ("path", "payload", "call"),
    [
        ("/api/project/try/push/", [], lambda c: c.pushes("try")),
        ("/api/project/try/push/", {"results": {"0": {}}}, lambda c: c.pushes("try")),
        ("/api/project/try/push/1/", {"id": 1}, lambda c: c.push("try", 1)),
        ("/api/project/try/push/1/status/", [1, 2], lambda c: c.push_status("try", 1)),
        ("/api/project/try/jobs/1/", ["x"], lambda c: c.job("try", 1)),
        (
            "/api/project/try/jobs/1/",
            {"id": "one", "state": "completed", "push_id": 1},
            lambda c: c.job("try", 1),
        ),
        ("/api/project/try/jobs/1/bug_suggestions/", {"results": []}, lambda c: c.failure_evidence("try", 1)),
        ("/api/project/try/jobs/1/bug_suggestions/", [{"line": "x"}], lambda c: c.failure_evidence("try", 1)),
        ("/api/project/try/jobs/1/bug_suggestions/", "oops", lambda c: c.bug_suggestions("try", 1)),
        ("/api/project/try/push/health/", {"result": "pass"}, lambda c: c.push_health("try", "abc")),
        ("/api/project/try/push/decisiontask/", ["x"], lambda c: c.decision_task("try", 1)),
        ("/api/repository/", {"results": []}, lambda c: c.repositories()),
    ],
    ids=[
        "push-list-list",
        "push-results-dict",
        "push-no-revision",
        "status-list",
        "job-list",
        "job-id-text",
        "evidence-dict",
        "evidence-no-search",
        "bugs-string",
        "health-no-metrics",
        "decision-list",
        "repos-dict",
    ],
)
def test_wrong_shaped_json_is_an_error(mocked_responses, th_client, path, payload, call):
    mocked_responses.get(f"{BASE_URL}{path}", json=payload)

    with pytest.raises(TreeherderError) as info:
        call(th_client)

    assert not isinstance(info.value, TreeherderNotFound)
    assert info.value.url.startswith(f"{BASE_URL}{path}")
    assert info.value.reason


def test_the_error_says_what_went_wrong_where():
    http = TreeherderError("HTTP 503: upstream down", "https://treeherder.test/api/jobs/?push_id=1", 503)
    html = TreeherderError("expected JSON, got text/html", "https://treeherder.test/api/jobs", 200)

    assert str(http) == "Treeherder: HTTP 503: upstream down — https://treeherder.test/api/jobs/?push_id=1"
    assert (
        str(html) == "Treeherder: expected JSON, got text/html (HTTP 200) — https://treeherder.test/api/jobs"
    )
    assert str(TreeherderError("timed out after 8 s")) == "Treeherder: timed out after 8 s"


# --- Politeness and configuration ----------------------------------------------------------------------


def test_every_request_says_who_it_is_and_asks_for_json(mocked_responses, settings):
    settings.TREEHERDER_URL = BASE_URL
    settings.SITE_URL = "https://buildwatch.example"
    mocked_responses.get(
        f"{BASE_URL}/api/repository/",
        json=[],
        match=[
            matchers.header_matcher(
                {"User-Agent": "BuildWatch/0.1.0 (+https://buildwatch.example)", "Accept": "application/json"}
            )
        ],
    )

    assert get_client().repositories() == []


def test_get_client_is_configured_from_settings_and_shares_one_session(settings):
    settings.TREEHERDER_URL = "https://th.example/"
    settings.TREEHERDER_PAGE_TIMEOUT = 4
    settings.TREEHERDER_BACKGROUND_TIMEOUT = 25

    page, background = get_client(), get_client(background=True)

    assert page.base_url == background.base_url == "https://th.example"
    assert (page.timeout, background.timeout) == (4, 25)
    assert page.session is background.session is get_client().session
    assert page.session.headers["Accept"] == "application/json"


def test_the_shared_session_keeps_a_connection_for_each_poll_thread(settings):
    """A poll cycle reads up to BUILDWATCH_POLL_CONCURRENCY (at most 64) pushes at once on this session:
    a smaller pool would drop and reopen connections every cycle."""
    session = get_client(background=True).session
    for scheme in ("https://", "http://"):
        assert session.get_adapter(f"{scheme}th.example/")._pool_maxsize >= 64


def test_page_clients_retry_less_and_wait_less_than_background_ones():
    page, background = get_client(), get_client(background=True)

    assert (page.max_retries, page.retry_after_max) == (1, 3.0)
    assert (background.max_retries, background.retry_after_max) == (2, 10.0)


def test_a_forked_worker_gets_its_own_session(monkeypatch):
    from pushes.treeherder import transport

    parent = get_client().session
    monkeypatch.setattr(transport.os, "getpid", lambda: -1)

    assert get_client().session is not parent
    assert get_client().session is get_client().session


def test_each_request_carries_the_timeout(mocked_responses, th_client, monkeypatch):
    seen = []
    real_get = th_client.session.get

    def spy(url, **kwargs):
        seen.append(kwargs.get("timeout"))
        return real_get(url, **kwargs)

    monkeypatch.setattr(th_client.session, "get", spy)
    mocked_responses.get(f"{BASE_URL}/api/repository/", json=[])

    th_client.repositories()

    # (connect, read), both what is left of the call's total deadline: never more than the timeout.
    [(connect, read)] = seen
    assert 11 < connect <= 12 and 11 < read <= 12


def test_a_client_needs_no_django_settings_when_given_url_and_timeout(mocked_responses):
    client = TreeherderClient("http://127.0.0.1:8100/", timeout=3)
    mocked_responses.get("http://127.0.0.1:8100/api/repository/", json=recording("repositories.json"))

    assert client.base_url == "http://127.0.0.1:8100"
    assert client.headers["User-Agent"].startswith("BuildWatch/0.1.0")
    assert client.repositories() == ["mozilla-central", "try", "autoland"]


def test_an_unmocked_request_cannot_reach_the_network():
    client = TreeherderClient("https://treeherder.mozilla.org", timeout=2, max_retries=0)

    with pytest.raises(NetworkBlocked, match="unmocked network access is not allowed"):
        client.repositories()


def test_a_request_not_registered_with_responses_fails(mocked_responses, th_client):
    with pytest.raises(TreeherderError) as info:
        th_client.repositories()

    assert info.value.status is None


def test_recordings_are_what_the_tests_claim():
    # Guards the fixtures themselves: the old order starts with duration, today's ends with platform_option.
    assert recording("job_1.json")["job_property_names"][0] == "duration"
    assert (
        recording("current_joblist_with_video_results_page_1.json")["job_property_names"][-1]
        == "platform_option"
    )
    assert json.loads(json.dumps(recording("page_1.json")))["next"] == "/jobs/?push_id=526443&page=2"


# --- Over real HTTP on loopback (what `responses` cannot show: real sockets, timeouts, refusals) ---------


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes, float]] = {}
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).seen.append({"path": self.path, **dict(self.headers)})
        status, content_type, body, delay = self.routes.get(
            urlsplit(self.path).path, (200, "text/html; charset=utf-8", b"<!DOCTYPE html><html></html>", 0)
        )
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback():
    _Handler.routes, _Handler.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # the client hanging up on a slow answer is fine
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler
    server.shutdown()
    server.server_close()


def test_over_http_it_sends_its_headers_and_reads_json(loopback):
    url, handler = loopback
    handler.routes["/api/repository/"] = (
        200,
        "application/json",
        json.dumps(recording("repositories.json")).encode(),
        0,
    )
    client = TreeherderClient(url, timeout=2, user_agent="BuildWatch/0.1.0 (+http://testserver)")

    assert client.repositories() == ["mozilla-central", "try", "autoland"]
    assert handler.seen[0]["User-Agent"] == "BuildWatch/0.1.0 (+http://testserver)"
    assert handler.seen[0]["Accept"] == "application/json"


def test_over_http_a_missing_trailing_slash_answers_html_and_is_an_error(loopback):
    url, _ = loopback
    client = TreeherderClient(url, timeout=2)

    with pytest.raises(TreeherderError) as info:
        client._get("/api/repository")  # the server's web app answers any unknown path

    assert (info.value.status, info.value.reason) == (200, "expected JSON, got text/html")


def test_over_http_a_slow_answer_times_out(loopback):
    url, handler = loopback
    handler.routes["/api/repository/"] = (200, "application/json", b"[]", 0.5)
    client = TreeherderClient(url, timeout=0.2)

    with pytest.raises(TreeherderError) as info:
        client.repositories()

    assert info.value.reason == "timed out after 0.2 s"
    assert info.value.status is None
    assert len(handler.seen) == 1


def test_over_http_a_refused_connection_is_retried_then_reported(sleeps):
    client = TreeherderClient(f"http://127.0.0.1:{free_port()}", timeout=5, max_retries=2, sleep=sleeps)

    with pytest.raises(TreeherderError) as info:
        client.repositories()

    assert info.value.reason == "connection failed after 3 attempts"
    assert len(sleeps.calls) == 2


def test_results_and_errors_survive_the_cache(mocked_responses, th_client):
    # pushes/services.py keeps these in Django's cache (pickled, in local memory or Redis).
    mocked_responses.get(
        f"{BASE_URL}/api/project/try/jobs/1/bug_suggestions/", json=recording("bug_suggestions.json")
    )
    suggestions = th_client.bug_suggestions("try", 1)
    log = Evidence(parse_status="parsed", suggestions=suggestions)
    error = TreeherderNotFound("HTTP 404: No job with id: 5", f"{BASE_URL}/api/project/try/jobs/5/", 404)

    assert pickle.loads(pickle.dumps(suggestions)) == suggestions
    assert pickle.loads(pickle.dumps(log)) == log
    restored = pickle.loads(pickle.dumps(error))
    assert (type(restored), restored.reason, restored.url, restored.status) == (
        TreeherderNotFound,
        error.reason,
        error.url,
        404,
    )
