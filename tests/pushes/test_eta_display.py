"""A running push's estimated finish where the engineer looks (issue 26): the push list's status cell,
the push page's header and tab title, and what refreshes them; learned from the pushes the pages read
(no extra Treeherder request), in the viewer's time zone. Treeherder is `responses` mocks of its real
URLs; the clock stands still at 10:30 UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.contrib.auth import get_user_model
from responses import matchers

from accounts.models import UserSettings
from fakeherder.payloads import api_jobs_page
from pushes import estimates
from pushes.models import JobDurations
from tests.helpers import parse_html
from tests.pushes.conftest import TH, job, mock_decision, mock_push, mock_repositories, push

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
KIND = "test-linux64/opt-mochitest-plain"
ETA = re.compile(r"ETA (\d\d):(\d\d) \((\d\d):(\d\d)–(\d\d):(\d\d)\)")


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TREEHERDER_URL = TH
    settings.TASKCLUSTER_ROOT_URL = "https://tc.example"
    settings.BUILDWATCH_REFRESH_SECONDS = 30


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def th(mocked_responses, clock):
    mock_repositories(mocked_responses)
    mocked_responses.assert_all_requests_are_fired = False  # each test reads what its page needs
    return mocked_responses


def stamp(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


def done(job_id: int, push_id: int, chunk: int, minutes: int = 10, *, ended: timedelta = timedelta(hours=1),
         result: str = "success", **more) -> dict:  # fmt: skip
    """A finished chunk of KIND that ran `minutes`, ended `ended` ago."""
    return job(job_id, push_id=push_id, name=f"{KIND}-{chunk}", duration=minutes, result=result,
               last_modified=stamp(NOW - ended), **more)  # fmt: skip


def running(job_id: int, push_id: int, chunk: int, minutes: int = 4, **more) -> dict:
    """A running chunk of KIND, started `minutes` ago."""
    return job(job_id, push_id=push_id, name=f"{KIND}-{chunk}", state="running", result="unknown",
               duration=minutes, last_modified=stamp(NOW - timedelta(minutes=minutes)), **more)  # fmt: skip


def pending(job_id: int, push_id: int, chunk: int, **more) -> dict:
    return job(job_id, push_id=push_id, name=f"{KIND}-{chunk}", state="pending", result="unknown",
               duration=1, last_modified=stamp(NOW - timedelta(minutes=1)), **more)  # fmt: skip


def decision(job_id: int, push_id: int) -> dict:
    return job(job_id, push_id=push_id, name="Gecko Decision Task", symbol="D", group="", duration=3,
               last_modified=stamp(NOW - timedelta(minutes=20)))  # fmt: skip


def finished_push(push_id: int = 99, first_id: int = 900) -> list[dict]:
    """A finished push of six chunks of KIND, 10 minutes each: the history."""
    return [decision(first_id, push_id)] + [done(first_id + n, push_id, n) for n in range(1, 7)]


def running_push(push_id: int = 100) -> list[dict]:
    """Three chunks of KIND running for 4 minutes, one done."""
    return [decision(1, push_id), done(2, push_id, 1, ended=timedelta(minutes=2))] + [
        running(job_id, push_id, job_id) for job_id in (3, 4, 5)
    ]


def serve_jobs(th, push_id: int, *answers: list[dict]) -> None:
    """The push's jobs: each answer once, in order (the last one from then on)."""
    for rows in answers:
        th.get(f"{TH}/api/jobs/", json=api_jobs_page(rows),
               match=[matchers.query_param_matcher({"push_id": str(push_id)}, strict_match=False)])  # fmt: skip


def serve_list(th, *push_ids: int) -> None:
    th.get(f"{TH}/api/project/try/push/", json={"meta": {"count": len(push_ids), "repository": "try",
           "filter_params": {}}, "results": [push(push_id) for push_id in push_ids]})  # fmt: skip


def status_cell(html: str, push_id: int) -> str:
    found = re.search(rf'<div class="status-cell[^"]*" id="status-{push_id}".*?</div>', html, re.S)
    assert found, f"no status cell for push {push_id}"
    return unescape(found[0])


def list_refresh(client, *push_ids: int) -> str:
    ids = ",".join(map(str, push_ids))
    return client.get(f"/try/live/?author=&count=20&ids={ids}", **HX).content.decode()


