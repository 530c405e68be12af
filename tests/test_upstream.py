"""Every upstream call has one total deadline (connect + headers + body, retries included) and a byte
cap: real misbehaving servers on loopback (tests/faulty_upstream.py), timed with the real clock."""

from __future__ import annotations

import pytest

from pushes import taskcluster
from pushes.treeherder.client import TreeherderClient
from pushes.treeherder.errors import TreeherderError
from tests.faulty_upstream import FaultyServer, timed

SLACK = 0.6  # scheduling on a shared 2-core machine; far below one more attempt or one more drip


@pytest.mark.parametrize("mode", ["drip", "hang", "slow-headers"])
def test_a_slow_treeherder_costs_at_most_the_timeout_whatever_the_retries(mode: str) -> None:
    with FaultyServer(mode, interval=0.2) as server:
        client = TreeherderClient(server.url, timeout=1.0, max_retries=2, backoff=0.1)
        seconds, problem = timed(lambda: client.push("try", 1))
    assert isinstance(problem, TreeherderError), problem
    assert problem.reason == "timed out after 1 s"
    assert seconds < 1.0 + SLACK, f"{mode}: waited {seconds:.1f} s"


def test_an_answer_larger_than_the_cap_is_an_error_read_no_further() -> None:
    with FaultyServer("oversize") as server:
        client = TreeherderClient(server.url, timeout=20, max_retries=0)
        seconds, problem = timed(lambda: client.pushes("try", count=20))
    assert isinstance(problem, TreeherderError), problem
    assert problem.reason == "sent more than 8 MB; BuildWatch stopped reading"
    assert seconds < 10


def test_rows_beyond_count_are_not_used(mocked_responses) -> None:
    rows = [
        {"id": n, "revision": f"{n:040x}", "author": "a@example.com", "push_timestamp": 1} for n in range(50)
    ]
    mocked_responses.get("https://th.test/api/project/try/push/", json={"results": rows})
    assert len(TreeherderClient("https://th.test", timeout=5).pushes("try", count=5)) == 5


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["drip", "hang"])
def test_a_page_waits_at_most_the_page_timeout_for_treeherder_in_total(client, settings, mode: str) -> None:
    """The push page reads the repositories and then the push: each alone would get the whole timeout."""
    settings.TREEHERDER_PAGE_TIMEOUT = 1.0
    with FaultyServer(mode, interval=0.2) as server:
        settings.TREEHERDER_URL = server.url
        answers: list = []
        seconds, problem = timed(lambda: answers.append(client.get("/try/pushes/5/")))
    assert problem is None
    [response] = answers
    assert response.status_code == 503
    assert "Treeherder did not answer (timed out after" in response.content.decode()
    assert seconds < 1.0 + SLACK, f"{mode}: the page took {seconds:.1f} s"


@pytest.mark.django_db
def test_an_oversized_push_list_is_a_clear_banner(client, settings) -> None:
    settings.DEBUG = True  # a developer machine: the banner also points at `make demo`
    with FaultyServer("oversize") as server:
        settings.TREEHERDER_URL = server.url
        response = client.get("/try/?author=")
    assert response.status_code == 503
    html = response.content.decode()
    assert "Treeherder did not answer (sent more than 8 MB; BuildWatch stopped reading)" in html
    assert "make demo" in html  # DEBUG: the way to work without Treeherder


def test_a_dripping_taskcluster_is_no_answer_within_its_timeout(settings) -> None:
    settings.TASKCLUSTER_TIMEOUT = 1.0
    with FaultyServer("drip", interval=0.2) as server:
        settings.TASKCLUSTER_ROOT_URL = server.url
        seconds, problem = timed(lambda: taskcluster.task_scopes("abc"))
    assert isinstance(problem, taskcluster.NoAnswer), problem
    assert seconds < 1.0 + SLACK


@pytest.mark.django_db
def test_a_page_that_runs_out_of_its_budget_reports_the_total_wait(client, settings, fake_treeherder) -> None:
    """The push page reads the repositories (0.6 s, answered), then the push, which has the 0.4 s left
    of the page's 1 s and times out: the page waited 1 s for Treeherder, and says so (not "0.4 s")."""
    settings.TREEHERDER_PAGE_TIMEOUT = 1.0
    settings.TREEHERDER_URL = fake_treeherder.url
    push_id = fake_treeherder.push_ids()[0]
    fake_treeherder.set_latency(0.6)
    try:
        response = client.get(f"/try/pushes/{push_id}/")
    finally:
        fake_treeherder.set_latency(0)  # the session's fake: module-scoped users keep its latency
    assert response.status_code == 503
    assert "Treeherder did not answer (timed out after 1 s)" in response.content.decode()
    assert [path for _, path in fake_treeherder.requests][:2] == [
        "/api/repository/",
        f"/api/project/try/push/{push_id}/",
    ]
