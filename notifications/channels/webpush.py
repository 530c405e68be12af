"""The web push channel: VAPID keys, browser subscriptions and the pywebpush transport.

The only module of notifications that makes HTTP calls (through `requests`, which pywebpush uses): the
outbox calls `WebPushChannel.send` for ledger rows of channel "webpush" and maps a `TransportError` onto
the ledger (permanent → failed, otherwise retried later).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid
from py_vapid.utils import b64urldecode, b64urlencode
from pywebpush import WebPushException, webpush

from buildwatch import __version__, upstream
from notifications.models import ChannelSettings, Notification, PushSubscription

from .base import Channel, TransportError
from .content import push_page_url

logger = logging.getLogger(__name__)

# pywebpush's defaults are "wait forever" and "drop the message unless the browser is online right now".
# Each POST to a push service gets WEBPUSH_TIMEOUT in total (connect + headers + body, see
# buildwatch.upstream): at most MAX_SUBSCRIPTIONS_PER_USER × 5 s per notification, inside the Celery soft
# time limit (120 s).
WEBPUSH_TIMEOUT = 5.0
ANSWER_MAX_BYTES = 64_000  # a push service answers with an empty body or a short error
WEBPUSH_TTL = 24 * 60 * 60
# aes128gcm leaves 3993 bytes of a 4096-byte push message for our JSON (RFC 8291 §4); keep the body well
# below that, and shorten it further when its characters take several bytes each.
MAX_BODY_CHARS = 1000
MAX_PAYLOAD_BYTES = 3993
GONE_STATUSES = {404, 410}
MAX_SUBSCRIPTIONS_PER_USER = 10
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def endpoint_host_allowed(host: str, *, local: bool = False) -> bool:
    """A push service host from settings.WEBPUSH_ENDPOINT_HOSTS (a suffix matches its subdomains);
    loopback only when settings.WEBPUSH_ALLOW_LOOPBACK (development and tests)."""
    if local or host in LOCAL_HOSTS:
        return bool(settings.WEBPUSH_ALLOW_LOOPBACK)
    host = host.lower().rstrip(".")
    return any(host == suffix or host.endswith("." + suffix) for suffix in settings.WEBPUSH_ENDPOINT_HOSTS)


def endpoint_problem(endpoint: str) -> str:
    """Why the worker must not POST to this subscription endpoint ("" when it may).

    The worker POSTs to this URL: only known push services, or anybody could make BuildWatch call
    arbitrary (internal) addresses. The host checked must be the one requests connects to: urlsplit and
    urllib3 read `https://10.0.0.1\\@push.example.com/` differently, so such URLs are refused."""
    if not endpoint.isascii() or any(c.isspace() or c == "\\" or not c.isprintable() for c in endpoint):
        return "endpoint must be a plain https URL"
    parts = urlsplit(endpoint)
    local = parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS
    if not (parts.scheme == "https" or local) or not parts.hostname:
        return "endpoint must be an https URL"
    try:
        prepared = requests.Request("POST", endpoint).prepare()
    except (requests.RequestException, ValueError):
        return "endpoint must be a plain https URL"
    if parts.username is not None or urlsplit(prepared.url).hostname != parts.hostname:
        return "endpoint must be a plain https URL"
    if not endpoint_host_allowed(parts.hostname, local=local):
        return f"{parts.hostname} is not a known push service"
    return ""


def webpush_available() -> bool:
    """Both VAPID keys configured: without them nothing is sent and the settings page says why."""
    return bool(settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


class WebPushChannel(Channel):
    name = "webpush"
    label = "Web push"
    switch_label = "By browser push notification"

    def unavailable_reason(self) -> str:
        if webpush_available():
            return ""
        return "this server has no VAPID keys configured (VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY)"

    def wanted(self, user: Any, prefs: ChannelSettings) -> bool:
        return prefs.enabled and PushSubscription.objects.filter(user=user).exists()

    def skip_reason(self, notification: Notification, prefs: ChannelSettings) -> str:
        if not prefs.enabled:
            return "web push was turned off before delivery"
        return vapid_problem()  # configured, but keys that cannot sign anything a browser accepts

    def send(self, notification: Notification) -> None:
        send_webpush(notification)


# --- VAPID keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VapidKeys:
    public_key: str  # urlsafe base64 of the uncompressed P-256 point: the browser's applicationServerKey
    private_key: str  # urlsafe base64 of the raw 32-byte private value (py_vapid's "raw" form)


def generate_vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeys(public_key=b64urlencode(public), private_key=b64urlencode(private))


def vapid_problem() -> str:
    """Why the configured VAPID keys can't work ("" when they can)."""
    if not webpush_available():
        return "web push is not configured (no VAPID keys)"
    try:
        public = vapid_public_key_of(settings.VAPID_PRIVATE_KEY)
    except ValueError:
        return "VAPID_PRIVATE_KEY is not a valid key"
    if public != settings.VAPID_PUBLIC_KEY.strip().rstrip("="):
        # Browsers subscribed with the public key; a push signed with another key is refused (403).
        return "VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY"
    return ""


