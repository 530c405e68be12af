"""htmx helpers for every app's views: one place for "does this request want a fragment" and for
sending a signed-out htmx request to the sign-in page. `request.htmx` is set by django-htmx's
`HtmxMiddleware` (see settings.MIDDLEWARE); responses use django-htmx's own classes, not hand-set
HX-* headers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """For type hints: a request that went through `HtmxMiddleware`."""

    htmx: HtmxDetails


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx request asks for the partial it swaps in; a history restore (htmx reloading a page
    missing from its cache) and every plain request get the whole page."""
    htmx = getattr(request, "htmx", None)  # absent on a request built by hand (RequestFactory)
    return bool(htmx) and not htmx.history_restore_request


def safe_url(request: HttpRequest, url: str | None) -> str | None:
    """`url` if it points at this site (so it may be redirected to), else None."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def back_url(request: HttpRequest) -> str | None:
    """Where the user came from: an explicit `next`, else the Referer, if it is on this site."""
    return safe_url(request, request.POST.get("next") or request.GET.get("next")) or safe_url(
        request, request.headers.get("Referer")
    )


def _login_url(next_url: str) -> str:
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}"


def login_required_htmx(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but an htmx request gets a 401 that sends the whole page to the login page
    (instead of swapping the login form into a button), and a plain POST comes back to the page it was
    sent from after signing in (a POST-only URL cannot be `next`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        back = back_url(request)
        htmx = getattr(request, "htmx", None)
        if htmx:
            current = safe_url(request, htmx.current_url_abs_path) or back or "/"
            return HttpResponseClientRedirect(
                _login_url(current), content="Sign in first.", status=401, content_type="text/plain"
            )
        if request.method == "GET":
            return redirect_to_login(request.get_full_path())
        return HttpResponseRedirect(_login_url(back or "/"))

    return wrapper
