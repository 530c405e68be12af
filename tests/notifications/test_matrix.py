"""Matrix notifications against a real Synapse (tests/synapse.py): messages are read back as the
receiving user through /sync. Without Synapse's virtualenv these skip (fail with
BUILDWATCH_REQUIRE_SERVICES=1); the settings and timeout tests at the end need no homeserver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.crypto import encrypt
from notifications import outbox, poller
from notifications.channels import matrix
from notifications.models import MatrixLogin, Notification, PushState, Watch

from ..helpers import channel_of, parse_html, set_channel
from ..synapse import MatrixUser, Synapse, synapse_venv

pytestmark = pytest.mark.django_db

FAILED_SUMMARY = {
    "failed": True,
    "total": 6,
    "completed": 6,
    "failed_jobs": 3,
    "by_result": {"success": 3, "testfailed": 3},
    "failing_groups": [{"name": "linux64 opt", "failed": 2}, {"name": "macosx1015-64 opt", "failed": 1}],
    "failure_groups": [{"key": "dom/tests/test_focus.html", "jobs": 3}, {"key": "job10", "jobs": 1}],
    "more_failure_groups": 0,
    "examined_jobs": 3,
    "logs_not_parsed": 0,
    "logs_unreadable": 0,
}


# --- Fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = Synapse(synapse_venv(), tmp_path_factory.mktemp("synapse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bot(synapse: Synapse) -> MatrixUser:
    return synapse.register("buildwatch")


@pytest.fixture
def matrix_settings(settings: Any, synapse: Synapse, bot: MatrixUser) -> Any:
    settings.MATRIX_HOMESERVER = synapse.url
    settings.MATRIX_ACCESS_TOKEN = bot.access_token
    settings.MATRIX_USER = settings.MATRIX_PASSWORD = ""
    settings.MATRIX_ROOM_NAME = "BuildWatch test"
    return settings


@pytest.fixture
def reader(synapse: Synapse) -> MatrixUser:
    """The Matrix account of the person watching pushes."""
    return synapse.register()


@pytest.fixture
def watcher(alice: User, reader: MatrixUser) -> User:
    set_channel(alice, "email", False)
    set_channel(alice, "matrix", True, matrix_id=reader.user_id)
    return alice


def finish_push(user: User, push_id: int, *, title: str = "Bug 1234 - Make it fast", summary: dict | None = None,
                deliver: bool = True, capture: Any = None) -> Notification:  # fmt: skip
    """`user` watches a push that the poller finds finished: the ledger row, delivered unless told not."""
    summary = FAILED_SUMMARY if summary is None else summary
    PushState.objects.create(
        repo="try",
        push_id=push_id,
        state=PushState.State.FINISHED,
        title=title,
        revision="abcdef1234567890",
        author="alice@mozilla.com",
        job_count=summary["total"],
        completed_count=summary["completed"],
        failed_count=summary["failed_jobs"],
        summary=summary,
        finished_at=timezone.now(),
    )
    Watch.objects.create(user=user, repo="try", push_id=push_id)
    poller.poll_push("try", push_id, enqueue=None)
    notification = Notification.objects.get(user=user, push_id=push_id, channel="matrix")
    if deliver:
        outbox.deliver(notification.pk)
        notification.refresh_from_db()
    return notification


def redeliver(notification: Notification) -> outbox.DeliveryOutcome:
    """What the beat's sweep does once the backoff is over."""
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=None)
    return outbox.deliver(notification.pk)


def only_room_messages(reader: MatrixUser) -> list[dict[str, Any]]:
    [room_messages] = reader.messages().values()
    return room_messages


