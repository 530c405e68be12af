"""What every notification channel is (healthchecks' transports, made small).

A channel is one module under notifications/channels/ with one `Channel` subclass, registered in
notifications/channels/__init__.py. Its settings are a user's ChannelSettings row of it (on/off and a small
JSON config the channel validates): adding a channel needs no migration. The poller asks `wanted` when a
push finishes (one ledger row per wanted channel), the outbox asks `skip_reason` just before sending and
then calls `send`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms

if TYPE_CHECKING:
    from notifications.models import ChannelSettings, Notification


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
    name: ClassVar[str]  # the value stored in Notification.channel and ChannelSettings.channel, e.g. "email"
    label: ClassVar[str]  # human word, e.g. "Email", "Web push"
    # The settings page's switch, e.g. "By email"; "By <label>" unless a channel names it.
    switch_label: ClassVar[str] = ""
    # On for a user who never saved the channel's settings (no ChannelSettings row)?
    default_enabled: ClassVar[bool] = False
    # Keys of ChannelSettings.config the channel itself writes (e.g. a room it opened), never a form.
    state_keys: ClassVar[tuple[str, ...]] = ()

    def config_fields(self) -> dict[str, forms.Field]:
        """The settings form's fields of this channel beside its switch (e.g. an address), new each call.
        Each one's name is its key in ChannelSettings.config; the form shows them after the switch and
        disables them with it. Name them after the channel (`matrix_id`): they share the form."""
        return {}

    def unavailable_reason(self) -> str:
        """Empty when the operator configured this channel; else why not (shown on /settings/)."""
        return ""

    def wanted(self, user: Any, prefs: ChannelSettings) -> bool:
        """Does this user want this channel (`prefs`: their settings of it)?"""
        return prefs.enabled

    def skip_reason(self, notification: Notification, prefs: ChannelSettings) -> str:
        """Empty: send it. Else why the row is skipped (turned off since queueing, no address, unavailable)."""
        return self.unavailable_reason()

    def clean_config(self, enabled: bool, config: dict[str, Any]) -> dict[str, str]:
        """The check of this channel's settings beyond each field's own: {field name: error message},
        empty if fine. The settings form and the admin both ask."""
        return {}

    def config_errors(self, enabled: bool, config: object) -> dict[str, str]:
        """Why a stored config is not valid for this channel (the admin's check of ChannelSettings):
        a JSON object of its own keys, each form field's value one its field accepts, then clean_config."""
        if not isinstance(config, dict):
            return {"config": "The configuration is a JSON object, e.g. {}."}
        fields = self.config_fields()
        unknown = sorted(set(config) - set(fields) - set(self.state_keys))
        if unknown:
            return {"config": f"Unknown keys for {self.label}: {', '.join(unknown)}."}
        errors = {}
        for key in self.state_keys:
            if not isinstance(config.get(key, ""), str):
                errors[key] = "A text value."
        for name, field in fields.items():
            try:
                field.clean(config.get(name, ""))
            except forms.ValidationError as error:
                errors[name] = " ".join(error.messages)
        return errors or self.clean_config(enabled, config)

    def settings_changed(self, prefs: ChannelSettings, changed: list[str]) -> None:
        """The settings form is about to save `changed` fields (its field names) into `prefs`: forget
        what depended on the old values."""

    def send(self, notification: Notification) -> None:
        """Deliver one ledger row; raises TransportError(message, permanent=bool)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
