"""Where the OpenID provider (Mozilla SSO) lives: its endpoints from settings, or from its discovery document.

mozilla-django-oidc has no discovery: it reads OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT… from
settings. `setting()` is its `get_settings` for BuildWatch's subclasses: an endpoint set explicitly wins;
otherwise, with OIDC_OP_DISCOVERY_URL, it comes from the provider's `.well-known/openid-configuration`,
fetched the first time it is needed and kept for the life of the process. This is the only module here
that talks to the provider itself (mozilla-django-oidc does the token and userinfo calls).
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# BuildWatch setting -> field of the discovery document (OpenID Connect Discovery 1.0, section 3).
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_END_SESSION_ENDPOINT": "end_session_endpoint",
    "OIDC_OP_ISSUER": "issuer",
}
REQUIRED_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
WELL_KNOWN = "/.well-known/openid-configuration"

# The errors a call to the provider can end in (mozilla-django-oidc's calls too): no answer, an HTTP
# error status, or a body that is not the JSON expected.
PROVIDER_ERRORS: tuple[type[Exception], ...] = (requests.RequestException, ValueError)

_documents: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read (or is not one)."""


def enabled() -> bool:
    """Is sign-in with the provider configured? Without a client id and a provider, login is password-only."""
    return bool(
        getattr(settings, "OIDC_RP_CLIENT_ID", "")
        and (
            getattr(settings, "OIDC_OP_DISCOVERY_URL", "")
            or getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", "")
        )
    )


def discovery_url(value: str) -> str:
    """OIDC_OP_DISCOVERY_URL may be the issuer (https://auth.mozilla.auth0.com/) or the document's own URL."""
    return value if "/.well-known/" in value else value.rstrip("/") + WELL_KNOWN


def discovery_document(url: str) -> dict[str, Any]:
    """The provider's metadata at `url`, fetched once per process (a failure is not remembered)."""
    with _lock:
        if url in _documents:
            return _documents[url]
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except PROVIDER_ERRORS as problem:
        raise ProviderUnavailable(
            f"could not read the provider's discovery document {url}: {problem}"
        ) from problem
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} is not an OpenID provider's discovery document")
    missing = [
        field for field in REQUIRED_FIELDS if not isinstance(document.get(field), str) or not document[field]
    ]
    if missing:
        raise ProviderUnavailable(f"the discovery document {url} lacks {', '.join(missing)}")
    # Discovery 4.3: the issuer must be the URL the document was fetched under, or anyone serving a
    # document could name themselves the issuer.
    if url.endswith(WELL_KNOWN) and document["issuer"].rstrip("/") != url.removesuffix(WELL_KNOWN).rstrip(
        "/"
    ):
        raise ProviderUnavailable(
            f"the discovery document {url} names another issuer, {document['issuer']!r}"
        )
    with _lock:
        _documents[url] = document
    return document


def forget_discovery() -> None:
    """Drop the remembered documents (tests, or after the provider moved its endpoints)."""
    with _lock:
        _documents.clear()


_NO_DEFAULT = object()


def setting(name: str, default: Any = _NO_DEFAULT) -> Any:
    """mozilla-django-oidc's `get_settings(name[, default])`, with the provider's endpoints discovered."""
    value = getattr(settings, name, None)
    if name in ENDPOINTS and not value and getattr(settings, "OIDC_OP_DISCOVERY_URL", ""):
        document = discovery_document(discovery_url(settings.OIDC_OP_DISCOVERY_URL))
        value = document.get(ENDPOINTS[name]) or None
    if name in ENDPOINTS and value == "":
        value = None
    if value is None:
        if default is _NO_DEFAULT:
            raise ImproperlyConfigured(f"Setting {name} not found")
        return default
    return value