@pytest.fixture
def lost_answer(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The homeserver stores the message, then the answer is lost (a timeout before the ledger update)."""
    real_request = requests.Session.request
    seen = {"lost": 0}

    def request(
        self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        response = real_request(self, method, url, *args, **kwargs)
        if method == "PUT" and "/send/m.room.message/" in url and not seen["lost"]:
            seen["lost"] += 1
            response.content  # noqa: B018 - the homeserver has answered: the event is stored
            raise requests.ReadTimeout("read timed out (simulated after the homeserver answered)")
        return response

    monkeypatch.setattr(requests.Session, "request", request)
    return seen


# --- Delivery ---------------------------------------------------------------------------------------


def test_a_finished_push_arrives_once_in_a_direct_room(matrix_settings, watcher, reader, bot) -> None:
    notification = finish_push(watcher, 500)

    assert notification.status == Notification.Status.SENT, notification.last_error
    invite = reader.sync()["rooms"]["invite"]
    [room_id] = invite
    member = next(
        e
        for e in invite[room_id]["invite_state"]["events"]
        if e["type"] == "m.room.member" and e["state_key"] == reader.user_id
    )
    assert member["sender"] == bot.user_id and member["content"]["is_direct"] is True
    names = [
        e["content"].get("name")
        for e in invite[room_id]["invite_state"]["events"]
        if e["type"] == "m.room.name"
    ]
    assert names == ["BuildWatch test notifications"]

    reader.join(room_id)
    [message] = reader.messages()[room_id]
    assert message["sender"] == bot.user_id
    content = message["content"]
    assert content["msgtype"] == "m.text" and content["format"] == "org.matrix.custom.html"
    body = content["body"]
    assert body.startswith("✗ Try push failed: Bug 1234 - Make it fast")
    assert "6 of 6 jobs completed, 3 failed (tier 1)." in body
    assert "- dom/tests/test_focus.html (3 jobs)" in body
    assert "http://127.0.0.1:8000/try/pushes/500/" in body
    html = content["formatted_body"]
    assert '<a href="http://127.0.0.1:8000/try/pushes/500/">Bug 1234 - Make it fast</a>' in html
    assert "<code>dom/tests/test_focus.html</code> (3 jobs)" in html
    assert "treeherder.mozilla.org/jobs?repo=try&amp;revision=abcdef1234567890" in html

    # Later polls and a redelivered task change nothing.
    poller.poll_push("try", 500, enqueue=outbox.deliver)
    assert outbox.deliver(notification.pk).status == "not-claimed"
    assert len(reader.messages()[room_id]) == 1


def test_a_passing_push_says_so_without_failure_sections(matrix_settings, watcher, reader) -> None:
    summary = {
        **FAILED_SUMMARY,
        "failed": False,
        "failed_jobs": 0,
        "failing_groups": [],
        "failure_groups": [],
    }
    finish_push(watcher, 501, summary=summary)

    reader.join_invites()
    [message] = only_room_messages(reader)
    assert message["content"]["body"].startswith("✓ Try push passed: Bug 1234")
    assert "Top failures" not in message["content"]["body"]
    assert "Top failures" not in message["content"]["formatted_body"]


def test_a_send_retried_after_the_answer_was_lost_arrives_once(
    matrix_settings, watcher, reader, lost_answer
) -> None:
    notification = finish_push(watcher, 502)

    assert lost_answer["lost"] == 1
    assert notification.status == Notification.Status.PENDING  # kept for retry, like email
    assert "no answer within" in notification.last_error
    outcome = redeliver(notification)

    assert outcome.status == "sent"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (Notification.Status.SENT, 2)
    reader.join_invites()
    assert len(only_room_messages(reader)) == 1  # the homeserver de-duplicated the transaction id


def test_a_retry_after_a_new_login_is_still_stored_once(
    matrix_settings, synapse, watcher, reader, lost_answer
) -> None:
    """With MATRIX_USER/PASSWORD the bot logs in on a fixed device: a token replaced between two attempts
    still de-duplicates (Synapse keys transaction ids by user and device)."""
    login_bot = synapse.register()
    matrix_settings.MATRIX_ACCESS_TOKEN = ""
    matrix_settings.MATRIX_USER = login_bot.user_id
    matrix_settings.MATRIX_PASSWORD = login_bot.password

    notification = finish_push(watcher, 503)
    assert notification.status == Notification.Status.PENDING
    login = MatrixLogin.objects.get(user=login_bot.user_id)
    assert login.device_id == matrix.DEVICE_ID
    # The stored token stops working (revoked, expired): the next attempt logs in again.
    MatrixLogin.objects.filter(pk=login.pk).update(access_token=encrypt("syt_revoked"))

    assert redeliver(notification).status == "sent"
    assert MatrixLogin.objects.get(user=login_bot.user_id).access_token != login.access_token
    reader.join_invites()
    [message] = only_room_messages(reader)
    assert message["sender"] == login_bot.user_id


def test_untrusted_text_stays_text_in_the_html(matrix_settings, watcher, reader) -> None:
    title = 'Bug 1 - <script>alert("x")</script> & <b>bold</b>'
    summary = {**FAILED_SUMMARY, "failure_groups": [{"key": "<img src=x onerror=alert(1)>", "jobs": 2}]}
    finish_push(watcher, 504, title=title, summary=summary)

    reader.join_invites()
    [message] = only_room_messages(reader)
    html = message["content"]["formatted_body"]
    assert "<script" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code>" in html
    assert title in message["content"]["body"]  # the plain body is text already


def test_the_room_is_reused_for_the_next_message(matrix_settings, watcher, reader) -> None:
    finish_push(watcher, 505)
    [room_id] = reader.join_invites()
    finish_push(watcher, 506, title="Bug 2 - Second push")

    assert reader.invites() == []
    assert [m["content"]["body"].splitlines()[0] for m in reader.messages()[room_id]] == [
        "✗ Try push failed: Bug 1234 - Make it fast",
        "✗ Try push failed: Bug 2 - Second push",
    ]
    assert channel_of(watcher, "matrix").config["room_id"] == room_id


@pytest.mark.parametrize("how", ["left after joining", "rejected the invite"])
def test_a_room_the_user_left_is_replaced(matrix_settings, watcher, reader, how: str) -> None:
    finish_push(watcher, 507)
    [old_room] = reader.invites()
    if how == "left after joining":
        reader.join(old_room)
    reader.leave(old_room)  # leaving while invited rejects the invite

    notification = finish_push(watcher, 508, title="Bug 3 - After leaving")

    assert notification.status == Notification.Status.SENT, notification.last_error
    [new_room] = reader.join_invites()
    assert new_room != old_room
    assert channel_of(watcher, "matrix").config["room_id"] == new_room
    [message] = reader.messages()[new_room]
    assert message["content"]["body"].startswith("✗ Try push failed: Bug 3 - After leaving")


def test_an_invalid_token_is_a_permanent_error_on_watching_and_in_the_admin(matrix_settings, watcher) -> None:
    matrix_settings.MATRIX_ACCESS_TOKEN = "syt_not_a_real_token"

    notification = finish_push(watcher, 509)

    assert notification.status == Notification.Status.FAILED
    assert notification.attempts == 1  # permanent: not retried
    assert "refused the BuildWatch bot's access token (M_UNKNOWN_TOKEN)" in notification.last_error
    assert "MATRIX_ACCESS_TOKEN" in notification.last_error
    client = Client()
    client.force_login(watcher)
    page = client.get("/watching/").content.decode()
    assert "refused the BuildWatch bot&#x27;s access token (M_UNKNOWN_TOKEN)" in page
    admin = User.objects.create_superuser("root", "root@mozilla.com", "another good password")
    client.force_login(admin)
    change = client.get(f"/admin/notifications/notification/{notification.pk}/change/").content.decode()
    assert "refused the BuildWatch bot&#x27;s access token" in change


def test_a_rate_limited_send_waits_as_long_as_the_homeserver_says(
    matrix_settings, synapse, watcher, reader
) -> None:
    slow_bot = synapse.register()
    matrix_settings.MATRIX_ACCESS_TOKEN = slow_bot.access_token
    synapse.override_message_rate(slow_bot.user_id, per_second=1, burst_count=1)  # the slowest it takes
    try:
        outcomes = []
        for push_id in (510, 511, 512):
            notification = finish_push(watcher, push_id, deliver=False)
            started = timezone.now()
            outcomes.append((notification, outbox.deliver(notification.pk)))
            if outcomes[-1][1].status == "retry":
                break
        limited, outcome = outcomes[-1]
        assert outcome.status == "retry", [o.status for _, o in outcomes]
        limited.refresh_from_db()
        assert limited.status == Notification.Status.PENDING
        assert "rate limited by the homeserver" in limited.last_error
        assert limited.attempts == 0  # waiting is not a failed attempt
        wait = (limited.next_attempt_at - started).total_seconds()
        assert 0.5 <= wait <= 5, wait  # Synapse's retry_after_ms (under 1 s), rounded up, a little jitter
        assert outbox.deliver(limited.pk).status == "not-claimed"  # not before then
    finally:
        synapse.clear_message_rate(slow_bot.user_id)

    assert redeliver(limited).status == "sent"
    reader.join_invites()
    assert len(only_room_messages(reader)) == len(outcomes)


# --- Settings: the test message ---------------------------------------------------------------------


def test_the_test_message_button_sends_a_direct_message(matrix_settings, watcher, reader) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(watcher)
    page = client.get("/settings/")
    assert f"Send a test message to {reader.user_id}" in page.content.decode()
    assert client.post("/settings/matrix/test/").status_code == 403  # no CSRF token

    response = client.post(
        "/settings/matrix/test/",
        {"csrfmiddlewaretoken": page.context["csrf_token"]},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert f"Test message sent to {reader.user_id}" in response.content.decode()
    reader.join_invites()
    [message] = only_room_messages(reader)
    assert message["content"]["body"].startswith("BuildWatch test message")
    assert not Notification.objects.exists()  # straight to the user, not a ledger row


def test_the_test_message_says_why_it_failed(matrix_settings, watcher) -> None:
    matrix_settings.MATRIX_ACCESS_TOKEN = "syt_not_a_real_token"
    client = Client()
    client.force_login(watcher)

    response = client.post("/settings/matrix/test/", follow=True)

    html = response.content.decode()
    assert response.redirect_chain == [("/settings/#matrix", 302)]
    assert "The Matrix test message was not sent: the homeserver refused the BuildWatch bot" in html


# --- Without a homeserver ---------------------------------------------------------------------------


SETTINGS_FORM = {
    "author_email": "",
    "default_repo": "try",
    "notifications_enabled": "on",
    "email_enabled": "on",
}


def configure(settings: Any, homeserver: str = "https://matrix.example.org") -> None:
    settings.MATRIX_HOMESERVER = homeserver
    settings.MATRIX_ACCESS_TOKEN = "syt_token"


def test_without_operator_config_matrix_is_unavailable_and_nothing_changes(alice_client, settings) -> None:
    settings.MATRIX_HOMESERVER = ""
    html = alice_client.get("/settings/").content.decode()
    assert "Matrix is unavailable on this BuildWatch: Matrix is not configured" in html
    assert parse_html(html).find_all("input", name="matrix_enabled", disabled=True)
    assert "Send a test message" not in html

    alice_client.post(
        "/settings/", {**SETTINGS_FORM, "matrix_enabled": "on", "matrix_id": "@alice:mozilla.org"}
    )
    saved = channel_of(User.objects.get(username="alice"), "matrix")
    assert (saved.enabled, saved.config.get("matrix_id", "")) == (False, "")
    assert alice_client.post("/settings/matrix/test/", follow=True).status_code == 200
    PushState.objects.create(repo="try", push_id=600, state=PushState.State.FINISHED, summary=FAILED_SUMMARY)
    Watch.objects.create(user=saved.user, repo="try", push_id=600)
    poller.poll_push("try", 600, enqueue=None)
    assert list(Notification.objects.values_list("channel", flat=True)) == ["email"]


TRIAGED_SUMMARY = {
    **FAILED_SUMMARY,
    "verdict": "failed",
    "triage_line": "1 new failure · 1 known intermittent",
    "failure_groups": [
        {
            "key": "dom/tests/test_focus.html",
            "jobs": 2,
            "triage": "new",
            "triage_label": "new",
            "tier1": True,
            "bugs": [],
            "links": [
                {
                    "name": "linux64 opt M(bc1)",
                    "job_url": "https://treeherder.mozilla.org/jobs?repo=try&selectedJob=7",
                    "log_url": "https://treeherder.mozilla.org/logviewer?job_id=7&repo=try",
                }
            ],
        },
        {
            "key": "netwerk/test/test_http.js",
            "jobs": 1,
            "triage": "intermittent",
            "triage_label": "intermittent",
            "tier1": True,
            "bugs": [
                {
                    "id": 1700000,
                    "summary": "Intermittent test_http.js | timed out",
                    "url": "https://bugzilla.mozilla.org/show_bug.cgi?id=1700000",
                }
            ],
            "links": [],
        },
    ],
}


def message_for(summary: dict, push_id: int = 700) -> dict[str, Any]:
    """The Matrix message the outbox would send for a push finished with `summary` (no homeserver)."""
    user = User.objects.create_user(f"u{push_id}", f"u{push_id}@mozilla.com")
    set_channel(user, "email", False)
    set_channel(user, "matrix", True, matrix_id="@u:example.org")
    return matrix.message_content(finish_push(user, push_id, summary=summary, deliver=False))


def test_the_message_carries_the_verdict_new_failures_first_with_their_logs(settings) -> None:
    configure(settings)
    content = message_for(TRIAGED_SUMMARY)
    body, html = content["body"], content["formatted_body"]
    assert body.startswith("✗ Try push failed: Bug 1234 - Make it fast")
    assert (
        "1 new failure · 1 known intermittent" in body
        and "<b>1 new failure · 1 known intermittent</b>" in html
    )
    assert body.index("New failures") < body.index("Also failing, not new:")
    assert "log of linux64 opt M(bc1): https://treeherder.mozilla.org/logviewer?job_id=7&repo=try" in body
    assert '<a href="https://treeherder.mozilla.org/logviewer?job_id=7&amp;repo=try">log</a>' in html
    assert "- [intermittent] netwerk/test/test_http.js (1 job), Bug 1700000: Intermittent" in body
    assert '<a href="https://bugzilla.mozilla.org/show_bug.cgi?id=1700000">Bug 1700000</a>' in html
    assert "Top failures" not in body


def test_a_push_with_known_failures_only_says_so(settings) -> None:
    configure(settings)
    known = {**TRIAGED_SUMMARY, "verdict": "known", "triage_line": "1 known intermittent"}
    known["failure_groups"] = TRIAGED_SUMMARY["failure_groups"][1:]
    content = message_for(known)
    assert content["body"].startswith("⚠ Try push: known failures only: Bug 1234")
    assert "Known failures, none of them new:" in content["body"] and "New failures" not in content["body"]


def test_the_matrix_fields_come_from_the_registry_after_the_other_channels(alice_client, settings) -> None:
    configure(settings)
    html = alice_client.get("/settings/").content.decode()
    switches = [
        html.index(f'name="{name}"') for name in ("email_enabled", "webpush_enabled", "matrix_enabled")
    ]
    assert switches == sorted(switches) and html.index('name="matrix_id"') > switches[-1]
    assert "By Matrix direct message" in html and 'id="matrix"' in html and "Send a test message" not in html


def test_the_admin_lists_the_bots_stored_login_without_its_token(admin_client, settings) -> None:
    configure(settings)
    login = MatrixLogin.objects.create(
        homeserver="https://matrix.example.org", user="@bot:example.org", access_token=encrypt("syt_secret")
    )
    listing = admin_client.get("/admin/notifications/matrixlogin/").content.decode()
    assert "@bot:example.org" in listing
    page = admin_client.get(f"/admin/notifications/matrixlogin/{login.pk}/change/").content.decode()
    assert "syt_secret" not in page and login.access_token not in page
    assert admin_client.get("/admin/notifications/matrixlogin/add/").status_code == 403


@pytest.mark.parametrize("value", ["@alice:mozilla.org", "@a.b_c=d-e/f+g:chat.example.com:8448", "@x:[::1]"])
def test_a_valid_matrix_id_is_saved(alice_client, settings, value: str) -> None:
    configure(settings)
    alice_client.post("/settings/", {**SETTINGS_FORM, "matrix_enabled": "on", "matrix_id": f" {value} "})
    saved = channel_of(User.objects.get(username="alice"), "matrix")
    assert (saved.enabled, saved.config["matrix_id"]) == (True, value)


@pytest.mark.parametrize(
    "value", ["alice", "alice@mozilla.org", "@alice", "@Alice:mozilla.org", "@alice:", "@al ice:x.org"]
)
def test_a_malformed_matrix_id_is_refused_with_an_example(alice_client, settings, value: str) -> None:
    configure(settings)
    response = alice_client.post("/settings/", {**SETTINGS_FORM, "matrix_id": value})
    assert "A Matrix ID looks like @name:server" in response.content.decode()
    assert channel_of(User.objects.get(username="alice"), "matrix").config.get("matrix_id", "") == ""


def test_matrix_on_needs_an_id(alice_client, settings) -> None:
    configure(settings)
    response = alice_client.post("/settings/", {**SETTINGS_FORM, "matrix_enabled": "on", "matrix_id": ""})
    assert "Enter your Matrix ID to get Matrix messages." in response.content.decode()
    assert channel_of(User.objects.get(username="alice"), "matrix").enabled is False


def test_a_new_matrix_id_gets_a_new_room(alice_client, settings) -> None:
    configure(settings)
    alice = User.objects.get(username="alice")
    set_channel(alice, "matrix", True, matrix_id="@old:mozilla.org", room_id="!old:mozilla.org")
    alice_client.post(
        "/settings/", {**SETTINGS_FORM, "matrix_enabled": "on", "matrix_id": "@new:mozilla.org"}
    )
    saved = channel_of(alice, "matrix")
    assert (saved.config["matrix_id"], saved.config["room_id"]) == ("@new:mozilla.org", "")


@pytest.fixture
def silent_homeserver() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_homeserver_that_does_not_answer_is_retried_later(settings, silent_homeserver, bob) -> None:
    configure(settings, silent_homeserver)
    settings.MATRIX_TIMEOUT = 0.5
    set_channel(bob, "email", False)
    set_channel(bob, "matrix", True, matrix_id="@bob:example.org")

    started = time.monotonic()
    notification = finish_push(bob, 601)

    assert time.monotonic() - started < 5
    assert notification.status == Notification.Status.PENDING
    assert "no answer within 0.5 s" in notification.last_error
    assert notification.next_attempt_at > timezone.now() + timedelta(seconds=20)  # the email backoff
