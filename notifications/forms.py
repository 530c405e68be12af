"""The settings form: what the mobile app kept on the device, validated on the server. The user's
UserSettings (accounts) and, for each registered channel, their ChannelSettings: its on/off switch
(`<channel>_enabled`) and its config's fields (`Channel.config_fields`)."""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

from django import forms
from django.db import transaction

from accounts.models import UserSettings
from pushes.rules import REPO_NAME

from . import channels
from .models import ChannelSettings


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone this system knows, by name, after "the browser's"."""
    return [("", "The browser's"), *((name, name.replace("_", " ")) for name in sorted(zone_names()))]


@functools.cache
def zone_names() -> frozenset[str]:
    return frozenset(name for name in zoneinfo.available_timezones() if "/" in name or name == "UTC")


class SettingsForm(forms.ModelForm):
    class Meta:
        model = UserSettings
        fields = [
            "author_email",
            "default_repo",
            "notifications_enabled",
            "auto_watch",
            "early_alerts",
            "confirm_times",
            "time_zone",
        ]
        labels = {
            "author_email": "Treeherder author email",
            "default_repo": "Default repository",
            "notifications_enabled": "Notify me when a watched push finishes",
            "auto_watch": "Watch all my new try pushes automatically",
            "early_alerts": "Early alert at a watched push's first new failure",
            "confirm_times": "Confirm failures: runs of each failing job",
            "time_zone": "Time zone",
        }
        help_texts = {
            "early_alerts": "One message while the push still runs, once the failure's log and bug suggestions "
            "show it is new (not a known intermittent); the final one still comes when it finishes.",
            "default_repo": "The push list that opens first, e.g. try, autoland or mozilla-central.",
            "auto_watch": "Every new try push whose author is your Treeherder email is watched for you.",
        }
        error_messages = {
            "author_email": {"invalid": "Enter a full email address, like you@mozilla.com."},
            "default_repo": {"required": "Enter a repository name, e.g. try."},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["confirm_times"].required = False
        self.fields["time_zone"] = forms.ChoiceField(
            label="Time zone",
            required=False,
            choices=time_zone_choices(),
            help_text="For the estimated finish and other times on the pages and in emails. Your browser's "
            "(when it says which) or else UTC, unless you choose one.",
        )
        account_email = self.instance.user.email if self.instance.user_id else ""
        email = self.fields["author_email"]
        email.widget.attrs.update(
            {"placeholder": account_email or "you@mozilla.com", "autocomplete": "email"}
        )
        email.help_text = (
            f"The email your pushes carry on Treeherder. Empty means your account email ({account_email})."
            if account_email
            else "The email your pushes carry on Treeherder."
        )
        repo = self.fields["default_repo"]
        repo.widget.attrs.update({"autocapitalize": "none", "spellcheck": "false", "pattern": REPO_NAME})
        self.channel_settings = ChannelSettings.all_of(self.instance.user) if self.instance.user_id else {}
        self.unavailable = {channel.name: channel.unavailable_reason() for channel in channels.all()}
        for channel in channels.all():
            prefs = self.channel_settings.get(channel.name)
            switch = forms.BooleanField(
                required=False,
                label=channel.switch_label or f"By {channel.label}",
                initial=prefs.enabled if prefs else channel.default_enabled,
            )
            self.fields[channels.enabled_field(channel)] = switch
            for name, field in channel.config_fields().items():
                field.initial = prefs.config.get(name, "") if prefs else ""
                self.fields[name] = field
            reason = self.unavailable[channel.name]
            if reason:
                # A disabled field ignores whatever is posted and keeps the stored value.
                for name in channels.settings_fields(channel):
                    self.fields[name].disabled = True
                switch.help_text = f"Not available: {reason}."

    def channel_fields(self) -> list[forms.BoundField]:
        """Each channel's on/off switch and its own fields, in the registry's order (the settings page
        lists them)."""
        return [self[name] for channel in channels.all() for name in channels.settings_fields(channel)]

    def _channel_values(self, channel: channels.Channel) -> tuple[bool, dict[str, Any]]:
        enabled = bool(self.cleaned_data.get(channels.enabled_field(channel)))
        return enabled, {name: self.cleaned_data.get(name) or "" for name in channel.config_fields()}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for channel in channels.all():
            if self.unavailable[channel.name]:
                continue  # its fields are disabled: the stored values stay as they are
            for name, error in channel.clean_config(*self._channel_values(channel)).items():
                if name not in self.errors:
                    self.add_error(name, error)
        return cleaned

    @transaction.atomic
    def save(self, commit: bool = True) -> UserSettings:
        user_settings = super().save(commit=commit)
        if commit:
            for channel in channels.all():
                prefs = self.channel_settings[channel.name]
                enabled, config = self._channel_values(channel)
                prefs.enabled, prefs.config = enabled, {**prefs.config, **config}
                changed = [name for name in channels.settings_fields(channel) if name in self.changed_data]
                channel.settings_changed(prefs, changed)
                prefs.save()
        return user_settings

    def clean_confirm_times(self) -> int:
        times = self.cleaned_data.get("confirm_times")
        if times is None:  # left empty (or an older form): keep what was saved
            return self.instance.confirm_times or 3
        if not 1 <= times <= 5:
            raise forms.ValidationError("Between 1 and 5 runs.")
        return times

    def clean_default_repo(self) -> str:
        # Treeherder's repository names are lowercase: "Try" is taken as try.
        value = self.cleaned_data["default_repo"].strip().lower()
        if not re.fullmatch(REPO_NAME, value):
            raise forms.ValidationError(
                "A repository name is lowercase letters, digits, dots, dashes or underscores "
                "and starts with a letter or digit, e.g. try or mozilla-central.",
                code="invalid_repo",
            )
        return value
