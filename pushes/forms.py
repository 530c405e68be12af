"""Forms of the pushes app: the push pages' query parameters (bad values fall back to defaults, never a
500) and the Retrigger button's count."""

from __future__ import annotations

from django import forms

from . import paging
from .retrigger import MAX_TIMES

DEFAULT_COUNT = 20
MAX_COUNT = 100


MAX_AUTHOR = 254  # the longest email address (RFC 5321's path); Treeherder keeps 150 characters


class PushListQuery(forms.Form):
    author = forms.CharField(required=False, max_length=MAX_AUTHOR, strip=True)
    count = forms.CharField(required=False)
    id__lt = forms.IntegerField(required=False, min_value=1)  # the old "Older pushes" links: redirected

    def clean_count(self) -> int:
        raw = self.cleaned_data.get("count")
        try:
            count = int(raw)
        except (TypeError, ValueError):
            return DEFAULT_COUNT
        return max(1, min(MAX_COUNT, count))


def push_list_query(params: dict) -> dict:
    """count (1..100, default 20), author, where "Older pushes" starts (`older`: pushes.paging, None on
    the first page), and id__lt (None when absent or not a positive integer: only old links carry it).
    An author too long to be an email address is kept as given with `author_error` saying why no push
    can match it: the caller shows that, never everyone's pushes as if unfiltered."""
    form = PushListQuery(params)
    form.is_valid()
    data = form.cleaned_data
    author_error = ""
    if "author" in form.errors:
        given = str(params.get("author", "")).strip()
        author_error = (
            f"The author filter has {len(given)} characters; an email address has at most {MAX_AUTHOR}, "
            "so no push matches it."
        )
    return {
        "author": data["author"] if "author" in data else str(params.get("author", "")).strip(),
        "author_error": author_error,
        "count": data.get("count", DEFAULT_COUNT),
        "older": paging.from_query(params),
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
