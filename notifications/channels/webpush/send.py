"""Sending a web push: the payload (title, a line, the push page's link) and one POST per subscribed
browser to its push service, through pywebpush on a `requests` session with a deadline. The only module
of the channel that makes HTTP calls, so the allowlist of where the worker may POST
(`endpoint_problem`) lives here too."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from buildwatch import __version__, upstream
from notifications.models import Notification, PushSubscription

from ..base import TransportError
from ..content import push_page_url
from .vapid import vapid_problem

logger = logging.getLogger(__name__)

# pywebpush's defaults are "wait forever" and "drop the message unless the browser is online right now".
# Each POST to a push service gets WEBPUSH_TIMEOUT in total (connect + headers + body, see
# buildwatch.upstream): at most subscriptions.MAX_SUBSCRIPTIONS_PER_USER × 5 s per notification, inside the Celery soft
# time limit (120 s).
WEBPUSH_TIMEOUT = 5.0
ANSWER_MAX_BYTES = 64_000  # a push service answers with an empty body or a short error
WEBPUSH_TTL = 24 * 60 * 60
# aes128gcm leaves 3993 bytes of a 4096-byte push message for our JSON (RFC 8291 §4); keep the body well
# below that, and shorten it further when its characters take several bytes each.
MAX_BODY_CHARS = 1000
MAX_PAYLOAD_BYTES = 3993
GONE_STATUSES = {404, 410}
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
