"""Per-user settings, watches, the poller's per-push state and the notification ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserSettings(models.Model):
    """What the mobile app kept on the device (username, notificationsEnabled), per user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="buildwatch")
    author_email = models.EmailField(
        blank=True, help_text="Your Treeherder author email; empty means your account email."
    )
    notifications_enabled = models.BooleanField(default=True)
    email_enabled = models.BooleanField(default=True)
    webpush_enabled = models.BooleanField(default=False)
    default_repo = models.CharField(max_length=100, default="try")
    auto_watch = models.BooleanField(
        default=False, help_text="Watch every new push whose author is my Treeherder email."
    )
    # When auto-watch was last switched on: only pushes newer than this are watched automatically.
    auto_watch_since = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user settings"
        verbose_name_plural = "user settings"

    def __str__(self) -> str:
        return f"settings of {self.user}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.auto_watch and self.auto_watch_since is None:
            from django.utils import timezone

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
    def for_user(cls, user: object) -> UserSettings:
        obj, _ = cls.objects.get_or_create(user=user)
        return obj


class PushState(models.Model):
    """What the poller last saw of one push, shared by every user watching it."""

    class State(models.TextChoices):
        UNKNOWN = "unknown", "not polled yet"
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        FINISHED = "finished", "finished"

    repo = models.CharField(max_length=100)
    push_id = models.PositiveBigIntegerField()
    revision = models.CharField(max_length=40, blank=True)
    author = models.CharField(max_length=255, blank=True)
    title = models.TextField(blank=True)
    push_timestamp = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNKNOWN)
    job_count = models.PositiveIntegerField(null=True, blank=True)
    completed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    # Incremental polling: the newest `last_modified` seen, and the compact jobs snapshot it extends.
    jobs_cursor = models.CharField(max_length=40, blank=True)
    jobs_snapshot = models.JSONField(default=dict, blank=True)
    last_full_read_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Computed once when the push finishes, rendered into every watcher's email: counts, failing
    # platform groups, top failure groups (see notifications.poller.finished_summary).
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "push_id"], name="unique_push_state")]

    def __str__(self) -> str:
        return f"{self.repo} push {self.push_id} ({self.state})"


class Watch(models.Model):
    """A user asked to be told when (repo, push_id) finishes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches")
    repo = models.CharField(max_length=100)
    push_id = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    auto = models.BooleanField(default=False, help_text="Added by auto-watch, not by a click.")
    last_state = models.CharField(max_length=16, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repo", "push_id"], name="unique_watch")]
        indexes = [models.Index(fields=["repo", "push_id"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} watches {self.repo} push {self.push_id}"


def channel_choices() -> list[tuple[str, str]]:
    """Notification.channel's choices: the channel registry's names and labels. A callable, so adding
    a channel needs no migration; imported when first needed because the channels import these models."""
    from .channels import choices

    return choices()


class Notification(models.Model):
    """The exactly-once ledger: one row per (user, push, channel), claimed before sending."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        SKIPPED = "skipped", "skipped"
        # Two attempts each lost the answer after the message went out: it may or may not have arrived,
        # and BuildWatch sends it no third time.
        UNCERTAIN = "uncertain", "delivery uncertain"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    repo = models.CharField(max_length=100)
    push_id = models.PositiveBigIntegerField()
    channel = models.CharField(max_length=16, choices=channel_choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    title = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # An attempt may have delivered although it was not known to succeed (an answer lost after the
    # message was sent, or a worker that died mid-send): at most one more attempt is made, the same
    # message (email Message-ID, web push Topic), so a second copy replaces or collapses into the first.
    uncertain = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Backoff after a failed attempt: nobody claims the row before this moment.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "repo", "push_id", "channel"], name="unique_notification")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.user} for {self.repo} push {self.push_id}: {self.status}"


class PushSubscription(models.Model):
    """A browser's web-push subscription (one per browser a user subscribed from)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=2000, unique=True)
    p256dh = models.CharField(max_length=255)
    auth = models.CharField(max_length=255)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"push subscription of {self.user}"


__all__ = ["UserSettings", "PushState", "Watch", "Notification", "PushSubscription"]
