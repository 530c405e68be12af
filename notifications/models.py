"""Per-user settings and sign-in identities, watches, the poller's per-push state and the notification ledger."""

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
    # Matrix (notifications/channels/matrix.py): the user's ID, and the direct room the bot opened for them.
    matrix_id = models.CharField("Matrix ID", max_length=255, blank=True)
    matrix_enabled = models.BooleanField(default=False)
    matrix_room_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="The direct room the bot opened; empty: opened with the next message.",
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
    # platform groups, top failure groups (see notifications.poller.finished_summary).
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


__all__ = ["UserSettings", "PushState", "PushJob", "Watch", "Notification", "PushSubscription", "MatrixLogin"]
