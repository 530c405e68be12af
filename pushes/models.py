"""The confirmations users asked for ("confirm failures") and their verdicts. A user's Taskcluster
credentials are accounts.models.TaskclusterCredentials."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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


class JobEvidence(models.Model):
    """What Treeherder says of one failed job once it will say no more: its bug suggestions (one per
    error line of its log, in Treeherder's own shape) and its log's final parse status. Read from
    Treeherder once, ever (pushes/evidence.py): a restart, a cache eviction or another viewer reads it
    here; evidence that can still change (a log not parsed yet) is never stored. A job's classification
    is not here: it comes with the jobs list, at triage time."""

    repo = models.CharField(max_length=100)
    job_id = models.PositiveBigIntegerField()
    push_id = models.PositiveBigIntegerField()
    parse_status = models.CharField(max_length=16)  # parsed | failed | skipped-size
    suggestions = models.JSONField(default=list)
    read_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "job evidence"
        constraints = [models.UniqueConstraint(fields=["repo", "job_id"], name="unique_job_evidence")]
        # read_at: the daily prune (pushes/evidence_store.py) finds old rows without reading the table.
        indexes = [models.Index(fields=["repo", "push_id"]), models.Index(fields=["read_at"])]

    def __str__(self) -> str:
        return f"evidence of {self.repo} job {self.job_id}"
