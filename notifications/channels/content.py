"""What every channel says about a notification, in one place: the push's title, verdict and triage,
its failure groups and counts, and the links (BuildWatch's push page, Treeherder, confirm failures,
settings). Email renders all of it, Matrix a shorter chat message, web push a title, a line and the
push page's link; each channel adds only what is its own (email: the unsubscribe link)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.models import UserSettings
from notifications.models import Notification, PushState
from pushes import eta_text, links, verdict


def push_page_url(repo: str, push_id: int) -> str:
    """The push's page on BuildWatch, absolute (messages are read outside the site)."""
    return settings.SITE_URL + reverse("push_detail", args=[repo, push_id])


def message_context(notification: Notification) -> dict[str, Any]:
    """The template context of a message about `notification`'s push: what the poller stored when it
    finished (PushState.summary), or the ledger row's own text and detail for an early alert or a
    follow-up."""
    state = PushState.objects.filter(repo=notification.repo, push_id=notification.push_id).first()
    summary = (state.summary if state else None) or {}
    title = (
        (state.title if state else "") or notification.body.split("\n")[-1] or f"push {notification.push_id}"
    )
    revision = state.revision if state else ""
    return {
        "notification": notification,
        "user": notification.user,
        "headline": notification.title,
        "push_title": title,
        "repo": notification.repo,
        "push_id": notification.push_id,
        "author": state.author if state else "",
        "revision": revision[:12],
        "failed": bool(summary.get("failed", notification.title.endswith("failed"))),
        "summary": summary,
        "known_only": summary.get("verdict") == verdict.Verdict.KNOWN,
        "new_groups": [group for group in summary.get("failure_groups", []) if group.get("triage") == "new"],
        "other_groups": [
            group for group in summary.get("failure_groups", []) if group.get("triage") != "new"
        ],
        # Every failed job the failure summary considered (summaries stored before it: tier 1 only).
        "failed_total": summary.get("failed_total", summary.get("failed_jobs", 0)),
        "push_url": push_page_url(notification.repo, notification.push_id),
        "treeherder_url": links.treeherder_push_url(settings.TREEHERDER_URL, notification.repo, revision),
        "settings_url": settings.SITE_URL + "/settings/",
        "site_url": settings.SITE_URL,
        "detail": notification.detail,
        "confirm_url": settings.SITE_URL
        + reverse("confirm_failures", args=[notification.repo, notification.push_id]),
        "early": _early_alert(notification),
        # An early alert's "The rest should finish around 14:20 (…)", in the user's time zone.
        "finish_sentence": eta_text.alert_sentence(
            notification.detail or {}, UserSettings.of(notification.user).time_zone
        )
        if notification.kind == Notification.Kind.EARLY
        else "",
    }


def _early_alert(notification: Notification) -> Notification | None:
    """For the final message: the early alert this user got for the push, to say what happened since."""
    if notification.kind != Notification.Kind.FINAL:
        return None
    return Notification.objects.filter(
        user=notification.user, repo=notification.repo, push_id=notification.push_id,
        kind=Notification.Kind.EARLY, status=Notification.Status.SENT,
    ).first()  # fmt: skip
