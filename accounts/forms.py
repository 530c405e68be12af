"""The sign-in form, and the Taskcluster credentials form of /settings/ (the rest of that page is
notifications.forms)."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UsernameField

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


class SignInForm(AuthenticationForm):
    """The password sign-in form: a username or the account's email (issue 28, item 5).

    An email is turned into its account's username before the password is checked, so the throttling
    (django-axes, which counts by the username `authenticate()` is given) counts one account once, however
    it is named. An email that names no account, or several, is checked as typed: it fails with the same
    error as a wrong password, and says nothing about which accounts exist."""

    username = UsernameField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username", "spellcheck": "false"}),
    )

    def clean_username(self) -> str:
        return username_for(self.cleaned_data["username"])


def username_for(login: str) -> str:
    """The username a sign-in name stands for: itself when an account has it as username, else the one
    account whose email it is (case-insensitive), else itself."""
    User = get_user_model()
    if "@" not in login or User.objects.filter(**{User.USERNAME_FIELD: login}).exists():
        return login
    matches = list(User.objects.filter(email__iexact=login).values_list(User.USERNAME_FIELD, flat=True)[:2])
    return matches[0] if len(matches) == 1 else login
