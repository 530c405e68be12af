"""Rendered fragments of the push pages, cached: what is the same for every viewer of one fetch is
rendered once and shared (a group of 300 jobs costs ~40 ms to render, a cache read ~1 ms).

- the live section's groups, with the jobs of the open ones: per fetch, filter and sign-in state (only
  Retrigger buttons differ), when no filter is on and the copy is fresh;
- a group's job section: per fetch, group, filter and sign-in state (the page's open groups and the
  fragment a group loads when opened share it);
- the failure groups of the failure section: per digest, for everyone (nothing in them is per user),
  but not while a confirmation waits (its "requested N minutes ago" must stay true).

The read side (pushes.reads) looks a fragment up before it reads what the fragment shows; the views
render and keep it when it was not there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.core.cache import cache
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from .jobview import JobFilter

if TYPE_CHECKING:
    from .cached import Fetched
    from .jobrows import JobSection
    from .reads import FailureSection

GROUPS_KEY = "bw:groups:v2"  # v2: a group failing only in known ways says "known only"
GROUPS_TTL = 300
SECTION_KEY = "bw:section:v1"
SECTION_TTL = 300
FAILURE_BODY_KEY = "bw:failure-body:v2"  # v2: jobs with option, line links, file a bug; sections
FAILURE_BODY_TTL = 300


def _safe(html: str) -> SafeString:
    return mark_safe(html)  # noqa: S308 - our own templates' output


# --- The live section's groups ------------------------------------------------------------------------


def groups_key(
    repo: str,
    push_id: int,
    jfilter: JobFilter,
    signed_in: bool,
    fetched: Fetched | None,
    token: str,
    failures: str = "",
) -> str:
    """Where the groups of this fetch are kept; "" when they are not shared (a filter on: they depend on
    the search's test-name matches too; a stale copy, or none). `failures`: the digest of the failure
    summary they were labelled from ("known only")."""
    if not fetched or fetched.stale or jfilter.active:
        return ""
    at = f"{fetched.fetched_at:.3f}"
    query = quote(jfilter.query())
    return f"{GROUPS_KEY}:{repo}:{push_id}:{query}:{int(signed_in)}:{at}:{token}:{failures}"


def cached_groups(key: str) -> tuple[SafeString, list[str]] | None:
    """(the groups' HTML, the anchors of the open groups), or None."""
    hit = cache.get(key)
    if hit is None:
        return None
    html, open_anchors = hit
    return _safe(html), open_anchors


def live_groups(
    request: HttpRequest, repo: str, push_id: int, jfilter: JobFilter, context: dict[str, Any], key: str
) -> dict[str, Any]:
    """The live section's groups rendered (`context`: what presenters.live_context made of them): each
    open group's section, the one kept for its fetch or rendered and kept, and with a `key` the groups
    themselves, kept under it."""
    groups = [
        replace(group, html=section_html(request, repo, push_id, jfilter, group.section))
        if group.section
        else group
        for group in context["groups"]
    ]
    if not key:
        return {"groups": groups}
    html = render_to_string(
        "pushes/push_detail.html#groups", {**context, "groups": groups, "repo": repo}, request=request
    )
    cache.set(key, (html, [group.anchor for group in groups if group.open]), GROUPS_TTL)
    return {"groups": groups, "groups_html": _safe(html)}


# --- A group's job section ------------------------------------------------------------------------------


def section_key(repo: str, push_id: int, anchor: str, jfilter: JobFilter, signed_in: bool, at: float) -> str:
    # Nothing per user in a section but whether Retrigger buttons show (the CSRF token is in the page's form).
    return f"{SECTION_KEY}:{repo}:{push_id}:{anchor}:{quote(jfilter.query())}:{int(signed_in)}:{at:.3f}"


def cached_section(key: str) -> SafeString | None:
    html = cache.get(key)
    return None if html is None else _safe(html)


def render_jobs(request: HttpRequest, key: str, context: dict[str, Any]) -> SafeString:
    """A group's jobs as its fragment answers them (pushes/push_jobs.html#jobs), kept under `key`."""
    html = render_to_string("pushes/push_jobs.html#jobs", context, request=request)
    cache.set(key, html, SECTION_TTL)
    return _safe(html)


def section_html(
    request: HttpRequest, repo: str, push_id: int, jfilter: JobFilter, section: JobSection
) -> SafeString:
    """An open group's section on the page: the one kept for this fetch, or rendered and kept."""
    signed_in = request.user.is_authenticated
    key = section_key(repo, push_id, section.anchor, jfilter, signed_in, section.fetched_at)
    html = cache.get(key)
    if html is None:
        context = {"repo": repo, "section": section}
        html = render_to_string("pushes/push_jobs.html#section", context, request=request)
        cache.set(key, html, SECTION_TTL)
    return _safe(html)


# --- The failure groups -----------------------------------------------------------------------------------


def _failure_body_key(repo: str, push_id: int, digest: str) -> str:
    return f"{FAILURE_BODY_KEY}:{repo}:{push_id}:{digest}"


def cached_failure_body(repo: str, push_id: int, digest: str) -> SafeString | None:
    html = cache.get(_failure_body_key(repo, push_id, digest))
    return None if html is None else _safe(html)


def failure_body(request: HttpRequest, section: FailureSection, context: dict[str, Any]) -> SafeString:
    """The failure groups (pushes/push_failures.html#failure_body): as kept for the section's digest, or
    rendered from `context` and kept, unless a confirmation waits."""
    if section.body_html is not None:
        return _safe(section.body_html)
    html = render_to_string("pushes/push_failures.html#failure_body", context, request=request)
    if not section.waiting:
        key = _failure_body_key(context["repo"], context["push"].id, section.digest)
        cache.set(key, html, FAILURE_BODY_TTL)
    return _safe(html)
