"""Sign-in with an OpenID provider, without one running: the login page, who may get an account,
discovery, refusals that change nothing, session renewal, and the settings' own checks. The whole flow
against a real provider is in tests/browser/test_sso_browser.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
import responses
from django.contrib.auth.models import User
from django.test import Client

from buildwatch import oidc
from buildwatch.auth_oidc import email_allowed, unique_username

from .test_deploy_check import PRODUCTION, manage, run_check

pytestmark = pytest.mark.django_db

PROVIDER = "https://sso.example.test"
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{PROVIDER}/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": f"{PROVIDER}/oauth/token",
    "OIDC_OP_USER_ENDPOINT": f"{PROVIDER}/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": f"{PROVIDER}/.well-known/jwks.json",
}
DOCUMENT = {
    "issuer": f"{PROVIDER}/",
    "authorization_endpoint": f"{PROVIDER}/authorize",
    "token_endpoint": f"{PROVIDER}/oauth/token",
    "userinfo_endpoint": f"{PROVIDER}/userinfo",
    "jwks_uri": f"{PROVIDER}/.well-known/jwks.json",
    "end_session_endpoint": f"{PROVIDER}/oidc/logout",
}
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def forget_discovery() -> None:
    oidc.forget_discovery()


@pytest.fixture
def sso(settings: Any) -> Any:
    """SSO configured with explicit endpoints (nothing is fetched unless a test serves it)."""
    settings.OIDC_RP_CLIENT_ID = "buildwatch"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    for name, url in ENDPOINTS.items():
        setattr(settings, name, url)
    settings.BUILDWATCH_ALLOWED_EMAIL_DOMAINS = ["mozilla.com"]
    return settings


@pytest.fixture
def discovered(settings: Any) -> Any:
    settings.OIDC_RP_CLIENT_ID = "buildwatch"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_DISCOVERY_URL = f"{PROVIDER}/"
    return settings


# --- The login page ---------------------------------------------------------------------------------


def test_without_sso_the_login_page_is_as_before(client: Client) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in html
    assert 'name="password"' in html and "<details" not in html
    assert "Accounts are created by your BuildWatch administrator." in html
    assert client.get("/oidc/authenticate/").status_code == 404


def test_with_sso_the_login_page_leads_with_it_and_keeps_passwords_for_administrators(
    client: Client, sso: Any
) -> None:
    User.objects.create_user("admin", "admin@example.com", PASSWORD)
    html = client.get("/accounts/login/?next=/watching/").content.decode()
    assert html.index("Sign in with Mozilla SSO") < html.index('name="password"')
    assert 'action="/oidc/authenticate/"' in html and 'name="next" value="/watching/"' in html
    assert "<summary>Sign in with a password</summary>" in html
    assert "first time you sign in with Mozilla SSO with an address at mozilla.com" in html

    response = client.post("/accounts/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 302  # password sign-in still works
    assert 'action="/oidc/logout/"' in client.get("/watching/").content.decode()


def test_password_login_switched_off_shows_no_form_and_refuses_passwords(client: Client, sso: Any) -> None:
    sso.BUILDWATCH_PASSWORD_LOGIN = False
    sso.AUTHENTICATION_BACKENDS = ["buildwatch.auth_oidc.SSOBackend"]  # what settings.py makes of it
    User.objects.create_user("admin", "admin@example.com", PASSWORD)
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with Mozilla SSO" in html
    assert 'name="password"' not in html

    response = client.post("/accounts/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_password_login_off_in_the_environment_drops_the_password_backend() -> None:
    env = {"OIDC_RP_CLIENT_ID": "bw", "OIDC_RP_CLIENT_SECRET": "s", "OIDC_OP_DISCOVERY_URL": PROVIDER}
    script = "from django.conf import settings; print(settings.AUTHENTICATION_BACKENDS)"
    on = manage("shell", "-c", script, env=env)
    off = manage("shell", "-c", script, env={**env, "BUILDWATCH_PASSWORD_LOGIN": "0"})
    assert "django.contrib.auth.backends.ModelBackend" in on.stdout, on.stderr
    assert "ModelBackend" not in off.stdout and "buildwatch.auth_oidc.SSOBackend" in off.stdout, off.stderr


@pytest.mark.parametrize(
    "env, says",
    [
        (
            {"BUILDWATCH_PASSWORD_LOGIN": "0"},
            "BUILDWATCH_PASSWORD_LOGIN=0 needs sign-in with an OpenID provider",
        ),
        (
            {
                "OIDC_RP_CLIENT_ID": "bw",
                "OIDC_RP_CLIENT_SECRET": "s",
                "OIDC_OP_AUTHORIZATION_ENDPOINT": PROVIDER,
            },
            "set OIDC_OP_DISCOVERY_URL or OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT",
        ),
        ({"OIDC_RP_CLIENT_ID": "bw", "OIDC_OP_DISCOVERY_URL": PROVIDER}, "OIDC_RP_CLIENT_SECRET is not"),
    ],
)
def test_a_configuration_nobody_could_sign_in_with_stops_at_startup(env: dict[str, str], says: str) -> None:
    result = manage("check", env=env)
    assert result.returncode != 0
    assert says in result.stderr


@pytest.mark.parametrize(
    "name, value",
    [
        ("OIDC_OP_DISCOVERY_URL", "auth.mozilla.auth0.com"),
        ("OIDC_RP_SIGN_ALGO", "none"),
        ("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", "15m"),
        ("BUILDWATCH_PASSWORD_LOGIN", "nope"),
    ],
)
def test_a_sign_in_variable_that_does_not_parse_stops_startup_naming_it(name: str, value: str) -> None:
    result = manage("check", env={name: value})
    assert result.returncode != 0
    assert f'Environment variable "{name}" invalid' in result.stderr


def test_production_settings_with_sso_pass_the_deploy_check() -> None:
    result = run_check(
        {
            **PRODUCTION,
            "OIDC_RP_CLIENT_ID": "buildwatch",
            "OIDC_RP_CLIENT_SECRET": "a-client-secret",
            "OIDC_OP_DISCOVERY_URL": "https://auth.mozilla.auth0.com/",
            "BUILDWATCH_ALLOWED_EMAIL_DOMAINS": "mozilla.com,mozilla.org",
            "BUILDWATCH_PASSWORD_LOGIN": "0",
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Who may get an account -------------------------------------------------------------------------


def test_new_accounts_only_for_allowed_domains_exactly_or_the_allow_list(settings: Any) -> None:
    settings.BUILDWATCH_ALLOWED_EMAIL_DOMAINS = ["mozilla.com", "@Mozilla.org"]
    settings.BUILDWATCH_ALLOWED_EMAILS = ["Contractor@Example.com"]
    assert email_allowed("dev@mozilla.com") and email_allowed("Dev@MOZILLA.ORG")
    assert email_allowed("contractor@example.com")
    assert not email_allowed("dev@evil-mozilla.com")
    assert not email_allowed("dev@sub.mozilla.com")
    assert not email_allowed("dev@mozilla.com.evil.example")
    assert not email_allowed("someone@example.com")


def test_usernames_come_from_the_email_and_never_collide() -> None:
    User.objects.create_user("jdoe", "jdoe@mozilla.org")
    assert unique_username("jdoe@mozilla.com") == "jdoe2"
    assert unique_username("new.person+bw@mozilla.com") == "new.person+bw"


# --- Discovery --------------------------------------------------------------------------------------


def test_endpoints_are_discovered_once_and_explicit_ones_win(discovered: Any, mocked_responses: Any) -> None:
    document = mocked_responses.get(f"{PROVIDER}/.well-known/openid-configuration", json=DOCUMENT)
    assert oidc.setting("OIDC_OP_TOKEN_ENDPOINT") == f"{PROVIDER}/oauth/token"
    assert oidc.setting("OIDC_OP_END_SESSION_ENDPOINT") == f"{PROVIDER}/oidc/logout"
    assert oidc.setting("OIDC_OP_ISSUER") == f"{PROVIDER}/"
    discovered.OIDC_OP_USER_ENDPOINT = "https://elsewhere.example.test/me"
    assert oidc.setting("OIDC_OP_USER_ENDPOINT") == "https://elsewhere.example.test/me"
    assert oidc.setting("OIDC_RP_CLIENT_ID") == "buildwatch"  # not an endpoint: plain settings
    assert document.call_count == 1


@pytest.mark.parametrize(
    "answer, says",
    [
        ({"status": 500, "body": "down"}, "could not read the provider's discovery document"),
        ({"json": {**DOCUMENT, "issuer": "https://attacker.example/"}}, "names another issuer"),
        ({"json": {"issuer": f"{PROVIDER}/"}}, "lacks authorization_endpoint, token_endpoint"),
        ({"body": "<html>not json</html>"}, "could not read"),
    ],
)
def test_a_bad_discovery_document_is_refused_and_not_remembered(
    discovered: Any, mocked_responses: Any, answer: dict[str, Any], says: str
) -> None:
    url = f"{PROVIDER}/.well-known/openid-configuration"
    mocked_responses.get(url, **answer)
    with pytest.raises(oidc.ProviderUnavailable, match=says):
        oidc.setting("OIDC_OP_TOKEN_ENDPOINT")
    mocked_responses.replace(responses.GET, url, json=DOCUMENT)
    assert oidc.setting("OIDC_OP_TOKEN_ENDPOINT") == f"{PROVIDER}/oauth/token"


def test_the_provider_not_answering_is_a_page_that_says_so(
    client: Client, discovered: Any, mocked_responses: Any
) -> None:
    mocked_responses.get(f"{PROVIDER}/.well-known/openid-configuration", status=503)
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    assert "Mozilla SSO is not answering" in response.content.decode()
    assert "Try again in a minute" in response.content.decode()


def test_starting_a_sign_in_sends_state_nonce_and_pkce_to_the_provider(client: Client, sso: Any) -> None:
    response = client.get("/oidc/authenticate/?next=/watching/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{PROVIDER}/authorize?")
    for part in (
        "response_type=code",
        "client_id=buildwatch",
        "state=",
        "nonce=",
        "code_challenge_method=S256",
        "redirect_uri=http%3A%2F%2Ftestserver%2Foidc%2Fcallback%2F",
        "scope=openid+email+profile",
    ):
        assert part in location
    assert client.session["oidc_login_next"] == "/watching/"


# --- Callbacks that change nothing -----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "code=abc&state=never-issued",
        "error=access_denied&state=never-issued",  # a forged error must not sign anyone out
        "error=login_required",
        "",
    ],
)
def test_a_callback_this_browser_did_not_start_changes_nothing(
    client: Client, sso: Any, alice: User, query: str
) -> None:
    client.force_login(alice)
    response = client.get(f"/oidc/callback/?{query}")
    assert response.status_code == 400
    assert "does not belong to a sign-in started in this browser" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert client.get("/watching/").status_code == 200  # still signed in
    assert User.objects.count() == 1


def pending_state(client: Client, state: str = "s" * 32) -> str:
    session = client.session
    session["oidc_states"] = {state: {"nonce": "n" * 32, "code_verifier": None, "added_on": time.time()}}
    session["oidc_login_next"] = "/watching/"
    session.save()
    return state


def test_a_provider_refusal_is_shown_with_its_code(client: Client, sso: Any) -> None:
    state = pending_state(client)
    response = client.get(f"/oidc/callback/?error=access_denied&state={state}")
    assert response.status_code == 403
    assert "Mozilla SSO did not sign you in (access_denied)" in response.content.decode()
    assert state not in client.session.get("oidc_states", {})  # used up


def test_the_providers_error_text_is_never_echoed(client: Client, sso: Any) -> None:
    state = pending_state(client)
    response = client.get(f"/oidc/callback/?error=%3Cscript%3Ealert(1)%3C/script%3E&state={state}")
    assert "<script>alert" not in response.content.decode()
    assert "did not sign you in (error)" in response.content.decode()


def test_a_session_ended_at_the_provider_signs_out_and_asks_to_sign_in_again(
    client: Client, sso: Any, alice: User
) -> None:
    client.force_login(alice)
    state = pending_state(client)
    response = client.get(f"/oidc/callback/?error=login_required&state={state}", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fwatching%2F"
    assert "Your Mozilla SSO session has ended. Sign in again." in response.content.decode()
    assert client.get("/watching/").status_code == 302


def test_a_code_the_provider_refuses_is_a_clear_page_not_an_error(
    client: Client, sso: Any, mocked_responses: Any
) -> None:
    mocked_responses.post(ENDPOINTS["OIDC_OP_TOKEN_ENDPOINT"], status=400, json={"error": "invalid_grant"})
    state = pending_state(client)
    response = client.get(f"/oidc/callback/?code=used-before&state={state}")
    assert response.status_code == 403
    assert "Mozilla SSO did not sign you in" in response.content.decode()
    assert not User.objects.exists()


# --- Sessions ---------------------------------------------------------------------------------------


def sso_session(client: Client, user: User, expires_in: float) -> None:
    client.force_login(user, backend="buildwatch.auth_oidc.SSOBackend")
    session = client.session
    session["oidc_id_token_expiration"] = time.time() + expires_in
    session.save()


def test_an_expired_sso_session_is_renewed_with_the_provider_silently(client: Client, sso: Any) -> None:
    user = User.objects.create_user("tess", "tess@mozilla.com")
    sso_session(client, user, expires_in=-1)
    response = client.get("/watching/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{PROVIDER}/authorize?") and "prompt=none" in response["Location"]


def test_an_htmx_request_on_an_expired_session_reloads_its_page_instead(client: Client, sso: Any) -> None:
    user = User.objects.create_user("tess", "tess@mozilla.com")
    sso_session(client, user, expires_in=-1)
    response = client.get("/watching/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"


def test_the_service_worker_script_is_never_sent_to_the_provider(client: Client, sso: Any) -> None:
    user = User.objects.create_user("tess", "tess@mozilla.com")
    sso_session(client, user, expires_in=-1)
    assert client.get("/sw.js").status_code == 200  # a browser updating its service worker
    assert client.get("/healthz").status_code == 200


def test_fresh_and_password_sessions_are_not_sent_to_the_provider(client: Client, sso: Any) -> None:
    user = User.objects.create_user("tess", "tess@mozilla.com", PASSWORD)
    sso_session(client, user, expires_in=600)
    assert client.get("/watching/").status_code == 200
    client.logout()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/watching/").status_code == 200


def test_a_deactivated_user_is_signed_out(client: Client, sso: Any) -> None:
    user = User.objects.create_user("tess", "tess@mozilla.com")
    sso_session(client, user, expires_in=600)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/watching/").status_code == 302


def test_logout_is_a_post_with_csrf_and_a_password_user_is_not_sent_to_the_provider(sso: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    user = User.objects.create_user("admin", "admin@example.com", PASSWORD)
    client.force_login(user)
    assert client.get("/oidc/logout/").status_code == 405
    assert client.post("/oidc/logout/").status_code == 403
    client.get("/watching/")
    response = client.post("/oidc/logout/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302 and response["Location"] == "http://testserver/"
    assert client.get("/watching/").status_code == 302


def test_an_sso_user_logs_out_at_the_provider_too(
    client: Client, discovered: Any, mocked_responses: Any
) -> None:
    mocked_responses.get(f"{PROVIDER}/.well-known/openid-configuration", json=DOCUMENT)
    user = User.objects.create_user("tess", "tess@mozilla.com")
    sso_session(client, user, expires_in=600)
    session = client.session
    session["oidc_id_token"] = "the.id.token"
    session.save()
    response = client.post("/oidc/logout/")
    assert response["Location"] == (
        f"{PROVIDER}/oidc/logout?id_token_hint=the.id.token"
        "&post_logout_redirect_uri=http%3A%2F%2Ftestserver%2F&client_id=buildwatch"
    )
    assert client.get("/watching/").status_code == 302
