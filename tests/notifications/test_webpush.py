"""Web push: a real round trip through a loopback "push service", decrypted like a browser would, plus the
subscription views, the service worker route and the VAPID key command."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from py_vapid import Vapid, Vapid02
from py_vapid.utils import b64urldecode, b64urlencode

from notifications.channels.base import TransportError
from notifications.channels.webpush import send, subscriptions
from notifications.channels.webpush import vapid as vapid_keys
from notifications.channels.webpush.send import send_webpush
from notifications.channels.webpush.user_agent import browser_label
from notifications.channels.webpush.vapid import generate_vapid_keys
from notifications.models import Notification, PushSubscription

from ..helpers import channel_of, free_port, set_channel

SITE = "https://buildwatch.test"


@pytest.fixture(autouse=True)
def push_service_hosts(settings) -> None:
    """The tests' push services: a made-up https host and loopback servers."""
    settings.WEBPUSH_ENDPOINT_HOSTS = [*settings.WEBPUSH_ENDPOINT_HOSTS, "push.example.com"]
    settings.WEBPUSH_ALLOW_LOOPBACK = True


FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
CHROME_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"


# --- A push service on loopback ------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """Answers POST /<anything> with statuses[path] (default 201) and records what it got."""

    server: ThreadingHTTPServer
    statuses: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hang: bool = False

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.origin + path


def _start_push_service() -> PushService:
    service: PushService

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            service.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if service.hang:
                service.release.wait(5)
            self.send_response(service.statuses.get(self.path, 201))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    service = PushService(server)
    # shutdown() waits for serve_forever's next poll: 0.05 s, not the default 0.5 s, per server.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return service


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = _start_push_service()
    yield service
    service.release.set()
    service.server.shutdown()
    service.server.server_close()


@pytest.fixture
def other_push_service() -> Iterator[PushService]:
    service = _start_push_service()
    yield service
    service.server.shutdown()
    service.server.server_close()


@pytest.fixture
def vapid(settings) -> vapid_keys.VapidKeys:
    keys = generate_vapid_keys()
    settings.VAPID_PUBLIC_KEY = keys.public_key
    settings.VAPID_PRIVATE_KEY = keys.private_key
    settings.VAPID_SUBJECT = "mailto:admin@buildwatch.test"
    settings.SITE_URL = SITE
    return keys


