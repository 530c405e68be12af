"""Watch / unwatch a push, and the /watching/ page: POST + CSRF, htmx fragments, per-user isolation."""

from __future__ import annotations

import json
import re

import pytest
import responses
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification, PushState, Watch
from tests.helpers import parse_html

pytestmark = pytest.mark.django_db

TH = "https://treeherder.mozilla.org"
KNOWN_REPOS = ("try", "autoland", "mozilla-central")
UNKNOWN_PUSH = 9_000_000  # Treeherder answers 404 for this one


@pytest.fixture(autouse=True)
def treeherder() -> responses.RequestsMock:
    """Treeherder (over `responses`) lists KNOWN_REPOS and knows every push id up to 10**9 on them but
    UNKNOWN_PUSH."""
    from fakeherder import push_payload, repositories_payload

    def push(request):
        push_id = int(request.url.rstrip("/").rsplit("/", 1)[1])
        if push_id == UNKNOWN_PUSH or push_id > 10**9:
            return 404, {}, json.dumps({"detail": "No push with id"})
        body = push_payload(push_id, revision=f"{push_id:040x}", author="alice@mozilla.com", push_timestamp=1,
                            revisions=[{"revision": "a" * 40, "author": "alice@mozilla.com",
                                        "comments": f"Bug {push_id} - Push number {push_id}"}])  # fmt: skip
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{TH}/api/repository/", json=repositories_payload(KNOWN_REPOS))
        rsps.add_callback(responses.GET, re.compile(rf"{TH}/api/project/[\w.-]+/push/\d+/"), callback=push)
        yield rsps


HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/try/"}


def watch_url(repo: str = "try", push_id: int = 1234) -> str:
    return reverse("watch", args=[repo, push_id])


def unwatch_url(repo: str = "try", push_id: int = 1234) -> str:
    return reverse("unwatch", args=[repo, push_id])


def test_routes_have_the_documented_shape() -> None:
    assert watch_url() == "/try/pushes/1234/watch/"
    assert unwatch_url("mozilla-central", 5) == "/mozilla-central/pushes/5/unwatch/"


