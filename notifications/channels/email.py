"""The email channel: a "push finished" message (plain text + HTML) with one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

import email.message
import email.policy
import smtplib
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from notifications.channels.smtp import DeliveryUncertain
from notifications.models import ChannelSettings, Notification

from .base import Channel, TransportError
from .content import message_context

UNSUBSCRIBE_SALT = "buildwatch.notifications.unsubscribe"


def unsubscribe_token(user: Any) -> str:
    """A signed, non-expiring token naming the user: mail clients may click it months later."""
    return signing.dumps({"u": user.pk}, salt=UNSUBSCRIBE_SALT)


def user_from_unsubscribe_token(token: str) -> Any | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    # A correctly signed token can still carry anything JSON can (a string, a list, a huge number).
    user_id = data.get("u") if isinstance(data, dict) else None
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id < 2**63:
        return None
    return get_user_model().objects.filter(pk=user_id).first()


def unsubscribe_url(user: Any) -> str:
    return settings.SITE_URL + reverse("unsubscribe", args=[unsubscribe_token(user)])


TEMPLATES = {"final": "emails/push_finished", "early": "emails/early_alert", "followup": "emails/followup"}


class _VerbatimHeader(str):
    """A short ASCII header the mail library must neither fold nor RFC 2047-encode: Python's email
    package encodes a long unbroken URL as `=?utf-8?q?…?=`, which no mail client reads as a link."""

    name: str

    def __new__(cls, name: str, value: str) -> _VerbatimHeader:
        if not value.isascii() or len(name) + len(value) > 990 or "\n" in value or "\r" in value:
            raise ValueError(f"{name} cannot be sent verbatim")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: email.policy.Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


class NotificationEmail(EmailMultiAlternatives):
    def message(self, *, policy: email.policy.Policy = email.policy.default) -> email.message.EmailMessage:
        msg = super().message(policy=policy)
        for name in ("List-Unsubscribe",):
            value = self.extra_headers.get(name)
            if value:
                del msg[name]
                msg[name] = _VerbatimHeader(name, value)
        return msg


def message_id(notification: Notification) -> str:
    """The same Message-ID for every attempt at one ledger row: when a retry delivers a second copy,
    mail clients (and Gmail) collapse it into the first. Unique across databases: the row's creation
    time is in it, so a reset database reusing id 1 does not collide with old mail."""
    domain = urlsplit(settings.SITE_URL).hostname or "buildwatch.localhost"
    created = int(notification.created_at.timestamp() * 1_000_000) if notification.created_at else 0
    return f"<buildwatch.{notification.pk}.{created}@{domain}>"


def build_email(notification: Notification) -> EmailMultiAlternatives:
    context = {**message_context(notification), "unsubscribe_url": unsubscribe_url(notification.user)}
    subject = " ".join(f"{notification.title}: {context['push_title']}".split())[:200]
    message = NotificationEmail(
        subject=subject,
        body=render_to_string(TEMPLATES[notification.kind] + ".txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.user.email],
        headers={
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-BuildWatch-Push": f"{notification.repo}/{notification.push_id}",
            "X-BuildWatch-Kind": notification.kind,
            "Message-ID": message_id(notification),
        },
    )
    message.attach_alternative(render_to_string(TEMPLATES[notification.kind] + ".html", context), "text/html")
    return message


class EmailChannel(Channel):
    name = "email"
    label = "Email"
    switch_label = "By email"
    default_enabled = True

    def skip_reason(self, notification: Notification, prefs: ChannelSettings) -> str:
        if not prefs.enabled:
            return "email was turned off before delivery"
        if not notification.user.email:
            return "the account has no email address"
        return ""

    def send(self, notification: Notification) -> None:
        send_email(notification)


def send_email(notification: Notification) -> None:
    """Send one notification; mail-server trouble becomes TransportError (refused recipients: permanent)."""
    if not notification.user.email:
        raise TransportError("the account has no email address", permanent=True)
    message = build_email(notification)
    try:
        message.send(using="default")
    except smtplib.SMTPRecipientsRefused as problem:
        codes = [code for code, _ in problem.recipients.values()]
        permanent = bool(codes) and all(code >= 500 for code in codes)  # 4xx: try again later
        raise TransportError(f"recipient refused: {problem.recipients}", permanent=permanent) from problem
    except DeliveryUncertain as problem:
        raise TransportError(f"delivery uncertain: {problem}", uncertain=True) from problem
    except (smtplib.SMTPException, OSError) as problem:
        raise TransportError(f"mail server: {type(problem).__name__}: {problem}") from problem
