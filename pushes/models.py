"""A user's own Taskcluster credentials, used only to retrigger jobs on their behalf.

The access token is a password: it is stored encrypted (Fernet) and never shown back in full. The key
comes from BUILDWATCH_ENCRYPTION_KEY, or is derived from SECRET_KEY (with SECRET_KEY_FALLBACKS still
able to decrypt, so rotating SECRET_KEY the Django way keeps stored tokens readable).
"""

from __future__ import annotations

import base64
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

_HKDF_INFO = b"buildwatch taskcluster credentials v1"


class CredentialsUnreadable(Exception):
    """The stored token cannot be decrypted any more (the encryption key changed)."""


def _fernet_key(secret: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


def _fernet() -> MultiFernet:
    dedicated = getattr(settings, "BUILDWATCH_ENCRYPTION_KEY", "") or os.environ.get(
        "BUILDWATCH_ENCRYPTION_KEY", ""
    )
    secrets = [dedicated] if dedicated else [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise CredentialsUnreadable("the stored access token cannot be decrypted with the current key") from exc


class TaskclusterCredentials(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="taskcluster_credentials"
    )
    client_id = models.CharField(max_length=256)
    # Fernet token of the access token; never the token itself.
    access_token_encrypted = models.TextField()
    token_hint = models.CharField(max_length=8, blank=True, help_text="Last characters of the token, for display.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Taskcluster credentials"
        verbose_name_plural = "Taskcluster credentials"

    def __str__(self) -> str:
        return f"{self.client_id} ({self.user})"

    def set_access_token(self, token: str) -> None:
        self.access_token_encrypted = encrypt(token)
        self.token_hint = token[-4:] if len(token) >= 12 else ""

    @property
    def access_token(self) -> str:
        return decrypt(self.access_token_encrypted)

    @property
    def masked_token(self) -> str:
        return f"••••{self.token_hint}" if self.token_hint else "••••"
