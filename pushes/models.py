"""A user's own Taskcluster credentials (used only to retrigger jobs on their behalf) and the
confirmations they asked for.

The access token is a password: it is stored encrypted (accounts.crypto) and never shown back in full;
a token read with an old key is encrypted again with the current one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.crypto import CredentialsUnreadable, decrypt_with_key_age, encrypt


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
