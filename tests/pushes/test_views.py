"""The push pages, rendered for real against `responses` mocks of Treeherder's real URLs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import UserSettings
from notifications.models import Watch
from pushes import triage
from tests.helpers import parse_html
from tests.pushes.conftest import (
    TH,
    job,
    mock_decision,
    mock_jobs,
    mock_log_errors,
    mock_push,
    mock_repositories,
    push,
)

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TREEHERDER_URL = TH
    settings.TASKCLUSTER_ROOT_URL = "https://tc.example"
    settings.BUILDWATCH_REFRESH_SECONDS = 30


@pytest.fixture
def th(mocked_responses):
    mock_repositories(mocked_responses)
    return mocked_responses


def push_list_json(*pushes):
    return {"meta": {"count": len(pushes), "repository": "try", "filter_params": {}}, "results": list(pushes)}


def calls_to(rsps, path):
    return [call for call in rsps.calls if path in call.request.url]


# --- Push list ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_lists_pushes_with_title_author_time_and_lazy_status(client, th):
    th.get(
        f"{TH}/api/project/try/push/",
        json=push_list_json(push(100), push(99, comments="Fuzzy query='mochitest")),
    )
    response = client.get("/try/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Bug 1234567 - Make the thing faster r?reviewer" in html
    assert ">dev<" in html  # author handle: @mozilla.com dropped
    assert 'title="2025-11-24 16:00:00 UTC"' in html  # exact time on hover
    assert "abcdef123456" in html and "abcdef1234567890abcdef" not in html.replace(
        'title="abcdef1234567890abcdef1234567890abcdef12"', ""
    )
    # One poller fills every row's status cell (one request, not one per row) and looks for new pushes.
    assert html.count("hx-get=") == 1
    assert 'hx-get="/try/live/?author=&amp;count=20&amp;ids=100%2C99&amp;top=100"' in html
    assert 'hx-trigger="load, every 30s"' in html
    assert 'id="status-100"' in html and 'href="/try/pushes/100/"' in html  # the no-JS fallback link
    # One Treeherder request for the list itself (plus the hourly list of repositories).
    assert len(calls_to(th, "/push/")) == 1


@pytest.mark.django_db
def test_root_redirects_to_try(client):
    assert client.get("/")["Location"] == "/try/"


@pytest.mark.django_db
def test_count_is_clamped_and_older_pushes_page_by_push_time(client, th):
    th.get(f"{TH}/api/project/try/push/", json=push_list_json(push(100), push(99)))
    client.get("/try/?count=500")
    assert "count=100" in th.calls[-1].request.url
    response = client.get("/try/?count=2&author=")
    assert "count=2" in th.calls[-1].request.url
    # Both pushes are of one second: the next page skips the ones of that second already shown.
    link = 'href="?count=2&amp;push_timestamp__lte=1764000000&amp;shown=99%2C100&amp;author="'
    assert link in response.content.decode()
    client.get("/try/?count=0&push_timestamp__lte=1764000000&shown=99,100")
    assert "count=3" in th.calls[-1].request.url  # one to show, two to skip
    assert "push_timestamp__lte=1764000000" in th.calls[-1].request.url
    client.get("/try/?count=abc")
    assert "count=20" in th.calls[-1].request.url


@pytest.mark.django_db
def test_an_author_filter_too_long_to_be_an_email_is_said_not_dropped(client, th):
    author = "a" * 250 + "@mozilla.com"  # 262 characters: no email address is that long
    response = client.get("/try/", {"author": author})

    html = response.content.decode()
    assert response.status_code == 400
    assert "The author filter has 262 characters; an email address has at most 254" in html
    assert f'value="{author}"' in html  # kept in the box, to be corrected
    assert 'id="push-list"' not in html and "hx-get=" not in html  # not everyone's pushes instead
    assert calls_to(th, "/push/") == []
    live = client.get("/try/live/", {"author": author, "count": 20, "ids": "", "top": 1}, **HX)
    assert calls_to(th, "/push/") == [] and 'id="push-' not in live.content.decode()


@pytest.mark.django_db
def test_author_filter_defaults_to_the_signed_in_users_email(client, th):
    th.get(f"{TH}/api/project/try/push/", json=push_list_json(push(100)))
    user = get_user_model().objects.create_user("ann", "ann@example.com", "pw")
    UserSettings.objects.create(user=user, author_email="ann@mozilla.com")
    Watch.objects.create(user=user, repo="try", push_id=100)
    client.force_login(user)
    response = client.get("/try/")
    assert "author=ann%40mozilla.com" in th.calls[-1].request.url
    html = response.content.decode()
    assert "Mine" in html and "Everyone" in html
    assert "Unwatch" in html  # the watch button, showing this push as watched
    client.get("/try/?author=")
    assert "author=" not in th.calls[-1].request.url.split("?")[1]


@pytest.mark.django_db
def test_anonymous_users_see_everyone_and_no_watch_buttons(client, th):
    th.get(f"{TH}/api/project/try/push/", json=push_list_json(push(100)))
    response = client.get("/try/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "author=" not in th.calls[-1].request.url
    assert "Bug 1234567 - Make the thing faster r?reviewer" in html  # everyone's pushes are listed
    assert 'href="/try/pushes/100/"' in html
    assert "Sign in" in html
    assert "watch-form" not in html and "Unwatch" not in html


@pytest.mark.django_db
def test_status_cell_fragment_shows_counts_progress_and_worst_result(client, th):
    mock_jobs(th, [job(1), job(2, result="testfailed"), job(3, state="running")])
    response = client.get("/try/pushes/100/status/", **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "✗ failing" in html and "c-red" in html
    assert "2/3 done" in html and "1 failed" in html
    assert parse_html(html).find_all("progress", max="3", value="2")
    assert "hx-trigger" not in html  # the list's one poller refreshes it


@pytest.mark.django_db
def test_status_cell_of_a_passed_push(client, th):
    mock_jobs(th, [job(1), job(2)])
    html = client.get("/try/pushes/100/status/", **HX).content.decode()
    assert "✓ passed" in html and "2/2 done" in html


@pytest.mark.django_db
def test_status_url_without_htmx_redirects_to_the_push(client):
    assert client.get("/try/pushes/100/status/")["Location"] == "/try/pushes/100/"


# --- Push detail --------------------------------------------------------------------------------------


def mock_detail(th, rows, data=None, *, decision=True):
    """A push, its jobs and (unless `decision=False`: htmx refreshes do not ask) its decision task."""
    mock_push(th, data or push(100))
    if decision:
        mock_decision(th)
    return mock_jobs(th, rows)


@pytest.mark.django_db
def test_detail_shows_header_totals_and_sorted_platform_groups(client, th):
    rows = [
        job(1, platform="windows11-64", option="debug"),
        job(2, platform="linux64", option="opt", result="testfailed"),
        job(3, platform="linux64", option="opt"),
        job(4, platform="android-em", option="", state="running"),
        job(5, platform="linux64", option="opt", tier=2),
    ]
    mock_detail(th, rows)
    mock_log_errors(th, 2, [], parse_status="pending")  # the badge reads the failure's evidence
    response = client.get("/try/pushes/100/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Bug 1234567 - Make the thing faster" in html
    assert 'href="https://bugzilla.mozilla.org/show_bug.cgi?id=1234567"' in html
    assert f'href="{TH}/jobs?repo=try&amp;revision=abcdef1234567890abcdef1234567890abcdef12"' in html
    assert 'href="https://tc.example/tasks/groups/DecisionTaskId"' in html
    assert "<strong>4</strong> of <strong>5</strong> jobs done" in html
    # Failing groups first, then by name; the failing one is open with its jobs in the page (no more
    # requests), the others load theirs when opened.
    assert html.index("linux64 opt") < html.index("android-em") < html.index("windows11-64 debug")
    page = parse_html(html)
    open_group = page.one("details", id="g-linux64-opt")
    assert open_group.attrs == {"class": "group", "id": "g-linux64-opt", "open": ""}  # and nothing to load
    assert page.find_all(id="job-2", class_="chip c-red") and 'id="jr-2"' in html  # a chip, and a row: failed
    closed = "/try/pushes/100/jobs/?platform=windows11-64&option=debug"
    [lazy] = page.find_all(hx_get=closed, hx_trigger="toggle once")
    assert "&amp;option=debug" in lazy.start_tag  # escaped in the markup
    assert "Tier 2 and 3 jobs" in html
    assert page.find_all(hx_get="/try/pushes/100/failures/", hx_trigger="load")
    # Still running: the live part polls; tab title and favicon say so.
    assert 'hx-trigger="every 30s"' in html
    assert "<title>✗ failing · Bug 1234567" in html
    assert "favicon-failing.svg" in html
    assert "updated 0 s ago" in html
    # Only the failing group's jobs are rendered eagerly.
    assert "test-windows11-64/debug-mochitest-1" not in html


@pytest.mark.django_db
def test_detail_htmx_refresh_returns_only_the_live_fragment(client, th):
    mock_detail(th, [job(1), job(2, state="running")], decision=False)
    response = client.get("/try/pushes/100/", **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert parse_html(html).first().matches("section", id="push-live")
    assert "<html" not in html and "push-header" not in html
    assert 'data-title="… running' in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


@pytest.mark.django_db
def test_history_restore_request_gets_the_whole_page(client, th):
    mock_detail(th, [job(1)])
    html = client.get("/try/pushes/100/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX).content.decode()
    assert "<html" in html


@pytest.mark.django_db
def test_finished_push_stops_refreshing(client, th):
    mock_detail(th, [job(1), job(2, result="busted")], decision=False)
    # The failure summary is settled: the failed job's evidence read, a line never seen before.
    mock_log_errors(th, 2, ["TEST-UNEXPECTED-FAIL | test_a.js | boom"], counter=0)
    html = client.get("/try/pushes/100/", **HX).content.decode()
    assert not parse_html(html).find_all(hx_trigger=re.compile("every.*"))
    assert 'data-title="✗ 1 new failure' in html


@pytest.mark.django_db
def test_a_finished_push_keeps_refreshing_until_its_failed_logs_are_parsed(client, th):
    ended = datetime.now(UTC) - timedelta(minutes=1)  # /api/jobs/ has no end time: last_modified tells
    mock_detail(th, [job(1), job(2, result="busted", last_modified=ended.isoformat())], decision=False)
    mock_log_errors(th, 2, [], parse_status="pending")
    html = client.get("/try/pushes/100/", **HX).content.decode()
    polling = re.compile("every.*")
    assert parse_html(html).find_all("div", id="push-poll", hx_get=re.compile(".+"), hx_trigger=polling)


@pytest.mark.django_db
def test_a_finished_push_stops_refreshing_when_a_log_stays_unparsed_past_the_bound(client, th):
    ended = datetime.now(UTC) - timedelta(seconds=triage.LOG_PARSE_WAIT + 60)  # it will not be parsed
    mock_detail(th, [job(1), job(2, result="busted", last_modified=ended.isoformat())], decision=False)
    mock_log_errors(th, 2, [], parse_status="pending")
    html = client.get("/try/pushes/100/", **HX).content.decode()
    assert 'id="push-poll"' in html and not parse_html(html).find_all(hx_trigger=re.compile("every.*"))


@pytest.mark.django_db
def test_passed_push_title_and_favicon(client, th):
    mock_detail(th, [job(1), job(2)])
    html = client.get("/try/pushes/100/").content.decode()
    assert "<title>✓ passed" in html and "favicon-passing.svg" in html
    assert 'hx-trigger="every' not in html


@pytest.mark.django_db
def test_group_jobs_fragment_lists_jobs_with_links_and_status(client, th):
    mock_push(th, push(100))
    mock_jobs(
        th, [job(1, result="testfailed", symbol="bc3", group="M"), job(2, platform="mac", option="opt")]
    )
    response = client.get("/try/pushes/100/jobs/?platform=linux64&option=opt", **HX)
    html = response.content.decode()
    assert "<html" not in html
    assert "M(bc3)" in html and "test-linux64/opt-mochitest-1" in html
    assert "testfailed" in html and "c-red" in html
    assert "12 min" in html
    assert 'href="https://tc.example/tasks/Task1Id"' in html
    assert "selectedTaskRun=Task1Id.0" in html
    assert "test-mac/opt-mochitest-2" not in html


@pytest.mark.django_db
def test_job_rows_offer_a_retrigger_button_to_signed_in_users(client, th, bob):
    mock_push(th, push(100))
    mock_jobs(th, [job(1, result="testfailed")])
    url = "/try/pushes/100/jobs/?platform=linux64&option=opt"
    assert "retrigger-form" not in client.get(url, **HX).content.decode()
    client.force_login(bob)
    assert 'action="/try/jobs/1/retrigger/"' in client.get(url, **HX).content.decode()


@pytest.mark.django_db
def test_group_jobs_page_without_htmx_and_tier_2_section(client, th):
    mock_push(th, push(100))
    mock_jobs(th, [job(1), job(2, tier=3, name="lint-thing")])
    html = client.get("/try/pushes/100/jobs/?tier=other").content.decode()
    assert "<html" in html and "lint-thing" in html and "tier 3" in html
    assert "test-linux64/opt-mochitest-1" not in html


@pytest.mark.django_db
def test_unknown_push_is_a_404_that_says_so(client, th):
    th.get(f"{TH}/api/project/try/push/12345/", status=404, json="No push with id: 12345")
    response = client.get("/try/pushes/12345/")
    assert response.status_code == 404
    assert "No push 12345 in repository “try”" in response.content.decode()


@pytest.mark.django_db
def test_unknown_repo_is_a_404_that_says_so(client, th):
    response = client.get("/nosuchrepo/")
    assert response.status_code == 404
    assert "Unknown repository “nosuchrepo”" in response.content.decode()
    assert client.get("/nosuchrepo/pushes/1/").status_code == 404


@pytest.mark.django_db
def test_non_integer_push_id_is_a_404_that_says_so(client, mocked_responses):
    response = client.get("/try/pushes/abc/")
    assert response.status_code == 404
    assert "“abc” is not a push id" in response.content.decode()


@pytest.mark.django_db
def test_repos_fall_back_to_a_builtin_list_when_treeherder_is_down(client, mocked_responses):
    mocked_responses.get(f"{TH}/api/repository/", status=400, json={"detail": "nope"})
    mocked_responses.get(f"{TH}/api/project/try/push/", json=push_list_json(push(100)))
    assert client.get("/try/").status_code == 200
    assert client.get("/nosuchrepo/").status_code == 404


# --- Failure summary ----------------------------------------------------------------------------------


def failing_rows(n):
    return [job(i, result="testfailed", platform=f"linux{i}") for i in range(1, n + 1)] + [job(999)]


@pytest.mark.django_db
def test_failure_summary_groups_errors_and_says_what_is_not_parsed(client, th):
    mock_push(th, push(100))
    mock_jobs(th, failing_rows(3))
    line = "TEST-UNEXPECTED-FAIL | dom/tests/test_a.html | assertion <b>failed</b>"
    mock_log_errors(th, 1, [line, "PROCESS-CRASH | dom/tests/test_b.html | crash"])
    mock_log_errors(th, 2, [line])
    mock_log_errors(th, 3, [], parse_status="pending")
    response = client.get("/try/pushes/100/failures/", **HX)
    html = response.content.decode()
    assert "<html" not in html
    assert "3 failed jobs" in html
    assert html.index("dom/tests/test_a.html") < html.index("dom/tests/test_b.html")  # 2 jobs before 1
    assert "2 jobs:" in html and "1 job:" in html
    assert "line 10:" in html
    assert "assertion &lt;b&gt;failed&lt;/b&gt;" in html
    assert "log not parsed yet" in html
    assert "No error lines" not in html


@pytest.mark.django_db
def test_failure_summary_reads_every_failed_job_and_says_how_many_are_triaged(client, th):
    mock_push(th, push(100))
    mock_jobs(th, failing_rows(17))
    for i in range(1, 18):
        mock_log_errors(th, i, [f"TEST-UNEXPECTED-FAIL | test_{i % 3}.js | boom"])
    html = client.get("/try/pushes/100/failures/").content.decode()
    assert "<html" in html  # a page of its own without htmx
    assert "17 failed jobs" in html and "not shown" not in html and "triaged" not in html
    assert len(calls_to(th, "/bug_suggestions/")) == 17


@pytest.mark.django_db
def test_failure_summary_shows_ten_groups_and_the_rest_behind_a_disclosure(client, th):
    mock_push(th, push(100))
    mock_jobs(th, failing_rows(1))
    mock_log_errors(th, 1, [f"TEST-UNEXPECTED-FAIL | test_{i:02d}.js | boom" for i in range(12)])
    html = client.get("/try/pushes/100/failures/", **HX).content.decode()
    assert len(parse_html(html).find_all(class_="failure-group")) == 12
    assert "2 more failure groups" in html
    assert html.index("test_09.js") < html.index("2 more failure groups") < html.index("test_10.js")


@pytest.mark.django_db
def test_failure_summary_without_failures(client, th):
    mock_push(th, push(100))
    mock_jobs(th, [job(1)])
    assert "No failed jobs" in client.get("/try/pushes/100/failures/", **HX).content.decode()


# --- Escaping, caching, Treeherder trouble -------------------------------------------------------------


@pytest.mark.django_db
def test_untrusted_text_is_escaped(client, th):
    evil = "<script>alert('x')</script> Bug 1"
    th.get(f"{TH}/api/project/try/push/", json=push_list_json(push(100, comments=evil, author="<b>@x")))
    mock_detail(th, [job(1, name="<img src=x onerror=alert(1)>")], data=push(100, comments=evil))
    th.assert_all_requests_are_fired = False  # the list's copy of push 100 serves its page: no push read
    for url in ("/try/", "/try/pushes/100/", "/try/pushes/100/jobs/?platform=linux64&option=opt"):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>@x" not in html
    assert (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in client.get("/try/pushes/100/").content.decode()
    )


@pytest.mark.django_db
def test_a_second_view_makes_no_upstream_request(client, th):
    mock_detail(th, [job(1), job(2, state="running")])
    client.get("/try/pushes/100/")
    before = len(th.calls)
    client.get("/try/pushes/100/")
    client.get("/try/pushes/100/", **HX)
    client.get("/try/pushes/100/status/", **HX)
    assert len(th.calls) == before


@pytest.mark.django_db
def test_treeherder_down_shows_last_good_data_with_a_banner(client, th, clock):
    mock_detail(th, [job(1), job(2, state="running")])
    client.get("/try/pushes/100/")
    # The short-lived copy expires; Treeherder now answers garbage (its web app's HTML).
    from django.core.cache import cache

    cache.delete("bw:th:v2:jobs:try:100")
    th.replace("GET", f"{TH}/api/jobs/", body="<html>treeherder</html>", content_type="text/html")
    clock.shift(180)
    response = client.get("/try/pushes/100/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Treeherder did not answer; showing data from 3 min ago" in html
    assert "<strong>1</strong> of <strong>2</strong> jobs done" in html


@pytest.mark.django_db
def test_treeherder_down_without_cached_data_is_a_clear_message_not_a_500(client, th):
    th.get(f"{TH}/api/project/try/push/100/", body=requests.ConnectionError("refused"))
    th.get(f"{TH}/api/project/try/push/", body=requests.ConnectionError("refused"))
    for url in ("/try/pushes/100/", "/try/"):
        response = client.get(url)
        assert response.status_code == 503
        assert "Treeherder did not answer" in response.content.decode()
    fragment = client.get("/try/pushes/100/", **HX)
    assert fragment.status_code == 200 and "Treeherder did not answer" in fragment.content.decode()


@pytest.mark.django_db
def test_jobs_unavailable_still_renders_the_header(client, th):
    mock_push(th, push(100))
    mock_decision(th)
    th.get(f"{TH}/api/jobs/", status=400, json={"detail": "bad"})
    response = client.get("/try/pushes/100/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Bug 1234567" in html and "no copy of this push" in html
    assert 'hx-trigger="every 30s"' in html  # keeps trying


def test_urls_reverse():
    assert reverse("push_list", args=["try"]) == "/try/"
    assert reverse("push_detail", args=["try", 5]) == "/try/pushes/5/"
    assert reverse("push_failures", args=["try", 5]) == "/try/pushes/5/failures/"


@pytest.mark.django_db
def test_push_list_keeps_showing_the_last_good_list_when_treeherder_fails(client, th, clock):
    th.get(f"{TH}/api/project/try/push/", json=push_list_json(push(100)))
    client.get("/try/")
    th.replace("GET", f"{TH}/api/project/try/push/", status=400, json={"detail": "broken"})
    clock.shift(45)
    html = client.get("/try/").content.decode()
    assert "Treeherder did not answer; showing data from 45 s ago" in html
    assert "Bug 1234567 - Make the thing faster" in html


def test_the_500_page_renders_without_a_request():
    from django.template.loader import render_to_string

    assert "Something went wrong" in render_to_string("500.html")
