"""Confirm failures: one POST re-runs every new failure group's failing jobs through the push's own
actions (confirm-failures for a task that offers it, else retrigger-multiple with the chosen count),
says every Taskcluster answer plainly, and later shows per group whether the failure reproduced."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from fakeherder import FakeTreeherder
from notifications import followup, outbox, poller
from notifications.models import Notification, Watch
from pushes.confirm import new_failure_groups
from pushes.models import ConfirmRequest
from tests.helpers import TASKCLUSTER_CLIENT_ID, has_class, parse_html, set_channel, signed_in

# alice, in every test here, can confirm: her Taskcluster credentials are stored (tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("alice_creds")]

MINE = "TEST-UNEXPECTED-FAIL | dom/base/test/test_mine.html | got 1, expected 2"
OTHER = "TEST-UNEXPECTED-FAIL | dom/base/test/test_flaky.html | timed out"
OLD = "TEST-UNEXPECTED-FAIL | dom/media/test/test_old.html | timed out"


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings: Any) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    return fake_treeherder


def failed_push(fake: FakeTreeherder) -> tuple[int, int, int]:
    """A finished push with two new failures (two groups) and a known one."""
    push_id = fake.add_push(messages=["Bug 7 - Confirm me"], size=1, hold="completed")
    mine = fake.add_job(push_id, "completed", result="testfailed", platform="linux1804-64", errors=[MINE])
    other = fake.add_job(push_id, "completed", result="testfailed", platform="windows11-64", errors=[OTHER])
    fake.add_job(push_id, "completed", result="testfailed", platform="macosx1015-64", errors=[OLD], seen=37)
    return push_id, mine, other


def job_name(fake: FakeTreeherder, job_id: int) -> str:
    return fake.jobs_by_id[job_id].job_type_name


def test_the_confirm_page_changes_nothing_on_get_and_lists_the_new_failures(fake, alice):
    push_id, _, _ = failed_push(fake)
    page = signed_in(alice).get(f"/try/pushes/{push_id}/confirm/")
    html = page.content.decode()
    assert page.status_code == 200 and fake.triggers == []
    assert "dom/base/test/test_mine.html" in html and "dom/base/test/test_flaky.html" in html
    assert "test_old.html" not in html  # known: nothing to confirm
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html and 'value="3"' in html
    assert "Confirm 2 new failures" in html


def test_confirm_failures_triggers_the_task_action_for_each_failing_test(fake, alice):
    push_id, mine, other = failed_push(fake)
    response = signed_in(alice).post(f"/try/pushes/{push_id}/confirm/", {"times": "2"})
    html = response.content.decode()

    assert 'data-outcome="success"' in html, html
    assert len(fake.triggers) == 2
    by_task = {t["payload"]["user"]["taskId"]: t for t in fake.triggers}
    for job_id in (mine, other):
        trigger = by_task[fake.jobs_by_id[job_id].task_id]
        assert trigger["action"] == "confirm-failures"
        assert trigger["payload"]["user"] == {
            "input": {"times": 2},
            "taskGroupId": fake.decision_task_id(push_id),
            "taskId": fake.jobs_by_id[job_id].task_id,
        }
        assert f'id="{TASKCLUSTER_CLIENT_ID}"' in trigger["authorization"]
        assert trigger["task_id"] in html
    assert ConfirmRequest.objects.filter(user=alice, push_id=push_id, outcome="success").count() == 2


def test_without_confirm_failures_the_group_is_retriggered_multiple_times(fake, alice, monkeypatch):
    actions = copy.deepcopy(fake.actions_template)
    actions["actions"] = [a for a in actions["actions"] if a["name"] != "confirm-failures"]
    monkeypatch.setattr(fake, "actions_template", actions)
    push_id, mine, _ = failed_push(fake)
    signed_in(alice).post(f"/try/pushes/{push_id}/confirm/", {"times": "3"})

    assert {t["action"] for t in fake.triggers} == {"retrigger-multiple"}
    inputs = sorted(str(t["payload"]["user"]["input"]) for t in fake.triggers)
    assert str({"requests": [{"tasks": [job_name(fake, mine)], "times": 3}]}) in inputs
    assert all(t["payload"]["user"]["taskId"] is None and len(t["new_job_ids"]) == 3 for t in fake.triggers)


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (500, "Taskcluster answered 500 while triggering the retrigger hook."),
        (403, "Your Taskcluster client lacks the scopes to run this action."),
        (401, "Taskcluster did not accept your credentials"),
    ],
)
def test_every_taskcluster_failure_is_said_plainly(fake, alice, status, said):
    push_id, _, _ = failed_push(fake)
    fake.fail_path("/api/hooks/v1/hooks/", status)
    html = signed_in(alice).post(f"/try/pushes/{push_id}/confirm/", {"times": "2"}).content.decode()
    assert "Not everything was confirmed." in html and "2 of 2 group(s) could not be confirmed." in html
    outcomes = parse_html(html).one("div", data_outcome=True)
    groups = outcomes.find_all("li", data_group_outcome=True)
    assert len(groups) == 2 and all(said in group.text for group in groups), outcomes.source
    assert outcomes.text.count(said) == 2, outcomes.source
    assert "Taskcluster started" not in html


def test_taskcluster_down_while_reading_actions_is_said(fake, alice):
    push_id, _, _ = failed_push(fake)
    fake.fail_path("/api/queue/v1/task/", 503)
    html = signed_in(alice).post(f"/try/pushes/{push_id}/confirm/", {"times": "2"}).content.decode()
    assert "Taskcluster answered 503 while reading the push&#x27;s actions." in html
    assert fake.triggers == []


def test_without_credentials_nothing_is_triggered(fake, bob_client):
    push_id, _, _ = failed_push(fake)
    html = bob_client.post(f"/try/pushes/{push_id}/confirm/", {"times": "2"}).content.decode()
    assert "Add your Taskcluster client id and access token in Settings" in html and fake.triggers == []


def test_a_confirmed_failure_is_not_offered_or_run_again(fake, alice):
    push_id, _, _ = failed_push(fake)
    client = signed_in(alice)
    client.post(f"/try/pushes/{push_id}/confirm/", {"times": "2"})
    assert len(fake.triggers) == 2

    section = client.get(f"/try/pushes/{push_id}/failures/").content.decode()
    assert "Every new failure was sent to run again" in section
    assert "Confirm 2 new failures" not in section
    assert not parse_html(section).find_all(class_=has_class("confirm-form"))

    again = client.post(f"/try/pushes/{push_id}/confirm/", {"times": "2"}).content.decode()
    assert 'data-outcome="already_confirming"' in again and "Already confirming." in again
    assert "nothing was run again" in again
    assert len(fake.triggers) == 2  # a second click (or a second teammate) doubles no runs
    assert "Already being confirmed" in again
    assert not parse_html(again).find_all(class_=has_class("confirm-form"))


def test_only_the_failures_nobody_confirmed_yet_are_offered(fake, alice, bob):
    push_id, mine, other = failed_push(fake)
    [mine_key] = [g.key for g in new_failure_groups("try", push_id)[0] if "test_mine" in g.key]
    ConfirmRequest.objects.create(  # bob confirmed one of the two a minute ago
        user=bob, repo="try", push_id=push_id, group_key=mine_key, job_ids=[mine],
        job_type_names=[job_name(fake, mine)], action="confirm-failures", outcome="success",
    )  # fmt: skip
    client = signed_in(alice)
    section = client.get(f"/try/pushes/{push_id}/failures/").content.decode()
    assert "Confirm 1 new failure<" in section and "(1 more already being confirmed)" in section

    client.post(f"/try/pushes/{push_id}/confirm/", {"times": "2"})
    [trigger] = fake.triggers
    assert trigger["payload"]["user"]["taskId"] == fake.jobs_by_id[other].task_id


def test_a_section_header_says_how_many_of_its_failures_are_tier_2(fake, alice):
    push_id, _, _ = failed_push(fake)
    fake.add_job(push_id, "completed", result="testfailed", tier=2, platform="android-em-7-0-x86_64",
                 errors=["TEST-UNEXPECTED-FAIL | mobile/test_tier2.html | boom"])  # fmt: skip
    section = signed_in(alice).get(f"/try/pushes/{push_id}/failures/").content.decode()
    assert "<strong>2 new failures" in section  # the verdict counts tier 1 only
    header = parse_html(section).one("section", data_section="new").one("h3").text
    # The header's count is the summary's (issue 28: they agree); the tier-2 one is said beside it.
    assert "2 new failures" in header and "(and 1 tier 2/3 only)" in header
    assert "Confirm 2 new failures" in section  # tier-2 failures are not run again


def test_confirming_needs_sign_in_and_csrf(fake, alice):
    push_id, _, _ = failed_push(fake)
    assert Client().post(f"/try/pushes/{push_id}/confirm/", {"times": "2"}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(f"/try/pushes/{push_id}/confirm/", {"times": "2"}).status_code == 403
    assert fake.triggers == []


@pytest.mark.parametrize("fault", ["down", "slow", "garbage"])
def test_confirming_while_treeherder_cannot_answer_is_a_banner_and_runs_nothing(fake, alice, settings, fault):
    push_id, _, _ = failed_push(fake)  # nothing of it cached yet
    if fault == "down":
        fake.set_down()
    elif fault == "garbage":
        fake.set_garbage()
    else:
        settings.TREEHERDER_PAGE_TIMEOUT = 0.5
        fake.set_latency(1.5)
    client = Client(raise_request_exception=False)
    client.force_login(alice)

    response = client.post(f"/try/pushes/{push_id}/confirm/", {"times": "2"})

    html = response.content.decode()
    assert response.status_code == 503, html[-2000:]
    assert "Treeherder did not answer" in html and "Nothing was run again." in html
    assert 'class="confirm-form"' not in html and "data-outcome=" not in html
    assert fake.triggers == [] and not ConfirmRequest.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_confirm_page_answers_only_get_and_post(fake, alice, method):
    push_id, _, _ = failed_push(fake)
    response = getattr(signed_in(alice), method)(f"/try/pushes/{push_id}/confirm/", {"times": "2"})
    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert fake.triggers == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_confirm_page_of_an_unknown_repository_is_a_404(fake, alice, method):
    push_id, _, _ = failed_push(fake)
    response = getattr(signed_in(alice), method)(f"/no-such-repo/pushes/{push_id}/confirm/", {"times": "2"})
    assert response.status_code == 404 and "Unknown repository “no-such-repo”" in response.content.decode()
    assert fake.triggers == [] and not ConfirmRequest.objects.exists()


def test_the_follow_up_verdict_per_group_on_the_page_and_in_one_notification(
    fake, alice, django_capture_on_commit_callbacks
):
    push_id, mine, other = failed_push(fake)
    set_channel(alice, "email", True)
    Watch.objects.create(user=alice, repo="try", push_id=push_id)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            poller.poll_push("try", push_id, enqueue=outbox.deliver, min_interval=0)
    assert len(mail.outbox) == 1  # the final one

    signed_in(alice).post(f"/try/pushes/{push_id}/confirm/", {"times": "3"})
    reruns = {t["payload"]["user"]["taskId"]: t["new_job_ids"] for t in fake.triggers}
    mine_runs = reruns[fake.jobs_by_id[mine].task_id]
    other_runs = reruns[fake.jobs_by_id[other].task_id]
    fake.set_job(other_runs[0], "running")
    for job_id in mine_runs:
        fake.set_job(job_id, "completed", "testfailed")
    for job_id in other_runs[1:]:
        fake.set_job(job_id, "completed", "success")
    with django_capture_on_commit_callbacks(execute=True):
        followup.check_confirmations(enqueue=outbox.deliver)
    assert not Notification.objects.filter(kind="followup").exists()  # one run still going

    fake.set_job(other_runs[0], "completed", "testfailed")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            followup.check_confirmations(enqueue=outbox.deliver)

    [message] = [m for m in mail.outbox if m.extra_headers.get("X-BuildWatch-Kind") == "followup"]
    assert "reproduced 3/3 — likely yours: dom/base/test/test_mine.html" in message.body
    assert "passed 2/3 — intermittent: dom/base/test/test_flaky.html" in message.body
    page = signed_in(alice).get(f"/try/pushes/{push_id}/failures/").content.decode()
    assert "reproduced 3/3 — likely yours" in page and "passed 2/3 — intermittent" in page


def test_failures_confirmed_after_the_first_follow_up_get_a_follow_up_of_their_own(
    fake, alice, clock, django_capture_on_commit_callbacks
):
    push_id, mine, other = failed_push(fake)
    set_channel(alice, "email", True)
    client = signed_in(alice)

    def confirm_and_finish_the_runs(result: str) -> None:
        before = len(fake.triggers)
        client.post(f"/try/pushes/{push_id}/confirm/", {"times": "1"})
        for trigger in fake.triggers[before:]:
            for job_id in trigger["new_job_ids"]:
                fake.set_job(job_id, "completed", result)
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                followup.check_confirmations(enqueue=outbox.deliver)

    def followups() -> list[str]:
        return [m.body for m in mail.outbox if m.extra_headers.get("X-BuildWatch-Kind") == "followup"]

    confirm_and_finish_the_runs("testfailed")
    [first] = followups()
    assert "test_mine.html" in first and "test_flaky.html" in first

    # A third new failure shows up later (a late job, or a retrigger); confirming it runs only it again…
    late = "TEST-UNEXPECTED-FAIL | dom/base/test/test_late.html | assertion failed"
    fake.add_job(push_id, "completed", result="testfailed", platform="linux2404-64", errors=[late])
    clock.shift(600)  # past the cached failure summary
    confirm_and_finish_the_runs("success")
    assert len(fake.triggers) == 3

    # …and its verdict comes in a second follow-up, about it alone; nothing is said twice.
    assert len(followups()) == 2
    second = followups()[1]
    assert "test_late.html" in second and "test_mine.html" not in second
    assert "0 of 1 confirmed failure reproduced" in mail.outbox[-1].subject
    with django_capture_on_commit_callbacks(execute=True):
        followup.check_confirmations(enqueue=outbox.deliver)
    assert len(followups()) == 2
    assert set(Notification.objects.filter(kind="followup").values_list("occasion", flat=True)) == {
        f"confirm:{pk}"
        for pk in (
            ConfirmRequest.objects.filter(push_id=push_id).order_by("pk").values_list("pk", flat=True)[i]
            for i in (0, 2)
        )
    }


def test_the_fake_plays_the_whole_flow_early_bust_confirm_and_follow_up(
    fake, alice, clock, django_capture_on_commit_callbacks
):
    push_id = fake.add_push(messages=["Bug 9 - Busts early"], size=40, plan="confirm")
    Watch.objects.create(user=alice, repo="try", push_id=push_id)

    def poll() -> None:
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                poller.poll_push("try", push_id, enqueue=outbox.deliver, min_interval=0)

    def later(seconds: float) -> None:  # the fake's timeline and Django's clock (cache expiry) together
        fake.advance(seconds)
        clock.shift(seconds)

    for _ in range(40):  # 15 s steps until the early alert
        later(15)
        poll()
        if mail.outbox:
            break
    [early] = mail.outbox
    assert early.subject.startswith("Try push: early alert, build busted: Bug 9 - Busts early")
    assert not fake.is_finished(push_id)

    later(1200)
    poll()
    assert [m.extra_headers["X-BuildWatch-Kind"] for m in mail.outbox] == ["early", "final"]

    html = signed_in(alice).post(f"/try/pushes/{push_id}/confirm/", {"times": "3"}).content.decode()
    assert 'data-outcome="success"' in html, html
    assert {t["action"] for t in fake.triggers} == {"confirm-failures", "retrigger-multiple"}
    later(1200)
    with django_capture_on_commit_callbacks(execute=True):
        followup.check_confirmations(enqueue=outbox.deliver)
    followup_mail = mail.outbox[-1]
    assert followup_mail.extra_headers["X-BuildWatch-Kind"] == "followup"
    assert (
        "reproduced 3/3 — likely yours" in followup_mail.body
        and "passed 3/3 — intermittent" in followup_mail.body
    )
