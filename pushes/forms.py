"""Forms of the pushes app: the push pages' query parameters (bad values fall back to defaults, never a
500), the Retrigger button's count, and the Taskcluster credentials on /settings/."""

from __future__ import annotations

import re

from django import forms

from .retrigger import MAX_TIMES

DEFAULT_COUNT = 20
MAX_COUNT = 100
# Taskcluster's own schemas for a client id and an access token.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9!@/:.+|_-]+$")
ACCESS_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22,66}$")


class PushListQuery(forms.Form):
    author = forms.CharField(required=False, max_length=254, strip=True)
    count = forms.CharField(required=False)
    id__lt = forms.IntegerField(required=False, min_value=1)

    def clean_count(self) -> int:
        raw = self.cleaned_data.get("count")
        try:
            count = int(raw)
        except (TypeError, ValueError):
            return DEFAULT_COUNT
        return max(1, min(MAX_COUNT, count))


def push_list_query(params: dict) -> dict:
    """count (1..100, default 20), id__lt (None when absent or not a positive integer), author."""
    form = PushListQuery(params)
    form.is_valid()
    data = form.cleaned_data
    return {
        "author": data.get("author", "") if "author" in form.cleaned_data else "",
        "count": data.get("count", DEFAULT_COUNT),
        "id_lt": data.get("id__lt"),
    }


class JobsQuery(forms.Form):
    """Which jobs a group fragment shows: one tier-1 platform group, or every tier-2/3 job."""

    platform = forms.CharField(required=False, max_length=200)
    option = forms.CharField(required=False, max_length=200)
    tier = forms.ChoiceField(required=False, choices=[("1", "tier 1"), ("other", "tier 2 and 3")])

    def clean_tier(self) -> str:
        return self.cleaned_data.get("tier") or "1"


class RetriggerForm(forms.Form):
    times = forms.IntegerField(min_value=1, max_value=MAX_TIMES, required=False)


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
