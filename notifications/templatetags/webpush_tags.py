"""Template helpers for the web push section of /settings/."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.db.models import QuerySet

from notifications import channels, selectors
from notifications.channels.webpush.user_agent import browser_label as _browser_label
from notifications.models import PushSubscription

register = template.Library()


@register.simple_tag
def webpush_public_key() -> str:
    return settings.VAPID_PUBLIC_KEY


@register.simple_tag
def webpush_unavailable_reason() -> str:
    """Empty when the operator configured web push (the section then offers to subscribe)."""
    return channels.get("webpush").unavailable_reason()


@register.simple_tag
def webpush_subscriptions(user: object) -> QuerySet[PushSubscription] | list[PushSubscription]:
    if not getattr(user, "is_authenticated", False):
        return []
    return selectors.push_subscriptions(user)


@register.filter
def browser_label(user_agent: str) -> str:
    return _browser_label(user_agent)
