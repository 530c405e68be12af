"""Template helpers for the channels' sections of /settings/."""

from __future__ import annotations

from django import template

from notifications import channels

register = template.Library()


@register.simple_tag
def channel_unavailable_reason(name: str) -> str:
    """Empty when the operator configured the registered channel `name`; else why not."""
    return channels.get(name).unavailable_reason()
