"""The server's VAPID keys (settings VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY): whether web push is
configured, whether the two keys belong together, and new keys (`manage.py generate_vapid_keys`)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid
from py_vapid.utils import b64urlencode


def webpush_available() -> bool:
    """Both VAPID keys configured: without them nothing is sent and the settings page says why."""
    return bool(settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


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
