"""The sign-in pages for the OpenID provider (mounted at /oidc/): start, callback, logout, refusals.

mozilla-django-oidc's views, with BuildWatch's settings read when used (see buildwatch.auth_oidc) and every
way a sign-in can fail shown as a page that says why (templates/oidc/refused.html) instead of a bare
redirect or a 400/500. A callback whose `state` this browser did not start, or already used, changes
nothing: nobody is signed in or out.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import path
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.views.generic import View
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from . import oidc
from .auth_oidc import LazySetting, Refusal

# Provider errors after which the user just has to sign in again (a silent refresh found no session).
SIGN_IN_AGAIN = {"login_required", "interaction_required", "consent_required", "account_selection_required"}


def refused(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    response = render(request, "oidc/refused.html", {"refusal": refusal}, status=refusal.status)
    add_never_cache_headers(response)  # it answers a URL that carried a one-time code
    return response


class SignInView(OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/?next=…: off to the provider, with a fresh state, nonce and PKCE challenge."""

    get_settings = staticmethod(oidc.setting)
    OIDC_OP_AUTH_ENDPOINT = LazySetting("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_RP_CLIENT_ID = LazySetting()

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            raise Http404("Sign-in with an OpenID provider is not configured.")
        try:
            return super().get(request)
        except oidc.ProviderUnavailable as problem:
            return refused(request, Refusal("unavailable", detail=str(problem)))


class CallbackView(OIDCAuthenticationCallbackView):
    """GET /oidc/callback/?code=…&state=…: where the provider sends the browser back."""

    get_settings = staticmethod(oidc.setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            raise Http404("Sign-in with an OpenID provider is not configured.")
        state = request.GET.get("state", "")
        if not state or state not in (request.session.get("oidc_states") or {}):
            # Not started in this browser, tampered with, or replayed: the library would sign the
            # current user out (an error) or answer 400 (a code); change nothing and say so.
            return refused(request, Refusal("bad_state"))
        error = request.GET.get("error", "")
        if error:
            signed_in = request.user.is_authenticated
            next_url = request.session.get("oidc_login_next") or "/"
            super().get(request)  # drops the state and signs the user out
            if signed_in and error in SIGN_IN_AGAIN:
                messages.info(
                    request, f"Your {settings.BUILDWATCH_SSO_NAME} session has ended. Sign in again."
                )
                return HttpResponseRedirect(
                    f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}"
                )
            code = error if re.fullmatch(r"[a-z_]{1,64}", error) else "error"
            return refused(request, Refusal("provider_error", detail=code))
        if "code" not in request.GET:
            return refused(request, Refusal("bad_state"))
        return super().get(request)

    def login_failure(self) -> HttpResponse:
        return refused(self.request, getattr(self.request, "sso_refusal", None) or Refusal("failed"))


class LogoutView(OIDCLogoutView):
    """POST /oidc/logout/: ends the BuildWatch session, then the provider's (OIDC_OP_LOGOUT_URL_METHOD)."""

    get_settings = staticmethod(oidc.setting)


def sign_in_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: is SSO on, what is it called, may users type a password?"""
    return {
        "SSO_ENABLED": oidc.enabled(),
        "SSO_NAME": settings.BUILDWATCH_SSO_NAME,
        "PASSWORD_LOGIN": settings.BUILDWATCH_PASSWORD_LOGIN,
        "ALLOWED_EMAIL_DOMAINS": settings.BUILDWATCH_ALLOWED_EMAIL_DOMAINS,
    }


urlpatterns = [
    path("authenticate/", SignInView.as_view(), name="oidc_authentication_init"),
    path("callback/", CallbackView.as_view(), name="oidc_authentication_callback"),
    path("logout/", LogoutView.as_view(), name="oidc_logout"),
]
