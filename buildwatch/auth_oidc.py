"""Sign-in with the OpenID provider (Mozilla SSO) through mozilla-django-oidc: who may enter, and how.

- `SSOBackend` decides who gets in: a verified email is required. The provider's subject (`sub`, under
  its issuer) finds the account it was linked to (accounts.models.SSOIdentity), whatever the email
  says now. A subject seen for the first time is linked to the existing account with that email (never
  duplicated), unless that account is already linked to another subject (an address given to somebody
  else must not open its old owner's account); with no such account, one is made only for an address at
  one of BUILDWATCH_ALLOWED_EMAIL_DOMAINS or in BUILDWATCH_ALLOWED_EMAILS, with its Treeherder author
  email set. Every other outcome is a `Refusal` the callback view shows; nothing is created or changed
  for it.
- `SessionRefresh` re-checks with the provider (silently, prompt=none) every
  OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS; an htmx request reloads its page for that instead of following a
  redirect to another site.
- `provider_logout_url` ends the provider's session too, where it offers an end_session_endpoint.

mozilla-django-oidc reads its settings once, when a class is made; here they are read when used (through
`buildwatch.oidc.setting`, which also discovers the endpoints), so a missing provider never breaks
password sign-in and tests may change the settings.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh as LibrarySessionRefresh

from . import oidc

logger = logging.getLogger(__name__)


class LazySetting:
    """A class attribute that reads a mozilla-django-oidc setting each time it is used."""

    def __init__(self, setting_name: str | None = None, *default: Any) -> None:
        self.setting_name = setting_name
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.setting_name = self.setting_name or name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return oidc.setting(self.setting_name, *self.default)


@dataclass
class Refusal(Exception):
    """Why a sign-in did not happen; `reason` selects the message on templates/oidc/refused.html."""

    reason: str
    email: str = ""
    detail: str = ""

    STATUS = {"unavailable": 503, "bad_state": 400, "bad_token": 400}

    @property
    def status(self) -> int:
        return self.STATUS.get(self.reason, 403)


def email_verified(value: object) -> bool:
    """The email_verified claim: a JSON boolean, though some providers send the string "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def email_allowed(email: str) -> bool:
    """May this address get a new account? Its domain is one of the allowed ones (exactly: no subdomains),
    or the address itself is on the allow-list. Case does not matter."""
    email = email.strip().lower()
    domain = email.rpartition("@")[2]
    domains = {d.strip().lower().lstrip("@") for d in settings.BUILDWATCH_ALLOWED_EMAIL_DOMAINS}
    addresses = {a.strip().lower() for a in settings.BUILDWATCH_ALLOWED_EMAILS}
    return bool(domain) and (domain in domains or email in addresses)


def unique_username(email: str) -> str:
    """The part of the email before the @ (as `manage.py adduser` does), numbered when already taken."""
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "", email.partition("@")[0])[:140] or "user"
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}{number}"
    return candidate


class SSOBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with BuildWatch's admission rules (see the module docstring)."""

    get_settings = staticmethod(oidc.setting)
    OIDC_OP_TOKEN_ENDPOINT = LazySetting()
    OIDC_OP_USER_ENDPOINT = LazySetting()
    OIDC_OP_JWKS_ENDPOINT = LazySetting(None, None)
    OIDC_RP_CLIENT_ID = LazySetting()
    OIDC_RP_CLIENT_SECRET = LazySetting()
    OIDC_RP_SIGN_ALGO = LazySetting(None, "RS256")
    OIDC_RP_IDP_SIGN_KEY = LazySetting(None, None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django makes a backend for every authenticate() call, password sign-ins included: read nothing yet.
        self.UserModel = get_user_model()

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        # Only the callback view passes a nonce; a password sign-in (or a crafted ?code= on another
        # page) never reaches the provider.
        if request is None or "nonce" not in kwargs or not oidc.enabled():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except Refusal as refusal:
            request.sso_refusal = refusal
        except oidc.ProviderUnavailable as problem:
            request.sso_refusal = Refusal("unavailable", detail=str(problem))
        except (SuspiciousOperation, jwt.InvalidTokenError) as problem:
            logger.warning("sign-in refused, the provider's answer did not verify: %s", problem)
            request.sso_refusal = Refusal("bad_token")
        except oidc.PROVIDER_ERRORS as problem:
            # The token endpoint refused the code (used already, expired, not ours) or did not answer.
            logger.warning("sign-in refused, the provider did not complete it: %s", problem)
            request.sso_refusal = Refusal("provider_error")
        return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The library checks signature, algorithm, expiry and nonce; also check the token is for this
        client (aud) and, when known, from this provider (iss)."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the ID token was issued to another client")
        issuer = oidc.setting("OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("the ID token comes from another issuer")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(claims, dict) or claims.get("sub") != payload.get("sub"):
            # OpenID Connect Core 5.3.2: userinfo must be about the ID token's subject.
            raise Refusal("bad_token")
        email = str(claims.get("email") or "").strip()
        try:
            validate_email(email)
        except ValidationError:
            raise Refusal("no_email") from None
        if not email_verified(claims.get("email_verified")):
            raise Refusal("unverified", email)
        issuer, subject = str(payload.get("iss") or ""), str(payload.get("sub") or "")
        if not subject:
            raise Refusal("bad_token")
        linked = identity_of(issuer, subject)
        if linked is not None:
            if not linked.user.is_active:
                raise Refusal("inactive", email)
            type(linked).objects.filter(pk=linked.pk).update(email=email, last_sign_in=timezone.now())
            return linked.user
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) > 1:
            raise Refusal("duplicate", email)
        if users:
            if not users[0].is_active:
                raise Refusal("inactive", email)
            return link_identity(users[0], issuer, subject, email)
        if not email_allowed(email):
            raise Refusal("not_allowed", email)
        return self.create_user(claims, issuer, subject)

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(email__iexact=str(claims.get("email") or "").strip())

    @transaction.atomic
    def create_user(self, claims: dict[str, Any], issuer: str = "", subject: str = "") -> Any:
        from accounts.models import UserSettings

        email = str(claims["email"]).strip()
        user = self.UserModel.objects.create_user(
            unique_username(email),
            email=email,
            first_name=str(claims.get("given_name") or "")[:150],
            last_name=str(claims.get("family_name") or "")[:150],
        )  # no password: this account signs in through the provider
        UserSettings.objects.create(user=user, author_email=email)
        if subject:
            link_identity(user, issuer, subject, email)
        logger.info("created user %s for %s on first sign-in", user.username, email)
        return user

    def get_user(self, user_id: Any) -> Any:
        # ModelBackend's: a deactivated account's sessions end (the library's would keep them).
        return ModelBackend.get_user(self, user_id)


