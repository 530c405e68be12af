"""The Taskcluster credentials form of /settings/ (the rest of that page is notifications.forms)."""

from __future__ import annotations

import re

from django import forms

# Taskcluster's own schemas for a client id and an access token.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9!@/:.+|_-]+$")
ACCESS_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22,66}$")


class TaskclusterCredentialsForm(forms.Form):
    client_id = forms.CharField(
        label="Client id",
        max_length=256,
        help_text="The Taskcluster client you created for BuildWatch, e.g. mozilla-auth0/ad|Mozilla-LDAP|you/buildwatch.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    access_token = forms.CharField(
        label="Access token",
        max_length=66,
        strip=True,
        help_text="Shown once by Taskcluster when you create or reset the client. Stored encrypted; never shown again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )

    def clean_client_id(self) -> str:
        value = self.cleaned_data["client_id"].strip()
        if not CLIENT_ID_RE.match(value):
            raise forms.ValidationError("A client id has letters, digits and !@/:.+|_- only, no spaces.")
        return value

    def clean_access_token(self) -> str:
        value = self.cleaned_data["access_token"]
        if not ACCESS_TOKEN_RE.match(value):
            raise forms.ValidationError("An access token is 22 to 66 letters, digits, - or _.")
        return value