@dataclass
class BrowserKeys:
    """What a browser keeps for one subscription: its ECDH key pair and the auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @classmethod
    def new(cls) -> BrowserKeys:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64urlencode(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    @property
    def auth(self) -> str:
        return b64urlencode(self.auth_secret)

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return json.loads(plain)


def subscribe(user, endpoint: str, keys: BrowserKeys | None = None, ua: str = FIREFOX_UA) -> PushSubscription:
    keys = keys or BrowserKeys.new()
    return PushSubscription.objects.create(
        user=user, endpoint=endpoint, p256dh=keys.p256dh, auth=keys.auth, user_agent=ua
    )


def notification_for(user, push_id: int = 1234567) -> Notification:
    return Notification.objects.create(
        user=user,
        repo="try",
        push_id=push_id,
        channel="webpush",
        title="Try push failed",
        body="Bug 1900000 - Make <b>things</b> faster",
    )


def jwt_claims(authorization: str) -> dict:
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    return json.loads(b64urldecode(token.split(".")[1].encode()))


# --- send_webpush ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_sends_an_encrypted_notification_each_browser_can_decrypt(
    alice, vapid, push_service, other_push_service
):
    laptop, phone = BrowserKeys.new(), BrowserKeys.new()
    subscribe(alice, push_service.url("/wpush/laptop"), laptop)
    subscribe(alice, other_push_service.url("/wpush/phone"), phone)

    send_webpush(notification_for(alice))

    [got_laptop], [got_phone] = push_service.received, other_push_service.received
    expected = {
        "title": "Try push failed",
        "body": "Bug 1900000 - Make <b>things</b> faster",
        "url": f"{SITE}/try/pushes/1234567/",
        "tag": "buildwatch:try:1234567",
    }
    assert laptop.decrypt(got_laptop.body) == expected
    assert phone.decrypt(got_phone.body) == expected
    for service, got in ((push_service, got_laptop), (other_push_service, got_phone)):
        assert got.headers["content-encoding"] == "aes128gcm"
        assert got.headers["ttl"] == str(24 * 60 * 60)
        assert got.headers["topic"]
        authorization = got.headers["authorization"]
        assert authorization.startswith("vapid t=")
        assert f"k={vapid.public_key}" in authorization
        assert Vapid02.verify(authorization)
        claims = jwt_claims(authorization)
        # Each push service gets a token for its own origin (pywebpush mutates the claims it is given).
        assert claims["aud"] == service.origin
        assert claims["sub"] == "mailto:admin@buildwatch.test"


@pytest.mark.django_db
def test_it_cannot_be_decrypted_with_another_browsers_keys(alice, vapid, push_service):
    subscribe(alice, push_service.url("/wpush/a"), BrowserKeys.new())
    send_webpush(notification_for(alice))
    with pytest.raises(Exception):  # noqa: B017 (http_ece raises InvalidTag / ECEException)
        BrowserKeys.new().decrypt(push_service.received[0].body)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [404, 410])
def test_it_removes_a_gone_subscription_and_still_reaches_the_others(alice, vapid, push_service, status):
    gone = subscribe(alice, push_service.url("/wpush/gone"))
    kept = subscribe(alice, push_service.url("/wpush/kept"), ua=CHROME_UA)
    push_service.statuses["/wpush/gone"] = status

    send_webpush(notification_for(alice))  # no error: one browser got it

    assert not PushSubscription.objects.filter(pk=gone.pk).exists()
    assert PushSubscription.objects.filter(pk=kept.pk).exists()
    assert sorted(r.path for r in push_service.received) == ["/wpush/gone", "/wpush/kept"]


@pytest.mark.django_db
def test_when_every_subscription_is_gone_it_fails_permanently(alice, vapid, push_service):
    subscribe(alice, push_service.url("/wpush/gone"))
    push_service.statuses["/wpush/gone"] = 410

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert caught.value.permanent
    assert "no subscriptions" in caught.value.message
    assert not PushSubscription.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_without_subscriptions_it_fails_permanently(alice, vapid, bob, push_service):
    subscribe(bob, push_service.url("/wpush/bobs"))

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert caught.value.permanent
    assert caught.value.message == "no subscriptions"
    assert push_service.received == []


@pytest.mark.django_db
@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_push_service_error_is_retryable_and_keeps_the_subscription(alice, vapid, push_service, status):
    subscription = subscribe(alice, push_service.url("/wpush/flaky"))
    push_service.statuses["/wpush/flaky"] = status

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert not caught.value.permanent
    assert str(status) in caught.value.message
    assert "/wpush/flaky" not in caught.value.message  # the endpoint is a secret: name the host only
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()


@pytest.mark.django_db
def test_a_push_service_that_is_down_is_retryable(alice, vapid):
    subscribe(alice, f"http://127.0.0.1:{free_port()}/wpush/nobody-listens")

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert not caught.value.permanent
    assert "ConnectionError" in caught.value.message


@pytest.mark.django_db
def test_a_hanging_push_service_times_out_and_is_retryable(alice, vapid, push_service, monkeypatch):
    monkeypatch.setattr(send, "WEBPUSH_TIMEOUT", 0.2)
    push_service.hang = True
    subscribe(alice, push_service.url("/wpush/slow"))

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert not caught.value.permanent
    assert "Timeout" in caught.value.message


@pytest.mark.django_db
def test_a_dripping_push_service_is_cut_at_the_total_deadline(alice, vapid, monkeypatch):
    """`200` and then one byte of body every 0.2 s: each read is quick, the answer never complete."""
    from tests.faulty_upstream import FaultyServer, timed

    monkeypatch.setattr(send, "WEBPUSH_TIMEOUT", 1.0)
    with FaultyServer("drip", interval=0.2) as server:
        subscribe(alice, server.url + "/wpush/drip")
        seconds, problem = timed(lambda: send_webpush(notification_for(alice)))

    assert isinstance(problem, TransportError) and not problem.permanent, problem
    assert "ReadTimeout" in problem.message
    assert seconds < 1.6


@pytest.mark.django_db
def test_one_failing_browser_does_not_fail_a_delivery_another_got(alice, vapid, push_service):
    subscribe(alice, push_service.url("/wpush/broken"))
    subscribe(alice, push_service.url("/wpush/fine"))
    push_service.statuses["/wpush/broken"] = 500

    send_webpush(notification_for(alice))

    assert len(push_service.received) == 2
    assert PushSubscription.objects.filter(user=alice).count() == 2


@pytest.mark.django_db
def test_a_refusal_that_cannot_change_is_permanent(alice, vapid, push_service):
    subscribe(alice, push_service.url("/wpush/other-key"))
    push_service.statuses["/wpush/other-key"] = 403

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert caught.value.permanent
    assert "403" in caught.value.message
    assert PushSubscription.objects.filter(user=alice).count() == 1


@pytest.mark.django_db
def test_without_vapid_keys_nothing_is_sent(alice, settings, push_service):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    subscribe(alice, push_service.url("/wpush/a"))

    assert not vapid_keys.webpush_available()
    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert caught.value.permanent
    assert "not configured" in caught.value.message
    assert push_service.received == []


@pytest.mark.django_db
def test_a_broken_private_key_is_a_permanent_error(alice, vapid, settings, push_service):
    settings.VAPID_PRIVATE_KEY = "not-a-key"
    subscribe(alice, push_service.url("/wpush/a"))

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert caught.value.permanent
    assert push_service.received == []


# --- Through the ledger: the poller's delivery of a "webpush" row ----------------------------------------


@pytest.fixture
def webpush_user(alice):
    set_channel(alice, "webpush", True)
    return alice


@pytest.mark.django_db
def test_the_poller_delivers_a_webpush_row_once(webpush_user, vapid, push_service):
    from notifications.outbox import deliver

    keys = BrowserKeys.new()
    subscribe(webpush_user, push_service.url("/wpush/a"), keys)
    notification = notification_for(webpush_user, push_id=42)

    assert deliver(notification.pk).status == "sent"
    assert deliver(notification.pk).status == "not-claimed"  # a second worker or a retried task

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    [received] = push_service.received
    payload = keys.decrypt(received.body)
    assert (payload["title"], payload["url"]) == ("Try push failed", f"{SITE}/try/pushes/42/")


@pytest.mark.django_db
def test_the_poller_marks_a_row_failed_when_the_only_browser_is_gone(webpush_user, vapid, push_service):
    from notifications.outbox import deliver

    subscribe(webpush_user, push_service.url("/wpush/gone"))
    push_service.statuses["/wpush/gone"] = 410
    notification = notification_for(webpush_user)

    assert deliver(notification.pk).status == "failed"

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert "no subscriptions" in notification.last_error
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_the_poller_retries_a_row_when_the_push_service_fails(webpush_user, vapid, push_service):
    from notifications.outbox import deliver

    subscribe(webpush_user, push_service.url("/wpush/flaky"))
    push_service.statuses["/wpush/flaky"] = 503
    notification = notification_for(webpush_user)

    assert deliver(notification.pk).status == "retry"

    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.attempts == 1
    assert "503" in notification.last_error


@pytest.mark.django_db
def test_a_public_key_of_another_pair_is_a_permanent_error(alice, vapid, settings, push_service):
    settings.VAPID_PUBLIC_KEY = generate_vapid_keys().public_key
    subscribe(alice, push_service.url("/wpush/a"))

    with pytest.raises(TransportError) as caught:
        send_webpush(notification_for(alice))

    assert caught.value.permanent
    assert "VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY" in caught.value.message
    assert push_service.received == []


# --- generate_vapid_keys ---------------------------------------------------------------------------------


def test_generate_vapid_keys_prints_a_pair_for_env():
    out = StringIO()
    call_command("generate_vapid_keys", stdout=out)
    lines = dict(
        line.split("=", 1) for line in out.getvalue().splitlines() if line and not line.startswith("#")
    )

    public, private = lines["VAPID_PUBLIC_KEY"], lines["VAPID_PRIVATE_KEY"]
    raw_public = b64urldecode(public.encode())
    assert len(raw_public) == 65 and raw_public[0] == 4  # uncompressed P-256 point: applicationServerKey
    assert "=" not in public and "=" not in private
    vapid = Vapid.from_string(private_key=private)
    assert vapid_keys.vapid_public_key_of(private) == public
    headers = vapid.sign({"sub": "mailto:a@b.example", "aud": "https://push.example", "exp": 2_000_000_000})
    assert Vapid02.verify(headers["Authorization"])


def test_two_runs_give_different_keys():
    first, second = StringIO(), StringIO()
    call_command("generate_vapid_keys", stdout=first)
    call_command("generate_vapid_keys", stdout=second)
    assert first.getvalue() != second.getvalue()


# --- Subscribe / list / remove ---------------------------------------------------------------------------


def subscription_json(endpoint: str = "https://updates.push.services.mozilla.com/wpush/v2/abc", **changes):
    keys = BrowserKeys.new()
    data = {"endpoint": endpoint, "expirationTime": None, "keys": {"p256dh": keys.p256dh, "auth": keys.auth}}
    data["keys"].update(changes.pop("keys", {}))
    data.update(changes)
    return data


def post_json(client: Client, url: str, data: object, **extra) -> object:
    body = data if isinstance(data, str) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)


@pytest.mark.django_db
def test_subscribing_stores_the_browser_and_turns_web_push_on(alice_client, alice, vapid):
    data = subscription_json()
    response = post_json(alice_client, reverse("webpush_subscribe"), data, HTTP_USER_AGENT=FIREFOX_UA)

    assert response.status_code == 201
    assert response.json()["browser"] == "Firefox on Linux"
    subscription = PushSubscription.objects.get(user=alice)
    assert subscription.endpoint == data["endpoint"]
    assert (subscription.p256dh, subscription.auth) == (data["keys"]["p256dh"], data["keys"]["auth"])
    assert subscription.user_agent == FIREFOX_UA
    assert channel_of(alice, "webpush").enabled


@pytest.mark.django_db
def test_subscribing_the_same_endpoint_again_updates_its_keys(alice_client, alice, vapid):
    first = subscription_json()
    post_json(alice_client, reverse("webpush_subscribe"), first)
    again = subscription_json()  # same endpoint, new keys (the browser re-subscribed)

    response = post_json(alice_client, reverse("webpush_subscribe"), again)

    assert response.status_code == 200
    subscription = PushSubscription.objects.get()
    assert subscription.p256dh == again["keys"]["p256dh"]
    assert subscription.auth == again["keys"]["auth"]


@pytest.mark.django_db
def test_posting_another_users_endpoint_moves_nothing_and_asks_for_a_fresh_subscription(
    alice_client, bob, vapid
):
    theirs = subscribe(bob, "https://updates.push.services.mozilla.com/wpush/v2/theirs")
    stolen = {"endpoint": theirs.endpoint, "keys": {"p256dh": BrowserKeys.new().p256dh, "auth": theirs.auth}}

    response = post_json(alice_client, reverse("webpush_subscribe"), stolen)

    assert response.status_code == 409 and response.json()["resubscribe"] is True
    theirs.refresh_from_db()
    assert theirs.user == bob and PushSubscription.objects.count() == 1


@pytest.mark.django_db
def test_a_user_keeps_only_the_newest_subscriptions(alice_client, alice, vapid):
    for n in range(subscriptions.MAX_SUBSCRIPTIONS_PER_USER + 2):
        post_json(
            alice_client, reverse("webpush_subscribe"), subscription_json(f"https://push.example.com/{n}")
        )

    kept = set(PushSubscription.objects.filter(user=alice).values_list("endpoint", flat=True))
    assert len(kept) == subscriptions.MAX_SUBSCRIPTIONS_PER_USER
    assert "https://push.example.com/0" not in kept and "https://push.example.com/1" not in kept
    assert f"https://push.example.com/{subscriptions.MAX_SUBSCRIPTIONS_PER_USER + 1}" in kept


@pytest.mark.django_db
def test_subscribing_from_a_loopback_push_service_is_allowed(alice_client, vapid):
    response = post_json(
        alice_client, reverse("webpush_subscribe"), subscription_json("http://localhost:8001/push/1")
    )
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint",
    ["https://evil.example.net/x", "https://fcm.googleapis.com.evil.example/x", "https://10.0.0.8/push"],
)
def test_only_known_push_services_are_accepted(alice_client, vapid, endpoint):
    response = post_json(alice_client, reverse("webpush_subscribe"), subscription_json(endpoint))

    assert response.status_code == 400
    assert "not a known push service" in response.content.decode()
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_loopback_push_services_are_refused_in_production(alice_client, vapid, settings):
    settings.WEBPUSH_ALLOW_LOOPBACK = False
    response = post_json(
        alice_client, reverse("webpush_subscribe"), subscription_json("http://127.0.0.1:6379/x")
    )

    assert response.status_code == 400
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_subdomains_of_a_known_push_service_are_accepted(alice_client, vapid):
    endpoint = "https://wns2-by3p.notify.windows.com/w/?token=abc"
    response = post_json(alice_client, reverse("webpush_subscribe"), subscription_json(endpoint))

    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("{not json", "not JSON"),
        ([1, 2], "expected a JSON object"),
        (subscription_json(endpoint=""), "endpoint is missing"),
        (subscription_json("http://push.example.com/x"), "https"),
        (subscription_json("javascript:alert(1)"), "https"),
        (subscription_json("https://push.example.com/" + "x" * 2000), "too long"),
        ({"endpoint": "https://push.example.com/x"}, "keys are missing"),
        (subscription_json(keys={"p256dh": None}), "p256dh is missing"),
        (subscription_json(keys={"p256dh": "not base64!"}), "p256dh is not base64url"),
        (subscription_json(keys={"p256dh": b64urlencode(b"\x04" + b"\x01" * 64)}), "not a P-256 public key"),
        (subscription_json(keys={"auth": ""}), "auth is missing"),
        (subscription_json(keys={"auth": b64urlencode(b"short")}), "auth must be 16 bytes"),
    ],
)
def test_an_invalid_subscription_is_refused_with_a_reason(alice_client, vapid, data, error):
    response = post_json(alice_client, reverse("webpush_subscribe"), data)

    assert response.status_code == 400
    assert error in response.json()["error"]
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_subscribing_needs_sign_in(client, vapid):
    response = post_json(client, reverse("webpush_subscribe"), subscription_json())

    # The settings page script reads the answer: a login redirect would be followed and look like success.
    assert response.status_code == 401
    assert "signed out" in response.json()["error"]
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_subscribing_needs_the_csrf_token(alice, vapid):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    refused = post_json(client, reverse("webpush_subscribe"), subscription_json())
    assert refused.status_code == 403
    assert not PushSubscription.objects.exists()

    page = client.get(reverse("settings"))
    token = page.context["csrf_token"]
    assert f'data-csrf-token="{token}"' in page.content.decode()
    accepted = post_json(
        client, reverse("webpush_subscribe"), subscription_json(), HTTP_X_CSRFTOKEN=str(token)
    )
    assert accepted.status_code == 201


@pytest.mark.django_db
def test_subscribing_is_post_only(alice_client, vapid):
    assert alice_client.get(reverse("webpush_subscribe")).status_code == 405


@pytest.mark.django_db
def test_subscribing_without_vapid_keys_is_refused(alice_client, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    response = post_json(alice_client, reverse("webpush_subscribe"), subscription_json())
    assert response.status_code == 409
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_settings_lists_my_browsers_with_a_remove_button_and_the_key(alice_client, alice, bob, vapid):
    mine = subscribe(alice, "https://fcm.googleapis.com/fcm/send/mine", ua=CHROME_UA)
    theirs = subscribe(bob, "https://updates.push.services.mozilla.com/wpush/v2/theirs")

    html = alice_client.get(reverse("settings")).content.decode()

    assert f'data-vapid-public-key="{vapid.public_key}"' in html
    assert f'data-subscribe-url="{reverse("webpush_subscribe")}"' in html
    assert 'data-sw-url="/sw.js"' in html
    assert "Enable notifications in this browser" in html
    assert "Chrome on macOS" in html
    assert mine.created_at.strftime("%Y-%m-%d") in html
    assert f'action="{reverse("webpush_unsubscribe", args=[mine.pk])}"' in html
    assert reverse("webpush_unsubscribe", args=[theirs.pk]) not in html
    assert "theirs" not in html


@pytest.mark.django_db
def test_settings_says_when_subscribed_browsers_get_nothing_because_web_push_is_off(
    alice_client, alice, vapid
):
    subscribe(alice, "https://fcm.googleapis.com/fcm/send/mine")
    assert "data-webpush-off" in alice_client.get(reverse("settings")).content.decode()

    set_channel(alice, "webpush", True)
    assert "data-webpush-off" not in alice_client.get(reverse("settings")).content.decode()


@pytest.mark.django_db
def test_settings_without_vapid_keys_explains_web_push_is_unavailable(alice_client, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""

    html = alice_client.get(reverse("settings")).content.decode()

    assert "Web push is not available on this BuildWatch" in html
    assert "generate_vapid_keys" in html
    assert "data-vapid-public-key" not in html
    assert "Enable notifications in this browser" not in html


@pytest.mark.django_db
def test_removing_my_subscription(alice_client, alice, vapid):
    subscription = subscribe(alice, "https://fcm.googleapis.com/fcm/send/mine", ua=CHROME_UA)

    response = alice_client.post(reverse("webpush_unsubscribe", args=[subscription.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("settings")
    assert not PushSubscription.objects.filter(pk=subscription.pk).exists()
    assert "Web push removed for Chrome on macOS" in response.content.decode()


@pytest.mark.django_db
def test_removing_someone_elses_subscription_is_a_404(alice_client, bob, vapid):
    theirs = subscribe(bob, "https://updates.push.services.mozilla.com/wpush/v2/theirs")

    response = alice_client.post(reverse("webpush_unsubscribe", args=[theirs.pk]))

    assert response.status_code == 404
    assert PushSubscription.objects.filter(pk=theirs.pk).exists()
    assert alice_client.post(reverse("webpush_unsubscribe", args=[theirs.pk + 1000])).status_code == 404


@pytest.mark.django_db
def test_removing_needs_post_sign_in_and_csrf(alice, vapid):
    subscription = subscribe(alice, "https://fcm.googleapis.com/fcm/send/mine")
    url = reverse("webpush_unsubscribe", args=[subscription.pk])
    assert Client().post(url).status_code == 302  # to sign-in
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()


# --- The service worker -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_service_worker_is_served_from_the_root_with_a_root_scope(client):
    response = client.get("/sw.js")

    assert reverse("service_worker") == "/sw.js"
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"]
    script = response.content.decode()
    assert 'addEventListener("push"' in script
    assert "showNotification" in script
    assert 'addEventListener("notificationclick"' in script
    assert "openWindow" in script and "focus()" in script


# --- Small helpers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (FIREFOX_UA, "Firefox on Linux"),
        (CHROME_UA, "Chrome on macOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/140.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.0 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        ("", "Unknown browser"),
    ],
)
def test_browser_label(user_agent, label):
    assert browser_label(user_agent) == label


@pytest.mark.django_db
def test_a_long_body_is_shortened_to_fit_a_push_message(alice, vapid, push_service):
    keys = BrowserKeys.new()
    subscribe(alice, push_service.url("/wpush/a"), keys)
    notification = notification_for(alice)
    notification.body = "x" * 5000
    notification.save()

    send_webpush(notification)

    body = keys.decrypt(push_service.received[0].body)["body"]
    assert len(body) == send.MAX_BODY_CHARS and body.endswith("…")


@pytest.mark.django_db
def test_the_topic_is_one_per_user_push_and_kind(alice, bob):
    """A retry replaces its own undelivered copy at the push service, never another user's message."""
    mine, again = (
        notification_for(alice),
        Notification(user=alice, repo="try", push_id=1234567, channel="webpush"),
    )
    theirs = Notification.objects.create(user=bob, repo="try", push_id=1234567, channel="webpush")
    other_push = notification_for(alice, push_id=42)
    early = Notification(user=alice, repo="try", push_id=1234567, channel="webpush", kind="early")
    assert send.notification_topic(mine) == send.notification_topic(again)
    assert len({send.notification_topic(n) for n in (mine, theirs, other_push, early)}) == 4