def vapid_public_key_of(private_key: str) -> str:
    """The applicationServerKey that belongs to a VAPID private key (raises ValueError when invalid)."""
    try:
        vapid = Vapid.from_string(private_key=private_key)
    except Exception as exc:  # py_vapid raises anything from binascii.Error to VapidException
        raise ValueError(f"not a VAPID private key: {exc}") from exc
    return b64urlencode(
        vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


# --- Subscriptions -------------------------------------------------------------------------------------


class SubscriptionInvalid(ValueError):
    """The browser's subscription JSON can't be stored; the message is shown to the user."""


@dataclass(frozen=True)
class SubscriptionData:
    endpoint: str
    p256dh: str
    auth: str


def _b64url_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise SubscriptionInvalid(f"keys.{name} is missing")
    if len(value) > 255 or not all(c.isalnum() or c in "-_=" for c in value):
        raise SubscriptionInvalid(f"keys.{name} is not base64url")
    try:
        return b64urldecode(value.rstrip("=").encode())
    except (binascii.Error, ValueError) as exc:
        raise SubscriptionInvalid(f"keys.{name} is not base64url") from exc


def parse_subscription(data: object) -> SubscriptionData:
    """Validate what `PushSubscription.toJSON()` gives in the browser: {endpoint, keys: {p256dh, auth}}."""
    if not isinstance(data, dict):
        raise SubscriptionInvalid("expected a JSON object")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise SubscriptionInvalid("endpoint is missing")
    if len(endpoint) > 2000:
        raise SubscriptionInvalid("endpoint is too long")
    problem = endpoint_problem(endpoint)
    if problem:
        raise SubscriptionInvalid(problem)
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise SubscriptionInvalid("keys are missing")
    p256dh = _b64url_bytes(keys.get("p256dh"), "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError as exc:
        raise SubscriptionInvalid("keys.p256dh is not a P-256 public key") from exc
    if len(p256dh) != 65:  # only the uncompressed form is used by browsers (RFC 8291)
        raise SubscriptionInvalid("keys.p256dh is not an uncompressed P-256 public key")
    if len(_b64url_bytes(keys.get("auth"), "auth")) != 16:
        raise SubscriptionInvalid("keys.auth must be 16 bytes")
    return SubscriptionData(endpoint=endpoint, p256dh=keys["p256dh"], auth=keys["auth"])


class EndpointTaken(Exception):
    """The endpoint is another user's subscription: BuildWatch never moves it (see save_subscription)."""


def save_subscription(
    user: object, data: SubscriptionData, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """Store (or refresh) a browser's subscription.

    An endpoint already subscribed by another user is never moved to the poster (EndpointTaken): the
    endpoint is a bearer capability, and whoever posts a copy of it must not silently take over
    another user's notifications. A browser profile now used by someone else makes a fresh
    subscription instead (static/js/webpush.js does, on the 409): a new endpoint, the old one revoked
    at the push service, so the previous owner's row is removed at its next send (404/410)."""
    existing = PushSubscription.objects.filter(endpoint=data.endpoint).first()
    if existing is not None and existing.user_id != getattr(user, "pk", None):
        raise EndpointTaken(data.endpoint)
    subscription, created = PushSubscription.objects.update_or_create(
        endpoint=data.endpoint,
        defaults={"user": user, "p256dh": data.p256dh, "auth": data.auth, "user_agent": user_agent[:500]},
    )
    # Keep the newest few: browsers that were reset never say goodbye, and each costs a request per send.
    stale = PushSubscription.objects.filter(user=user).order_by("-created_at", "-pk")[
        MAX_SUBSCRIPTIONS_PER_USER:
    ]
    PushSubscription.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    return subscription, created


def browser_label(user_agent: str) -> str:
    """'Firefox on Linux' from a User-Agent header; good enough to tell a user's browsers apart."""
    ua = user_agent or ""
    browser = "Unknown browser"
    for token, name in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ):
        if token in ua:
            browser = name
            break
    system = ""
    for token, name in (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ):
        if token in ua:
            system = name
            break
    return f"{browser} on {system}" if system else browser


# --- Sending -------------------------------------------------------------------------------------------


def notification_tag(notification: Notification) -> str:
    return f"buildwatch:{notification.repo}:{notification.push_id}"


def push_payload(notification: Notification) -> dict[str, str]:
    body = notification.body
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - 1] + "…"
    return {
        "title": notification.title or "BuildWatch",
        "body": body,
        "url": push_page_url(notification.repo, notification.push_id),
        "tag": notification_tag(notification),
    }


def payload_bytes(payload: dict[str, str]) -> bytes:
    """The payload as UTF-8 JSON, its body cut (with "…") until the whole fits one push message."""
    full = payload["body"]
    keep = len(full)
    while True:
        body = full if keep >= len(full) else full[: max(0, keep - 1)] + "…"
        data = json.dumps({**payload, "body": body}, ensure_ascii=False).encode()
        over = len(data) - MAX_PAYLOAD_BYTES
        if over <= 0 or keep <= 0:
            return data
        keep -= max(1, over // 6)  # a character is at most 6 bytes here (a \u00XX escape)


def _topic(tag: str) -> str:
    # RFC 8030 Topic (≤ 32 base64url chars): a re-sent message replaces an undelivered one.
    return base64.urlsafe_b64encode(hashlib.sha256(tag.encode()).digest()).decode()[:32]


def notification_topic(notification: Notification) -> str:
    """One Topic per (user, push, kind of message, occasion): a retry of this row replaces its undelivered
    first copy at the push service, and nothing else does (another user's, another kind, a later
    follow-up)."""
    occasion = f":{notification.occasion}" if notification.occasion else ""
    return _topic(
        f"{notification.user_id}:{notification.repo}:{notification.push_id}:{notification.kind}{occasion}"
    )


class _DeadlineSession(requests.Session):
    """What pywebpush posts through: each POST answered in full within WEBPUSH_TIMEOUT, or a
    ReadTimeout (a temporary failure, retried later like any other)."""

    def post(self, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        deadline = upstream.Deadline(WEBPUSH_TIMEOUT)
        kwargs.update(timeout=deadline.timeouts(), stream=True)
        response = super().post(url, *args, **kwargs)
        try:
            return upstream.load_body(response, deadline, ANSWER_MAX_BYTES)
        except upstream.DeadlineExceeded as problem:
            raise requests.ReadTimeout(str(problem)) from problem
        except upstream.TooLarge:
            response._content = b""
            return response


def _where(endpoint: str) -> str:
    # The endpoint is a bearer capability: name only its host in errors the user and admin can read.
    return urlsplit(endpoint).hostname or "push service"


def send_webpush(notification: Notification) -> None:
    """Send the notification to every browser the user subscribed. Success when at least one got it.

    404/410 from a push service removes that subscription. Raises TransportError(permanent=True) when
    nothing can ever succeed (no keys, no subscriptions left, every service refused), and
    TransportError(permanent=False) when a push service failed in a way a later retry may fix. A retry
    re-sends to every subscription, including those that already got it; the shared tag (in the browser)
    and Topic (at the push service) make the repeat replace the first rather than add a second.
    """
    problem = vapid_problem()
    if problem:
        raise TransportError(problem, permanent=True)
    vapid = Vapid.from_string(private_key=settings.VAPID_PRIVATE_KEY)

    subscriptions = list(PushSubscription.objects.filter(user_id=notification.user_id).order_by("pk"))
    if not subscriptions:
        raise TransportError("no subscriptions", permanent=True)

    data = payload_bytes(push_payload(notification))
    headers = {"Topic": notification_topic(notification), "Urgency": "normal"}
    delivered = 0
    removed = 0
    temporary: list[str] = []
    refused: list[str] = []
    with _DeadlineSession() as session:
        session.headers["User-Agent"] = f"BuildWatch/{__version__} (+{settings.SITE_URL})"
        for subscription in subscriptions:
            where = _where(subscription.endpoint)
            problem = endpoint_problem(subscription.endpoint)
            if problem:  # stored before the allowlist, or the allowlist changed since
                refused.append(f"{where}: {problem}")
                continue
            try:
                webpush(
                    subscription_info={
                        "endpoint": subscription.endpoint,
                        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                    },
                    data=data,
                    vapid_private_key=vapid,
                    # A fresh dict each time: pywebpush writes "aud" (the endpoint's origin) into it.
                    vapid_claims={"sub": settings.VAPID_SUBJECT},
                    content_encoding="aes128gcm",
                    timeout=WEBPUSH_TIMEOUT,
                    ttl=WEBPUSH_TTL,
                    headers=headers,
                    requests_session=session,
                )
            except WebPushException as exc:
                status = exc.status_code
                if status in GONE_STATUSES:
                    logger.info(
                        "web push subscription %s of user %s is gone (%s): removed",
                        subscription.pk,
                        subscription.user_id,
                        status,
                    )
                    subscription.delete()
                    removed += 1
                elif status is None or status >= 500 or status == 429:
                    temporary.append(f"{where}: {status or exc.message}")
                else:  # 400, 403 (key mismatch), 413…: sending the same again cannot help
                    refused.append(f"{where}: {status}")
            except requests.RequestException as exc:
                temporary.append(f"{where}: {type(exc).__name__}")
            else:
                delivered += 1

    problems = temporary + refused
    if delivered:
        if problems:
            logger.warning(
                "web push for %s reached %d browser(s); failed: %s",
                notification,
                delivered,
                "; ".join(problems),
            )
        return
    if temporary:
        raise TransportError("push service unavailable: " + "; ".join(problems), permanent=False)
    if refused:
        raise TransportError("push service refused: " + "; ".join(refused), permanent=True)
    raise TransportError(f"no subscriptions ({removed} expired and removed)", permanent=True)
