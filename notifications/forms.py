"""The settings form: what the mobile app kept on the device, validated on the server."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from accounts.models import UserSettings

from . import channels

REPO_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class SettingsForm(forms.ModelForm):
    class Meta:
        model = UserSettings
        fields = [
            "author_email",
            "default_repo",
            "notifications_enabled",
            *(name for channel in channels.all() for name in channels.settings_fields(channel)),
            "auto_watch",
            "early_alerts",
            "confirm_times",
        ]
        labels = {
            "author_email": "Treeherder author email",
            "default_repo": "Default repository",
            "notifications_enabled": "Notify me when a watched push finishes",
            # A channel's switch reads "By <its label>" unless named here.
            **{channels.enabled_field(channel): f"By {channel.label}" for channel in channels.all()},
            "email_enabled": "By email",
            "webpush_enabled": "By browser push notification",
            "matrix_enabled": "By Matrix direct message",
            "auto_watch": "Watch all my new try pushes automatically",
            "early_alerts": "Early alert at a watched push's first new failure",
            "confirm_times": "Confirm failures: runs of each failing job",
        }
        widgets = {"confirm_times": forms.NumberInput(attrs={"min": 1, "max": 5})}
        help_texts = {
            "early_alerts": "One message while the push still runs, once the failure's log and bug suggestions "
            "show it is new (not a known intermittent); the final one still comes when it finishes.",
            "default_repo": "The push list that opens first, e.g. try, autoland or mozilla-central.",
            "auto_watch": "Every new try push whose author is your Treeherder email is watched for you.",
            "matrix_id": "Your full Matrix user ID, e.g. @you:mozilla.org. The BuildWatch bot invites you to a "
            "direct chat with the first message.",
        }
        widgets = {
            "matrix_id": forms.TextInput(
                attrs={"placeholder": "@you:mozilla.org", "autocapitalize": "none", "spellcheck": "false"}
            ),
        }
        error_messages = {
            "author_email": {"invalid": "Enter a full email address, like you@mozilla.com."},
            "default_repo": {"required": "Enter a repository name, e.g. try."},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["confirm_times"].required = False
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
        repo.widget.attrs.update(
            {"autocapitalize": "none", "spellcheck": "false", "pattern": REPO_NAME_RE.pattern}
        )
        self.unavailable = {channel.name: channel.unavailable_reason() for channel in channels.all()}
        for channel in channels.all():
            reason = self.unavailable[channel.name]
            if reason:
                # A disabled field ignores whatever is posted and keeps the stored value.
                for name in channels.settings_fields(channel):
                    self.fields[name].disabled = True
                self.fields[channels.enabled_field(channel)].help_text = f"Not available: {reason}."

    def channel_fields(self) -> list[forms.BoundField]:
        """Each channel's on/off switch and its own fields, in the registry's order (the settings page
        lists them)."""
        return [self[name] for channel in channels.all() for name in channels.settings_fields(channel)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for channel in channels.all():
            if self.unavailable[channel.name]:
                continue  # its fields are disabled: the stored values stay as they are
            for name, error in channel.clean_settings(cleaned).items():
                if name not in self.errors:
                    self.add_error(name, error)
        return cleaned

    def save(self, commit: bool = True) -> UserSettings:
        for channel in channels.all():
            channel.settings_changed(self.instance, self.changed_data)
        return super().save(commit=commit)

    def clean_confirm_times(self) -> int:
        times = self.cleaned_data.get("confirm_times")
        if times is None:  # left empty (or an older form): keep what was saved
            return self.instance.confirm_times or 3
        if not 1 <= times <= 5:
            raise forms.ValidationError("Between 1 and 5 runs.")
        return times

    def clean_default_repo(self) -> str:
        value = self.cleaned_data["default_repo"].strip()
        if not REPO_NAME_RE.match(value):
            raise forms.ValidationError(
                "A repository name is lowercase letters, digits, dots, dashes or underscores "
                "and starts with a letter or digit, e.g. try or mozilla-central.",
                code="invalid_repo",
            )
        return value