def test_topic_is_a_short_base64url_token():
    topic = send._topic("buildwatch:try:1234567")
    assert len(topic) == 32
    base64.urlsafe_b64decode(topic + "=" * (-len(topic) % 4))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint",
    [
        # urlsplit reads the host after "@"; requests (urllib3) stops the host at the backslash.
        "https://127.0.0.1:6379\\@fcm.googleapis.com/fcm/send/x",
        "https://internal.example\\@push.example.com/x",
        "https://push.example.com\t/x",
    ],
)
def test_an_endpoint_read_differently_by_the_http_client_is_refused(alice_client, vapid, endpoint):
    response = post_json(alice_client, reverse("webpush_subscribe"), subscription_json(endpoint))

    assert response.status_code == 400
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_a_stored_subscription_no_longer_allowed_is_never_posted_to(alice, vapid, push_service, settings):
    # Stored before the allowlist existed, or before the admin narrowed it.
    subscribe(alice, push_service.url("/wpush/old"))
    settings.WEBPUSH_ALLOW_LOOPBACK = False

    with pytest.raises(TransportError) as error:
        send_webpush(notification_for(alice))

    assert error.value.permanent
    assert push_service.received == []


@pytest.mark.django_db
@pytest.mark.parametrize("character", ["😀", "漢", "\x01"])
def test_a_long_non_ascii_body_still_fits_one_push_message(alice, vapid, push_service, character):
    # Push services refuse messages over 4096 bytes (413), which would fail the notification for good.
    keys = BrowserKeys.new()
    subscribe(alice, push_service.url("/wpush/a"), keys)
    notification = notification_for(alice)
    notification.body = character * 5000
    notification.save()

    send_webpush(notification)

    assert len(push_service.received[0].body) <= 4096
    body = keys.decrypt(push_service.received[0].body)["body"]
    assert body.startswith(character * 100) and body.endswith("…")
