"""Watches, the poller's per-push state and job rows, the notification ledger, web-push subscriptions and
the Matrix bot's login, and each user's settings of each channel. A user's other settings are
accounts.models.UserSettings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


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
    # The rest of the tally an incremental poll keeps up to date from the jobs that changed alone
    # (notifications/jobstore.py): jobs still unscheduled/pending/running, running, and not decision/action.
    unfinished_count = models.PositiveIntegerField(default=0)
    running_count = models.PositiveIntegerField(default=0)
    work_count = models.PositiveIntegerField(default=0)
    # Incremental polling: the newest `last_modified` seen; the jobs themselves are PushJob rows.
    jobs_cursor = models.CharField(max_length=40, blank=True)
    last_full_read_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # The push's Taskcluster task group (its decision task's id, from the jobs): which push a Pulse
    # message is about (notifications/pulse.py).
    task_group = models.CharField(max_length=64, blank=True, db_index=True, db_default="", default="")
    # Set when a poll found the push looking finished: the confirming read is due then (settle rule).
    confirm_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Computed once when the push finishes, rendered into every watcher's email: counts, failing
    # platform groups, top failure groups (see notifications.summary.finished_summary).
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "push_id"], name="unique_push_state")]

    def __str__(self) -> str:
        return f"{self.repo} push {self.push_id} ({self.state})"


class PushJob(models.Model):
    """One job of a watched push as the poller last saw it: the compact fields of
    notifications.snapshot.SNAPSHOT_FIELDS. A row per job, so a poll writes only the jobs that changed."""

    push = models.ForeignKey(PushState, on_delete=models.CASCADE, related_name="jobs")
    job_id = models.PositiveBigIntegerField()
    data = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["push", "job_id"], name="unique_push_job")]

    def __str__(self) -> str:
        return f"job {self.job_id} of {self.push}"


class Watch(models.Model):
    """A user asked to be told when (repo, push_id) finishes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches")
    repo = models.CharField(max_length=100)
    push_id = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    auto = models.BooleanField(default=False, help_text="Added by auto-watch, not by a click.")
    last_state = models.CharField(max_length=16, blank=True)
    early_alert = models.BooleanField(
        default=True, db_default=True, help_text="An early alert at its first new failure."
    )
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
    """The exactly-once ledger: one row per (user, push, channel, kind, occasion), claimed before sending."""

    class Kind(models.TextChoices):
        FINAL = "final", "finished"
        EARLY = "early", "early alert"
        FOLLOWUP = "followup", "follow-up verdict"

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
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FINAL, db_default=Kind.FINAL)
    # Which one of its kind, where a push may have several: a follow-up names the first confirmation it
    # reports ("confirm:<ConfirmRequest id>"), each later batch of confirmations getting its own. Empty for
    # the final and the early message, of which there is one each.
    occasion = models.CharField(max_length=64, blank=True, default="", db_default="")
    # What an early alert or a follow-up says (the final one reads PushState.summary instead).
    detail = models.JSONField(default=dict, db_default={}, blank=True)
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
            models.UniqueConstraint(
                fields=["user", "repo", "push_id", "channel", "kind", "occasion"],
                name="unique_notification_occasion",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} to {self.user} for {self.repo} push {self.push_id}: {self.status}"


class ChannelSettings(models.Model):
    """One user's settings of one channel: on or off, and the small JSON config the channel names and
    validates (notifications/channels/base.py: `config_fields`, `state_keys`, `config_errors`), e.g.
    Matrix's {"matrix_id": "@you:mozilla.org", "room_id": "!…"}. A user without a row has the channel's
    defaults (`Channel.default_enabled`, an empty config). Adding a channel adds rows, never a migration."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_settings"
    )
    channel = models.CharField(max_length=16, choices=channel_choices)
    enabled = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "channel settings"
        constraints = [models.UniqueConstraint(fields=["user", "channel"], name="unique_channel_settings")]

    def __str__(self) -> str:
        return f"{self.channel} settings of {self.user}"

    def clean(self) -> None:
        from .channels import CHANNELS

        channel = CHANNELS.get(self.channel)
        errors = channel.config_errors(self.enabled, self.config) if channel is not None else {}
        if errors:
            raise ValidationError({"config": [f"{name}: {error}" for name, error in errors.items()]})

    @classmethod
    def all_of(cls, user: Any) -> dict[str, ChannelSettings]:
        """The user's settings of every registered channel, stored or the defaults (unsaved): one query."""
        from .channels import CHANNELS

        stored = {row.channel: row for row in cls.objects.filter(user=user)} if user.pk else {}
        return {
            name: stored.get(name) or cls(user=user, channel=name, enabled=channel.default_enabled, config={})
            for name, channel in CHANNELS.items()
        }

    @classmethod
    def of(cls, user: Any, channel: str) -> ChannelSettings:
        """The user's settings of one channel, stored or the defaults (unsaved)."""
        from .channels import CHANNELS

        stored = cls.objects.filter(user=user, channel=channel).first()
        default = CHANNELS[channel].default_enabled if channel in CHANNELS else False
        return stored or cls(user=user, channel=channel, enabled=default, config={})


class MatrixLogin(models.Model):
    """The access token the Matrix bot got by logging in with MATRIX_USER/MATRIX_PASSWORD, shared by every
    process so that it logs in once, not once per worker (homeservers rate-limit logins)."""

    homeserver = models.CharField(max_length=255)
    user = models.CharField(max_length=255)
    access_token = models.TextField(help_text="Encrypted like Taskcluster tokens.")
    device_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["homeserver", "user"], name="unique_matrix_login")]

    def __str__(self) -> str:
        return f"Matrix login of {self.user} on {self.homeserver}"


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


__all__ = [
    "PushState",
    "PushJob",
    "Watch",
    "Notification",
    "PushSubscription",
    "MatrixLogin",
    "ChannelSettings",
]
