"""Browsers' web-push subscriptions: the JSON a browser posts checked (`parse_subscription`), then stored
for its user (`save_subscription`), a few per user."""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.utils import b64urldecode

from notifications.models import PushSubscription

from .send import endpoint_problem

MAX_SUBSCRIPTIONS_PER_USER = 10


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