def test_it_watches_with_htmx_and_answers_the_unwatch_button(alice: User, alice_client: Client) -> None:
    response = alice_client.post(watch_url(), {"next": "/try/"}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'action="/try/pushes/1234/unwatch/"' in html
    assert 'hx-post="/try/pushes/1234/unwatch/"' in html
    assert 'hx-swap="outerHTML"' in html
    assert "Unwatch" in html
    assert "<html" not in html  # a fragment, not a page
    watch = Watch.objects.get(user=alice)
    assert (watch.repo, watch.push_id, watch.auto) == ("try", 1234, False)
    # The poller learns about the push from its (empty) state row; nothing was fetched now.
    state = PushState.objects.get(repo="try", push_id=1234)
    assert state.state == PushState.State.UNKNOWN


def test_it_watches_without_htmx_and_redirects_back_with_a_message(alice: User, alice_client: Client) -> None:
    response = alice_client.post(watch_url(), {"next": "/try/?author="}, follow=False)

    assert response.status_code == 302
    assert response["Location"] == "/try/?author="
    assert Watch.objects.filter(user=alice, repo="try", push_id=1234).exists()
    page = alice_client.get("/watching/")
    assert "Watching try push 1234" in page.content.decode()


def test_it_falls_back_to_the_referer_and_ignores_foreign_next_urls(alice_client: Client) -> None:
    response = alice_client.post(
        watch_url(),
        {"next": "https://evil.example/phish"},
        headers={"Referer": "http://testserver/try/?count=5"},
    )
    assert response["Location"] == "http://testserver/try/?count=5"

    response = alice_client.post(
        unwatch_url(), {"next": "//evil.example/"}, headers={"Referer": "https://evil.example/x"}
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_watching_twice_keeps_one_watch(alice: User, alice_client: Client) -> None:
    alice_client.post(watch_url(), headers=HTMX)
    Watch.objects.filter(user=alice).update(last_state="running")
    response = alice_client.post(watch_url(), headers=HTMX)

    assert response.status_code == 200
    assert Watch.objects.filter(user=alice).count() == 1
    assert Watch.objects.get(user=alice).last_state == "running"  # the existing watch is kept as it was
    assert PushState.objects.filter(repo="try", push_id=1234).count() == 1


def test_watch_keeps_an_existing_push_state(alice_client: Client) -> None:
    PushState.objects.create(repo="try", push_id=1234, state="running", title="Bug 1 - fix", job_count=10)
    alice_client.post(watch_url(), headers=HTMX)
    state = PushState.objects.get(repo="try", push_id=1234)
    assert (state.state, state.title, state.job_count) == ("running", "Bug 1 - fix", 10)


def test_it_unwatches_with_htmx_and_answers_the_watch_button(alice: User, alice_client: Client) -> None:
    Watch.objects.create(user=alice, repo="try", push_id=1234)

    response = alice_client.post(unwatch_url(), {"next": "/try/"}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-post="/try/pushes/1234/watch/"' in html
    assert "Unwatch" not in html and "Watch" in html
    assert parse_html(html).find_all("input", name="next", value="/try/")
    assert not Watch.objects.filter(user=alice).exists()


def test_it_unwatches_without_htmx(alice: User, alice_client: Client) -> None:
    Watch.objects.create(user=alice, repo="try", push_id=1234)
    response = alice_client.post(unwatch_url(), {"next": "/watching/"})
    assert response.status_code == 302
    assert response["Location"] == "/watching/"
    assert not Watch.objects.exists()


def test_unwatching_an_unknown_watch_is_a_404(alice_client: Client) -> None:
    assert alice_client.post(unwatch_url(), headers=HTMX).status_code == 404
    assert alice_client.post(unwatch_url()).status_code == 404


def test_watch_and_unwatch_are_post_only(alice_client: Client) -> None:
    assert alice_client.get(watch_url()).status_code == 405
    assert alice_client.get(unwatch_url()).status_code == 405
    assert not Watch.objects.exists()


def test_bad_push_ids_and_repos_are_404(alice_client: Client) -> None:
    assert alice_client.post("/try/pushes/abc/watch/").status_code == 404
    assert alice_client.post("/try/pushes/-1/watch/").status_code == 404
    assert alice_client.post("/Try!/pushes/1/watch/").status_code == 404
    assert alice_client.post("/try/pushes/99999999999999999999/watch/").status_code == 404
    assert not Watch.objects.exists()


def test_anonymous_plain_post_redirects_to_login_and_back(client: Client) -> None:
    response = client.post(watch_url(), {"next": "/try/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Ftry%2F"
    assert not Watch.objects.exists()
    assert not PushState.objects.exists()


def test_anonymous_htmx_post_is_401_with_a_redirect_to_login(client: Client) -> None:
    response = client.post(watch_url(), headers=HTMX)
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Ftry%2F"
    assert not Watch.objects.exists()


def test_csrf_is_enforced(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(watch_url()).status_code == 403
    assert client.post(watch_url(), headers={"HX-Request": "true"}).status_code == 403
    assert not Watch.objects.exists()

    # A page render sets the CSRF cookie; htmx sends the token in X-CSRFToken (base.html's hx-headers).
    client.get("/watching/")
    token = client.cookies["csrftoken"].value
    response = client.post(watch_url(), headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    response = client.post(unwatch_url(), {"csrfmiddlewaretoken": token, "next": "/watching/"})
    assert response.status_code == 302
    assert not Watch.objects.exists()


def test_user_b_cannot_unwatch_user_a_watch(alice: User, bob_client: Client) -> None:
    Watch.objects.create(user=alice, repo="try", push_id=1234)

    assert bob_client.post(unwatch_url(), headers=HTMX).status_code == 404
    assert bob_client.post(unwatch_url()).status_code == 404
    assert Watch.objects.filter(user=alice, repo="try", push_id=1234).exists()


def test_two_users_watch_the_same_push_independently(
    alice: User, bob: User, alice_client, bob_client
) -> None:
    alice_client.post(watch_url(), headers=HTMX)
    bob_client.post(watch_url(), headers=HTMX)
    bob_client.post(unwatch_url(), headers=HTMX)
    assert list(Watch.objects.values_list("user__username", flat=True)) == ["alice"]
    assert PushState.objects.count() == 1


# --- /watching/ -------------------------------------------------------------------------------------


def test_watching_requires_login(client: Client) -> None:
    response = client.get("/watching/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/watching/"


def test_watching_lists_running_first_with_state_progress_and_notification(alice: User, alice_client) -> None:
    finished = Watch.objects.create(user=alice, repo="try", push_id=1, notified_at=timezone.now())
    PushState.objects.create(
        repo="try", push_id=1, state="finished", title="Bug 1 - finished work", job_count=4, completed_count=4
    )
    Watch.objects.create(user=alice, repo="try", push_id=2)
    PushState.objects.create(
        repo="try", push_id=2, state="running", title="Bug 2 - still going", job_count=200, completed_count=50
    )
    Watch.objects.create(user=alice, repo="autoland", push_id=3)  # never polled: no state row at all

    html = alice_client.get("/watching/").content.decode()

    assert html.index("Still running") < html.index("Bug 2 - still going") < html.index("Finished")
    assert html.index("Finished") < html.index("Bug 1 - finished work")
    assert "50 / 200 jobs" in html
    assert "4 / 4 jobs" in html
    assert "waiting for first poll" in html
    assert "autoland push 3" in html
    assert "not yet" in html  # push 2 and 3 not notified
    assert finished.notified_at is not None and "ago</time>" in html
    # Unwatch buttons for each watch, returning to /watching/ without JS.
    assert html.count('action="/try/pushes/1/unwatch/"') == 1
    assert 'action="/autoland/pushes/3/unwatch/"' in html
    assert parse_html(html).find_all("input", name="next", value="/watching/")


def test_watching_shows_recent_notifications_with_outcome(alice: User, alice_client: Client) -> None:
    Notification.objects.create(
        user=alice,
        repo="try",
        push_id=7,
        channel="email",
        status="sent",
        title="Try push passed",
        sent_at=timezone.now(),
    )
    Notification.objects.create(
        user=alice,
        repo="try",
        push_id=7,
        channel="webpush",
        status="failed",
        title="Try push passed",
        attempts=3,
        last_error="endpoint answered 500 <script>",
    )
    html = alice_client.get("/watching/").content.decode()
    assert "Recent notifications" in html
    assert "email" in html and "web push" in html
    assert "sent" in html and "failed" in html
    assert "endpoint answered 500 &lt;script&gt;" in html  # escaped
    assert "after 3 attempts" in html


def test_watching_shows_only_my_own_rows(alice: User, bob: User, bob_client: Client) -> None:
    Watch.objects.create(user=alice, repo="try", push_id=111)
    PushState.objects.create(repo="try", push_id=111, state="running", title="Alice secret work")
    Notification.objects.create(user=alice, repo="try", push_id=111, channel="email", title="Alice notice")
    Watch.objects.create(user=bob, repo="try", push_id=222)

    html = bob_client.get("/watching/").content.decode()

    assert "Alice secret work" not in html
    assert "Alice notice" not in html
    assert "/try/pushes/111/" not in html
    assert "try push 222" in html
    assert "No notification sent yet." in html


def test_watching_empty_state(alice_client: Client) -> None:
    html = alice_client.get("/watching/").content.decode()
    assert "You are not watching any push" in html


def test_the_watch_button_is_hidden_from_anonymous_users(rf, alice: User) -> None:
    from django.contrib.auth.models import AnonymousUser
    from django.template.loader import render_to_string

    request = rf.get("/try/")
    request.user = AnonymousUser()
    context = {"repo": "try", "push_id": 5, "watched": False}
    assert render_to_string("notifications/watch_button.html", context, request=request).strip() == ""
    request.user = alice
    html = render_to_string("notifications/watch_button.html", context, request=request)
    assert 'action="/try/pushes/5/watch/"' in html
    assert parse_html(html).find_all("input", name="next", value="/try/")
    assert "csrfmiddlewaretoken" in html


def test_watching_refreshes_itself_only_while_a_push_runs(
    alice: User, alice_client: Client, settings
) -> None:
    settings.BUILDWATCH_REFRESH_SECONDS = 17
    Watch.objects.create(user=alice, repo="try", push_id=1)
    PushState.objects.create(repo="try", push_id=1, state="running", title="Bug 1 - running")

    page = alice_client.get("/watching/").content.decode()
    assert parse_html(page).find_all(hx_get="/watching/", hx_trigger="every 17s")

    fragment = alice_client.get("/watching/", headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert parse_html(html).first().matches("div", id="watch-lists")
    assert "<html" not in html and "Bug 1 - running" in html
    assert "HX-Request" in fragment["Vary"]

    PushState.objects.filter(repo="try", push_id=1).update(state="finished")
    html = alice_client.get("/watching/", headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in parse_html(html).first().attrs  # finished: the refreshed list stops polling


def test_watching_shows_each_finished_push_verdict(alice: User, alice_client: Client) -> None:
    verdicts = [
        ({"failed": False, "verdict": "passed", "verdict_label": "passed"}, "passed"),
        ({"failed": True, "verdict": "known", "verdict_label": "known failures only"}, "known failures only"),
        ({"failed": True, "verdict": "failed", "verdict_label": "3 new failures"}, "3 new failures"),
    ]
    for push_id, (summary, _) in enumerate(verdicts, start=1):
        Watch.objects.create(user=alice, repo="try", push_id=push_id, notified_at=timezone.now())
        PushState.objects.create(
            repo="try", push_id=push_id, state="finished", title=f"Bug {push_id}", summary=summary
        )

    html = alice_client.get("/watching/").content.decode()

    page = parse_html(html)
    assert page.one("span", class_="badge c-green", data_verdict="passed").text == "passed"
    assert page.one("span", class_="badge c-orange", data_verdict="known").text == "known failures only"
    assert page.one("span", class_="badge c-red", data_verdict="failed").text == "3 new failures"


# --- Validation, cap, filling, orphans (issue 17, item 5) ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/nosuch/pushes/5/watch/",
        "/TRY/pushes/5/watch/",
        "/try./pushes/5/watch/",
        f"/{'a' * 100}/pushes/5/watch/",
        f"/try/pushes/{UNKNOWN_PUSH}/watch/",
        "/try/pushes/9223372036854775807/watch/",
    ],
)
def test_only_a_push_treeherder_knows_on_a_repository_it_lists_can_be_watched(alice_client, path) -> None:
    response = alice_client.post(path, headers=HTMX)
    assert response.status_code == 404
    assert not Watch.objects.exists() and not PushState.objects.exists()


def test_watches_are_capped_per_user(alice_client, bob_client, settings) -> None:
    settings.BUILDWATCH_MAX_WATCHES_PER_USER = 2
    for push_id in (1, 2):
        assert alice_client.post(watch_url(push_id=push_id), headers=HTMX).status_code == 200
    refused = alice_client.post(watch_url(push_id=3), headers=HTMX)
    assert refused.status_code == 409 and "already watch 2 unfinished pushes" in refused.content.decode()
    assert alice_client.post(watch_url(push_id=2), headers=HTMX).status_code == 200  # already watched: fine
    assert bob_client.post(watch_url(push_id=3), headers=HTMX).status_code == 200  # the cap is per user
    assert Watch.objects.filter(user__username="alice").count() == 2


def test_watching_from_the_list_fills_title_and_state_at_once_without_asking_treeherder_again(
    alice_client, treeherder
) -> None:
    from fakeherder import job_properties, push_payload
    from fakeherder.payloads import api_jobs_page

    revisions = [
        {"revision": "b" * 40, "author": "alice@mozilla.com", "comments": "Bug 42 - Make it <b>fast</b>"}
    ]
    treeherder.get(f"{TH}/api/project/try/push/", json={"results": [
        push_payload(4242, revision="b" * 40, author="alice@mozilla.com", push_timestamp=1, revisions=revisions)]})  # fmt: skip
    rows = [
        job_properties(1, 4242, state="running"),
        job_properties(2, 4242, state="completed", result="success"),
    ]
    treeherder.get(f"{TH}/api/jobs/", json=api_jobs_page(rows))
    assert alice_client.get("/try/?author=").status_code == 200
    assert alice_client.get("/try/pushes/4242/status/", headers=HTMX).status_code == 200  # the lazy cell
    asked = len(treeherder.calls)

    assert alice_client.post(watch_url(push_id=4242), headers=HTMX).status_code == 200

    assert len(treeherder.calls) == asked  # the list's copy was enough
    state = PushState.objects.get(push_id=4242)
    assert (state.title, state.state, state.completed_count) == ("Bug 42 - Make it <b>fast</b>", "running", 1)
    html = alice_client.get("/watching/").content.decode()
    assert "Bug 42 - Make it &lt;b&gt;fast&lt;/b&gt;" in html and "waiting for first poll" not in html


def test_unwatching_the_last_watch_removes_the_push_state(alice_client, bob_client) -> None:
    alice_client.post(watch_url(push_id=7), headers=HTMX)
    bob_client.post(watch_url(push_id=7), headers=HTMX)
    alice_client.post(unwatch_url(push_id=7), headers=HTMX)
    assert PushState.objects.filter(push_id=7).exists()  # bob still watches it
    bob_client.post(unwatch_url(push_id=7), headers=HTMX)
    assert not PushState.objects.filter(push_id=7).exists()


def test_orphan_push_states_are_swept(alice: User) -> None:
    from notifications.tasks import delete_orphan_push_states

    PushState.objects.create(repo="try", push_id=1)
    PushState.objects.create(repo="try", push_id=2)
    PushState.objects.create(repo="autoland", push_id=1)
    Watch.objects.create(user=alice, repo="try", push_id=2)
    assert delete_orphan_push_states() == 2
    assert list(PushState.objects.values_list("repo", "push_id")) == [("try", 2)]
