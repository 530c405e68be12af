"""The channel registry: every way BuildWatch can tell a user that a push finished.

Adding a channel is one module here (a `Channel` subclass, see base.py) and one line in CHANNELS: a
user's settings of it are a ChannelSettings row (on/off, and the config its `config_fields` name), so no
migration. The order is the order of the settings page and of the ledger rows made for a finished push.
"""

from __future__ import annotations

from .base import Channel, TransportError
from .email import EmailChannel
from .matrix import MatrixChannel
from .webpush import WebPushChannel

CHANNELS: dict[str, Channel] = {
    channel.name: channel for channel in (EmailChannel(), WebPushChannel(), MatrixChannel())
}


def all() -> tuple[Channel, ...]:
    """Every registered channel, in order (shadows the builtin only inside this module)."""
    return tuple(CHANNELS.values())


def get(name: str) -> Channel:
    """The channel stored as `name` in Notification.channel; KeyError when there is no such channel."""
    return CHANNELS[name]


def enabled_field(channel: Channel) -> str:
    """The settings form's on/off switch of a channel (ChannelSettings.enabled)."""
    return f"{channel.name}_enabled"


def settings_fields(channel: Channel) -> tuple[str, ...]:
    """Every field of a channel on the settings form: its switch, then its config's fields."""
    return (enabled_field(channel), *channel.config_fields())


def choices() -> list[tuple[str, str]]:
    """Notification.channel's choices (the model reads them through a callable: no migration per channel)."""
    return [(channel.name, channel.label) for channel in CHANNELS.values()]


__all__ = [
    "CHANNELS",
    "Channel",
    "TransportError",
    "all",
    "choices",
    "enabled_field",
    "get",
    "settings_fields",
]