def minutes_after_now(text: str) -> tuple[float, float, float]:
    """The estimate's (early, likely, late), in minutes from NOW, read from "ETA 10:36 (10:33–10:41)"."""
    found = ETA.search(text)
    assert found, f"no ETA in {text!r}"
    h, m, eh, em, lh, lm = map(int, found.groups())
    return (eh * 60 + em - 630, h * 60 + m - 630, lh * 60 + lm - 630)


def learn_from_a_list(client, th) -> None:
    """A list with the finished push 99 on it: the anonymous list shows it, its status cell reads it."""
    serve_list(th, 100, 99)
    serve_jobs(th, 99, finished_push())
    client.get("/try/?author=")
    list_refresh(client, 99)


# --- No history, then a list that teaches it -------------------------------------------------------


def test_a_running_push_with_no_history_says_no_estimate_yet(client, th):
    serve_jobs(th, 100, running_push())
    html = client.get("/try/pushes/100/status/", **HX).content.decode()
    cell = status_cell(html, 100)
    assert "no estimate yet" in cell and "ETA" not in cell
    assert JobDurations.objects.filter(name=KIND).get().runs  # the one finished chunk taught its kind


def test_the_list_learns_from_its_finished_pushes_before_it_estimates_its_running_ones(client, th):
    serve_list(th, 100, 99)
    serve_jobs(th, 99, finished_push())
    serve_jobs(th, 100, running_push())
    client.get("/try/?author=")  # the first visit: the list's one refresh then reads every row at once
    html = list_refresh(client, 100, 99)

    early, likely, late = minutes_after_now(status_cell(html, 100))
    assert 0 < early <= likely <= late
    assert 4 <= likely <= 12  # chunks of 10 minutes, 4 minutes in: about 6 minutes left
    assert "ETA" not in status_cell(html, 99) and "estimate" not in status_cell(html, 99)  # finished

    runs = len(JobDurations.objects.get(name=KIND).runs)
    assert runs == 7  # six chunks of push 99, the finished one of push 100
    list_refresh(client, 100, 99)
    th.calls.reset()
    list_refresh(client, 100, 99)  # read again: nothing counted twice, nothing asked again
    assert len(JobDurations.objects.get(name=KIND).runs) == runs
    assert not [call for call in th.calls if "push_id=99" in call.request.url]


def test_a_list_refresh_of_the_same_fetches_loads_no_pushs_jobs_again(client, th, monkeypatch):
    """The list refreshes every few seconds: once a fetch is learned from and estimated, its jobs (all
    5,000 of a big push) are not loaded from the cache again for it."""
    serve_list(th, 100, 99)
    serve_jobs(th, 99, finished_push())
    serve_jobs(th, 100, running_push())
    client.get("/try/?author=")
    first = status_cell(list_refresh(client, 100, 99), 100)
    loads = []
    original = estimates._cached_jobs
    monkeypatch.setattr(
        estimates, "_cached_jobs", lambda repo, push_id: loads.append(push_id) or original(repo, push_id)
    )

    again = status_cell(list_refresh(client, 100, 99), 100)

    assert loads == []
    assert ETA.search(again) and ETA.search(again)[0] == ETA.search(first)[0]  # the same estimate


# --- The push page: header, tab title, live refresh -------------------------------------------------


def test_the_push_page_shows_the_eta_in_its_header_tab_title_and_poller(client, th):
    learn_from_a_list(client, th)
    mock_push(th, push(100))
    mock_decision(th)
    serve_jobs(th, 100, running_push())
    html = client.get("/try/pushes/100/").content.decode()
    page = parse_html(html)
    header = unescape(page.one("p", id="push-eta").text)
    assert ETA.search(header)
    clock_time = ETA.search(header)[0].split()[1]
    assert f"<title>… running · ETA {clock_time} · Bug 1234567" in unescape(html)
    poll = page.one("div", id="push-poll")
    assert unescape(poll.attrs["data-eta"]) == ETA.search(header)[0]
    assert "UTC" in unescape(poll.attrs["data-eta-title"])


