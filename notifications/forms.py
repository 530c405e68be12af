"""The settings form: what the mobile app kept on the device, validated on the server."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from .channels import matrix
from .models import UserSettings

REPO_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
WEBPUSH_UNAVAILABLE = (
    "Not available: this server has no VAPID keys configured (VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY)."
)


class SettingsForm(forms.ModelForm):
    class Meta:
        model = UserSettings
        fields = [
            "author_email",
            "default_repo",
            "notifications_enabled",
            "email_enabled",
            "webpush_enabled",
            "matrix_enabled",
            "matrix_id",
            "auto_watch",
        ]
        labels = {
            "author_email": "Treeherder author email",
            "default_repo": "Default repository",
            "notifications_enabled": "Notify me when a watched push finishes",
            "email_enabled": "By email",
            "webpush_enabled": "By browser push notification",
            "matrix_enabled": "By Matrix direct message",
            "matrix_id": "Matrix ID",
            "auto_watch": "Watch all my new try pushes automatically",
        }
        help_texts = {
            "default_repo": "The push list that opens first, e.g. try, autoland or mozilla-central.",
            "auto_watch": "Every new try push whose author is your Treeherder email is watched for you.",
            "matrix_id": "Your full Matrix user ID, e.g. @you:mozilla.org. The BuildWatch bot invites you to a "
            "direct chat with the first message.",
        }
        error_messages = {
            "author_email": {"invalid": "Enter a full email address, like you@mozilla.com."},
            "default_repo": {"required": "Enter a repository name, e.g. try."},
        }

    def __init__(self, *args: Any, webpush_available: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
        self.webpush_available = webpush_available
        if not webpush_available:
            # A disabled field ignores whatever is posted and keeps the stored value.
            webpush = self.fields["webpush_enabled"]
            webpush.disabled = True
            webpush.help_text = WEBPUSH_UNAVAILABLE
        self.matrix_unavailable = matrix.channel.unavailable_reason()
        self.fields["matrix_id"].widget.attrs.update(
            {"placeholder": "@you:mozilla.org", "autocapitalize": "none", "spellcheck": "false"}
        )
        if self.matrix_unavailable:
            for name in ("matrix_enabled", "matrix_id"):
                self.fields[name].disabled = True
            self.fields["matrix_enabled"].help_text = f"Not available: {self.matrix_unavailable}."

    def clean_matrix_id(self) -> str:
        value = self.cleaned_data["matrix_id"].strip()
        if value and not matrix.valid_matrix_id(value):
            raise forms.ValidationError(
                "A Matrix ID looks like @name:server, e.g. @you:mozilla.org: lowercase letters, digits and "
                "._=-/+ before the colon, the server name after it.",
                code="invalid_matrix_id",
            )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("matrix_enabled") and not cleaned.get("matrix_id") and "matrix_id" not in self.errors:
            self.add_error("matrix_id", "Enter your Matrix ID to get Matrix messages.")
        return cleaned

    def save(self, commit: bool = True) -> UserSettings:
        if "matrix_id" in self.changed_data:
            self.instance.matrix_room_id = ""  # the old room was for the old ID
        return super().save(commit=commit)

    def clean_default_repo(self) -> str:
        value = self.cleaned_data["default_repo"].strip()
        if not REPO_NAME_RE.match(value):
            raise forms.ValidationError(
                "A repository name is lowercase letters, digits, dots, dashes or underscores "
                "and starts with a letter or digit, e.g. try or mozilla-central.",
                code="invalid_repo",
            )
        return value
