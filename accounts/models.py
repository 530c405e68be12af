"""Per-user data: a user's settings, their sign-in identities at the SSO provider, and their own
Taskcluster credentials. The other apps read them from here (`pushes` the author email and the
confirm-failures count, `notifications` the rest); this app imports neither of them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from .crypto import CredentialsUnreadable, decrypt_with_key_age, encrypt


class UserSettings(models.Model):
    """What the mobile app kept on the device (username, notificationsEnabled), per user. Each
    notification channel's own settings (on/off, an address) are notifications.models.ChannelSettings."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="buildwatch")
    author_email = models.EmailField(
        blank=True, help_text="Your Treeherder author email; empty means your account email."
    )
    notifications_enabled = models.BooleanField(default=True)
    default_repo = models.CharField(max_length=100, default="try")
    auto_watch = models.BooleanField(
        default=False, help_text="Watch every new push whose author is my Treeherder email."
    )
    early_alerts = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Tell me at a watched push's first new failure, before it finishes.",
    )
    confirm_times = models.PositiveSmallIntegerField(
        default=3,
        db_default=3,
        help_text="How many times “confirm failures” re-runs each failing job (1 to 5).",
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="An IANA time zone (Europe/Berlin) for the times BuildWatch shows and emails; empty: the "
        "browser's.",
    )
    # When auto-watch was last switched on: only pushes newer than this are watched automatically.
    auto_watch_since = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user settings"
        verbose_name_plural = "user settings"

    def __str__(self) -> str:
        return f"settings of {self.user}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.auto_watch and self.auto_watch_since is None:
            self.auto_watch_since = timezone.now()
        elif not self.auto_watch:
            self.auto_watch_since = None
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "auto_watch" in update_fields:
            kwargs["update_fields"] = {*update_fields, "auto_watch_since"}
        super().save(*args, **kwargs)

    @property
    def effective_author_email(self) -> str:
        return self.author_email or self.user.email

    @classmethod
    def for_user(cls, user: Any) -> UserSettings:
        """The user's row, made with the defaults when they have none yet."""
        obj, _ = cls.objects.get_or_create(user=user)
        return obj

    @classmethod
    def of(cls, user: Any) -> UserSettings:
        """The user's settings for reading: their row, or the defaults (unsaved) when they have none. A
        GET page reads them this way and never writes a row."""
        return cls.objects.filter(user=user).first() or cls(user=user)


def author_email(user: Any) -> str:
    """The email Treeherder knows a signed-in user's pushes by (their setting, else the account's)."""
    return UserSettings.of(user).effective_author_email


def confirm_times(user: Any) -> int:
    """How many runs "confirm failures" asks for by default: the signed-in user's setting."""
    return UserSettings.of(user).confirm_times


def default_repo(user: Any) -> str:
    """The push list `/` opens: the signed-in user's default repository, `try` for everyone else."""
    if not getattr(user, "is_authenticated", False):
        return "try"
    stored = UserSettings.objects.filter(user=user).values_list("default_repo", flat=True).first()
    return stored or "try"


class SSOIdentity(models.Model):
    """Which account an SSO subject signs in to: the provider's `sub` (stable, never reassigned, per
    OpenID Connect Core 2) under its issuer. Made at a user's first SSO sign-in; after that the subject
    finds the account even when its email changes, and an email that moved to another subject finds
    no account (see buildwatch.auth_oidc). Deleting it lets the account be linked again."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    email = models.EmailField(blank=True, help_text="The address the provider gave at the last sign-in.")
    linked_at = models.DateTimeField(auto_now_add=True)
    last_sign_in = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SSO identity"
        verbose_name_plural = "SSO identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_subject_once"),
            models.UniqueConstraint(fields=["user", "issuer"], name="sso_one_subject_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.subject} at {self.issuer}"


class TaskclusterCredentials(models.Model):
    """A user's own Taskcluster client, used only to retrigger jobs on their behalf. The access token
    is a password: stored encrypted (accounts.crypto), never shown back in full."""

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