def test_a_live_refresh_carries_a_new_estimate_when_new_jobs_are_added_mid_run(client, th, clock):
    """An action task (a retrigger) adds jobs to the running push: the next fetch's estimate has them."""
    learn_from_a_list(client, th)
    mock_push(th, push(100))
    mock_decision(th)
    added = running_push() + [
        job(6, push_id=100, name="Action: Retrigger", symbol="rt", group="", duration=1,
            last_modified=stamp(NOW - timedelta(minutes=1))),
    ] + [pending(job_id, 100, job_id) for job_id in range(7, 12)]  # fmt: skip
    serve_jobs(th, 100, running_push(), added)
    html = client.get("/try/pushes/100/").content.decode()
    before = minutes_after_now(unescape(parse_html(html).one("p", id="push-eta").text))

    clock.shift(31)  # the next fetch
    url = unescape(re.search(r'id="push-poll" hx-get="([^"]+)"', html)[1])
    refresh = client.get(url, **HX).content.decode()
    poll = parse_html(refresh).one("div", id="push-poll")
    after = minutes_after_now(unescape(poll.attrs["data-eta"]))
    assert after[1] > before[1]  # five more chunks to wait for and run: later than before
    assert f"ETA {unescape(poll.attrs['data-eta'])[4:9]} · " in unescape(poll.attrs["data-title"])


def test_a_straggler_past_every_run_of_its_kind_still_gets_a_finish_after_now(client, th):
    learn_from_a_list(client, th)
    straggling = [
        decision(1, 100),
        running(3, 100, 3, minutes=4),
        running(4, 100, 4, minutes=4),
        running(5, 100, 5, minutes=25),
    ]  # fmt: skip  (2.5 times its kind's 10 minutes)
    serve_jobs(th, 100, straggling)
    cell = status_cell(client.get("/try/pushes/100/status/", **HX).content.decode(), 100)
    early, likely, late = minutes_after_now(cell)
    assert 1 <= early <= likely <= late  # never in the past, never under a minute
    assert late > 7  # it may overrun as much again: later than the others' 6 minutes


def test_a_retried_job_counts_as_a_lost_run_and_its_rerun_is_waited_for(client, th):
    learn_from_a_list(client, th)
    retried = [decision(1, 100), done(2, 100, 1, minutes=3, result="retry", ended=timedelta(minutes=3)),
               pending(3, 100, 1, retry_id=1), running(4, 100, 2), running(5, 100, 3)]  # fmt: skip
    serve_jobs(th, 100, retried)
    cell = status_cell(client.get("/try/pushes/100/status/", **HX).content.decode(), 100)
    early, likely, late = minutes_after_now(cell)
    assert likely >= 8  # the rerun waits, then runs its 10 minutes
    row = JobDurations.objects.get(name=KIND)
    assert len(row.retries) == 1 and len(row.runs) == 6  # the lost run is not a run time


# --- Time zones ----------------------------------------------------------------------------------------


def eta_hour(client, th, **cookies) -> int:
    for name, value in cookies.items():
        client.cookies[name] = value
    serve_jobs(th, 100, running_push())
    cell = status_cell(client.get("/try/pushes/100/status/", **HX).content.decode(), 100)
    return int(ETA.search(cell)[1])


def test_the_eta_reads_in_the_signed_in_users_time_zone(client, th):
    learn_from_a_list(client, th)
    user = get_user_model().objects.create_user("tz", password="pw-tz-123456")
    UserSettings.objects.create(user=user, time_zone="Asia/Tokyo")
    client.force_login(user)
    assert eta_hour(client, th, bw_tz="America/New_York") == 19  # their setting wins over the browser's


def test_the_eta_reads_in_the_browsers_time_zone_from_its_cookie(client, th):
    learn_from_a_list(client, th)
    assert eta_hour(client, th, bw_tz="America/New_York") == 5


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "../../etc/passwd", "", "x" * 200])
def test_a_bad_time_zone_cookie_is_ignored(client, th, bad):
    learn_from_a_list(client, th)
    assert eta_hour(client, th, bw_tz=bad) == 10


def test_the_settings_page_offers_a_time_zone_and_keeps_it(client):
    user = get_user_model().objects.create_user("tzs", password="pw-tzs-123456")
    client.force_login(user)
    page = parse_html(client.get("/settings/").content.decode())
    options = page.one("select", id="id_time_zone").find_all("option")
    assert {"Europe/Berlin", "America/New_York", "UTC", ""} <= {o.attrs["value"] for o in options}
    data = {
        "author_email": "",
        "default_repo": "try",
        "time_zone": "Europe/Berlin",
        "notifications_enabled": "on",
    }
    assert client.post("/settings/", data).status_code in (200, 302)
    assert UserSettings.objects.get(user=user).time_zone == "Europe/Berlin"
    data["time_zone"] = "Mars/Olympus_Mons"
    html = client.post("/settings/", data).content.decode()
    assert "Select a valid choice" in html
    assert UserSettings.objects.get(user=user).time_zone == "Europe/Berlin"
