"""Template helpers for the channels' sections of /settings/."""

from __future__ import annotations

from typing import Any

from django import template

from notifications import channels
from notifications.models import ChannelSettings

register = template.Library()


@register.simple_tag
def channel_unavailable_reason(name: str) -> str:
    """Empty when the operator configured the registered channel `name`; else why not."""
    return channels.get(name).unavailable_reason()


@register.simple_tag
def channel_settings(user: Any, name: str) -> ChannelSettings | None:
    """The signed-in user's settings of the registered channel `name` (stored or the defaults), e.g.
    `{% channel_settings user "matrix" as matrix %}{{ matrix.config.matrix_id }}`; None when signed out."""
    if not getattr(user, "is_authenticated", False):
        return None
    return ChannelSettings.of(user, name)