def identity_of(issuer: str, subject: str) -> Any:
    """The SSOIdentity of this subject, with its user, or None."""
    from accounts.models import SSOIdentity

    return SSOIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()


def link_identity(user: Any, issuer: str, subject: str, email: str) -> Any:
    """Link a subject seen for the first time to `user`; refused when the account already signs in as
    another subject of this provider (its address now belongs to someone else, or was reused)."""
    from accounts.models import SSOIdentity

    try:
        with transaction.atomic():
            if SSOIdentity.objects.filter(user=user, issuer=issuer).exists():
                raise Refusal("linked_elsewhere", email)
            SSOIdentity.objects.create(user=user, issuer=issuer, subject=subject, email=email)
    except IntegrityError:  # the same subject linked by a sign-in running at the same moment
        linked = identity_of(issuer, subject)
        if linked is None or linked.user_id != user.pk:
            raise Refusal("linked_elsewhere", email) from None
    logger.info("linked %s to the SSO subject %s of %s", user.username, subject, issuer or "the provider")
    return user


class SessionRefresh(LibrarySessionRefresh):
    """mozilla-django-oidc's SessionRefresh, reading its settings when used and kind to htmx."""

    get_settings = staticmethod(oidc.setting)
    OIDC_EXEMPT_URLS = LazySetting(None, [])
    OIDC_OP_AUTHORIZATION_ENDPOINT = LazySetting()
    OIDC_RP_CLIENT_ID = LazySetting()
    OIDC_STATE_SIZE = LazySetting(None, 32)
    OIDC_AUTHENTICATION_CALLBACK_URL = LazySetting(None, "oidc_authentication_callback")
    OIDC_RP_SCOPES = LazySetting(None, "openid email")
    OIDC_USE_NONCE = LazySetting(None, True)
    OIDC_NONCE_SIZE = LazySetting(None, 32)

    def __init__(self, get_response: Any) -> None:
        MiddlewareMixin.__init__(self, get_response)

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        return oidc.enabled() and super().is_refreshable_url(request)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if (
            not self.is_refreshable_url(request)
            or request.session.get("oidc_id_token_expiration", 0) > time.time()
        ):
            return None
        if request.headers.get("HX-Request") == "true":
            # A redirect to the provider cannot be followed by an htmx request: reload the page, whose
            # own request goes through the provider and comes back to it.
            return HttpResponse(status=204, headers={"HX-Refresh": "true"})
        try:
            return super().process_request(request)
        except oidc.ProviderUnavailable as problem:
            logger.warning("could not refresh a session with the provider, keeping it for now: %s", problem)
            return None


def provider_logout_url(request: HttpRequest) -> str:
    """OIDC_OP_LOGOUT_URL_METHOD: where to go after BuildWatch's session ends. For a user who signed in
    through the provider, its end_session_endpoint (RP-Initiated Logout), which comes back to
    LOGOUT_REDIRECT_URL; otherwise (a password sign-in, or a provider without one) LOGOUT_REDIRECT_URL."""
    after = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    id_token = request.session.get("oidc_id_token")
    if not id_token:
        return after
    try:
        end_session = oidc.setting("OIDC_OP_END_SESSION_ENDPOINT", "")
    except oidc.ProviderUnavailable:
        return after
    if not end_session:
        return after
    query = {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": after,
        "client_id": settings.OIDC_RP_CLIENT_ID,
    }
    return f"{end_session}{'&' if '?' in end_session else '?'}{urlencode(query)}"


class SSOFormAction:
    """Sign-in and sign-out leave through a form whose answer redirects to the provider, and browsers
    hold that redirect to the page's CSP `form-action`: with SSO configured, it also allows the
    provider's origin (of its authorization endpoint, else of its discovery document: the same host at
    Mozilla's and at every provider we know). Listed after Django's CSP middleware, so that it sets
    the policy that middleware then writes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        origins = provider_origins()
        if origins and settings.SECURE_CSP:
            policy = dict(getattr(response, "_csp_config", None) or settings.SECURE_CSP)
            policy["form-action"] = [*policy.get("form-action", []), *origins]
            response._csp_config = policy
        return response


def provider_origins() -> list[str]:
    """scheme://host[:port] of the provider's sign-in and sign-out pages, as configured (no discovery)."""
    if not oidc.enabled():
        return []
    urls = (
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT or settings.OIDC_OP_DISCOVERY_URL,
        settings.OIDC_OP_END_SESSION_ENDPOINT,
    )
    return list(
        dict.fromkeys(
            f"{part.scheme}://{part.netloc}" for url in urls if url and (part := urlsplit(url)).netloc
        )
    )
