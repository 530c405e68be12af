"""A user's own Taskcluster credentials, used only to retrigger jobs on their behalf.

The access token is a password: it is stored encrypted (Fernet) and never shown back in full. The key
comes from BUILDWATCH_ENCRYPTION_KEY, or is derived from SECRET_KEY. Rotating either keeps stored tokens
readable: the old key goes in BUILDWATCH_ENCRYPTION_KEY_FALLBACKS (or SECRET_KEY_FALLBACKS, the Django
way; SECRET_KEY itself also still decrypts after a dedicated key is introduced), and a token read with
an old key is encrypted again with the current one.
"""

from __future__ import annotations

import base64

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


class TaskclusterCredentials(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="taskcluster_credentials"
    )
    client_id = models.CharField(max_length=256)
    # Fernet token of the access token; never the token itself.
    access_token_encrypted = models.TextField()
    token_hint = models.CharField(
        max_length=8, blank=True, help_text="Last characters of the token, for display."
    )
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
        """The token; one that only a fallback key could read is stored again under the current key."""
        stored = self.access_token_encrypted
        plaintext, current = decrypt_with_key_age(stored)
        if not current:
            self.access_token_encrypted = encrypt(plaintext)
            if self.pk is not None:
                TaskclusterCredentials.objects.filter(pk=self.pk, access_token_encrypted=stored).update(
                    access_token_encrypted=self.access_token_encrypted
                )
        return plaintext

    @property
    def readable(self) -> bool:
        """Whether the stored token can still be decrypted (for the settings page; changes nothing)."""
        try:
            decrypt_with_key_age(self.access_token_encrypted)
        except CredentialsUnreadable:
            return False
        return True

    @property
    def masked_token(self) -> str:
        return f"••••{self.token_hint}" if self.token_hint else "••••"


class ConfirmRequestQuerySet(models.QuerySet):
    def accepted(self) -> ConfirmRequestQuerySet:
        """The requests Taskcluster accepted (runs started): the ones a verdict and a follow-up follow."""
        return self.filter(outcome="success")  # pushes.retrigger.SUCCESS


class ConfirmRequest(models.Model):
    """A user asked Taskcluster to run one new failure group's failing jobs again ("confirm failures");
    the poller counts the new runs of those job types and stores the follow-up verdict."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="confirm_requests"
    )
    repo = models.CharField(max_length=100)
    push_id = models.PositiveBigIntegerField()
    group_key = models.TextField()
    job_ids = models.JSONField(default=list)  # the failing jobs that were confirmed
    job_type_names = models.JSONField(default=list)
    action = models.CharField(max_length=40)  # confirm-failures | retrigger-multiple | add-new-jobs
    times = models.PositiveSmallIntegerField(default=1)
    requested_at = models.DateTimeField(auto_now_add=True)
    task_ids = models.JSONField(default=list)  # the action tasks Taskcluster created
    outcome = models.CharField(max_length=32)  # pushes.retrigger outcome kind
    message = models.TextField(blank=True)
    # Filled in when every confirming run finished: {"runs": n, "failed": k, "label": "..."}.
    verdict = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a follow-up notification reported this verdict: each batch of confirmations is reported once.
    reported_at = models.DateTimeField(null=True, blank=True)

    objects = ConfirmRequestQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["repo", "push_id"])]
        ordering = ["requested_at", "pk"]

    def __str__(self) -> str:
        return f"{self.user} confirms {self.group_key[:40]} on {self.repo} push {self.push_id}"


class JobDurations(models.Model):
    """How long one kind of job took lately on one repository: its runs (start → end), waits (submit →
    start) and queues (pending → start), each chunk's last runs, and the runs lost to the infrastructure;
    newest last, at most pushes.eta.WINDOW each, none older than pushes.eta.MAX_AGE. A kind is a
    platform, an option and a job type name without its chunk number (pushes.eta.job_kind). The row
    with an empty platform, option and name is the repository's SHAPE (pushes.eta.SHAPE): every kind's
    runs ÷ their kind's typical time, with their push. Written by the poller's batch writes
    (pushes/durations.py `record`), read to estimate when a push finishes (`push_eta`)."""

    repo = models.CharField(max_length=100)
    platform = models.CharField(max_length=100, blank=True)
    option = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=255, blank=True)
    runs = models.JSONField(default=list)  # [[learned at (epoch seconds), seconds], ...]
    waits = models.JSONField(default=list)  # the same, submit → start
    queues = models.JSONField(default=list)  # the same, pending → start
    chunks = models.JSONField(default=dict)  # {chunk number: [[learned at, seconds], ...]}
    retries = models.JSONField(default=list)  # [[learned at], ...]
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "job durations"
        verbose_name_plural = "job durations"
        constraints = [
            models.UniqueConstraint(fields=["name", "platform", "option", "repo"], name="unique_job_kind")
        ]

    def __str__(self) -> str:
        if not self.name:
            return f"every kind's shape on {self.repo}"
        return f"{self.name} ({self.platform} {self.option}) on {self.repo}"
