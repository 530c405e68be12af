"""What every notification channel is (healthchecks' transports, made small).

A channel is one module under notifications/channels/ with one `Channel` subclass, registered in
notifications/channels/__init__.py. The poller asks `wanted` when a push finishes (one ledger row per
wanted channel), the outbox asks `skip_reason` just before sending and then calls `send`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from accounts.models import UserSettings
    from notifications.models import Notification


class TransportError(Exception):
    """Sending failed; `permanent=True` means retrying cannot help (the row is marked failed at once).

    `retry_after` (seconds): the upstream said when to ask again (a rate limit, HTTP 429 Retry-After).
    The outbox then schedules the row for that time without counting the attempt as a failure.
    `uncertain=True`: the message may have been delivered all the same (the answer to it was lost);
    the outbox retries such a row at most once more, as the same message."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.uncertain = uncertain


class Channel:
    name: ClassVar[str]  # the value stored in Notification.channel, e.g. "email"
    label: ClassVar[str]  # human word, e.g. "Email", "Web push"
    # UserSettings fields the user fills in for this channel beside its `<name>_enabled` switch (e.g. an
    # address); the settings form shows them after the switch and disables them with it.
    settings_fields: ClassVar[tuple[str, ...]] = ()

    def unavailable_reason(self) -> str:
        """Empty when the operator configured this channel; else why not (shown on /settings/)."""
        return ""

    def wanted(self, user: Any, user_settings: UserSettings) -> bool:
        """Does this user want this channel (their settings)?"""
        raise NotImplementedError

    def skip_reason(self, notification: Notification, user_settings: UserSettings) -> str:
        """Empty: send it. Else why the row is skipped (turned off since queueing, no address, unavailable)."""
        return self.unavailable_reason()

    def clean_settings(self, cleaned_data: dict[str, Any]) -> dict[str, str]:
        """The settings form's check of this channel's fields: {field name: error message}, empty if fine."""
        return {}

    def settings_changed(self, user_settings: UserSettings, changed: list[str]) -> None:
        """The settings form is about to save `changed` fields: forget what depended on the old values."""

    def send(self, notification: Notification) -> None:
        """Deliver one ledger row; raises TransportError(message, permanent=bool)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
