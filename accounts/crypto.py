"""The encryption of stored secrets (a user's Taskcluster access token, the Matrix bot's access token).

Fernet, keyed by BUILDWATCH_ENCRYPTION_KEY, or derived from SECRET_KEY. Rotating either keeps stored
secrets readable: the old key goes in BUILDWATCH_ENCRYPTION_KEY_FALLBACKS (or SECRET_KEY_FALLBACKS, the
Django way; SECRET_KEY itself also still decrypts after a dedicated key is introduced), and a caller that
reads a secret with an old key (`decrypt_with_key_age` says so) stores it again under the current one.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# The HKDF context of every key. It names Taskcluster because that was the first secret stored; changing
# it would make every stored secret unreadable.
_HKDF_INFO = b"buildwatch taskcluster credentials v1"


class CredentialsUnreadable(Exception):
    """The stored secret cannot be decrypted any more (the encryption key changed)."""


def _fernet_key(secret: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


def _secrets() -> list[str]:
    """The current key first, then every key that may still decrypt (no duplicates, no blanks)."""
    dedicated = settings.BUILDWATCH_ENCRYPTION_KEY
    django_keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    fallbacks = list(settings.BUILDWATCH_ENCRYPTION_KEY_FALLBACKS)
    ordered = [dedicated, *fallbacks, *django_keys] if dedicated else [*django_keys, *fallbacks]
    return list(dict.fromkeys(secret for secret in ordered if secret))


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in _secrets()])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt_with_key_age(token: str) -> tuple[str, bool]:
    """The plaintext, and whether the current key (not a fallback) decrypted it."""
    try:
        raw = token.encode("ascii")
        for index, secret in enumerate(_secrets()):
            try:
                return Fernet(_fernet_key(secret)).decrypt(raw).decode(), index == 0
            except InvalidToken:
                continue
    except ValueError:
        pass
    raise CredentialsUnreadable(
        "the stored access token cannot be decrypted with the current or fallback keys"
    )
