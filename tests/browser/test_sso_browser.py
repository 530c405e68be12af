"""Sign in with SSO end to end: headless Chromium, BuildWatch on the live server, and a real OpenID provider
(npm `oidc-provider`, tests/oidc/provider.mjs) whose own sign-in and consent pages the browser goes
through. Discovery, the token exchange, the ID token's signature and nonce, userinfo, and logout at the
provider are all the real thing over loopback HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse

from accounts.models import SSOIdentity, UserSettings
from buildwatch import oidc
from buildwatch.views_auth import CallbackView
from fakeherder.scenarios import DEMO_AUTHOR

from ..oidc_provider import OIDCProvider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "buildwatch-tests"
CLIENT_SECRET = "a-test-client-secret-nobody-uses-elsewhere"
ACCOUNTS = {
    "tess": {"email": DEMO_AUTHOR, "email_verified": True, "given_name": "Tess", "family_name": "Ter"},
    "olga": {"email": "olga@example.org", "email_verified": True},
    "una": {"email": "una@mozilla.com", "email_verified": False},
    "lin": {"email": "Lin.Existing@mozilla.com", "email_verified": True},
}


@pytest.fixture(scope="session")
def oidc_provider(live_server: Any) -> Iterator[OIDCProvider]:
    """One provider for the session, with BuildWatch (on live_server) registered as a client."""
    provider = OIDCProvider(
        clients=[
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{live_server.url}/oidc/callback/"],
                "post_logout_redirect_uris": [f"{live_server.url}/"],
                "token_endpoint_auth_method": "client_secret_post",  # what mozilla-django-oidc sends
            }
        ],
        accounts=ACCOUNTS,
    )
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def sso(oidc_provider: OIDCProvider, app: Any, settings: Any, browser_context: Any) -> OIDCProvider:
    """BuildWatch configured for the provider (discovery only), accounts made for mozilla.com."""
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_DISCOVERY_URL = oidc_provider.issuer
    settings.BUILDWATCH_ALLOWED_EMAIL_DOMAINS = ["mozilla.com"]
    settings.SITE_URL = app.url("")
    oidc.forget_discovery()
    oidc_provider.restore_accounts(ACCOUNTS)  # a test may have changed one
    # The provider's development pages import a web font: keep the browser on loopback.
    browser_context.route(
        re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])"), lambda route: route.abort()
    )
    return oidc_provider


def sign_in_at_provider(page: Any, login: str, consent: bool = True) -> None:
    """On the provider's own pages: type the login (any password), then allow BuildWatch on the consent page."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    if consent:
        page.get_by_role("button", name="Continue").click()


def start_sign_in(page: Any, app: Any, path: str = "/accounts/login/") -> None:
    page.goto(app.url(path))
    page.get_by_role("button", name="Sign in with Mozilla SSO").click()
    page.locator("input[name=login]").wait_for()


def test_a_teammate_signs_in_with_sso_and_sees_their_own_pushes(page, app, sso, fake_treeherder):
    mine = fake_treeherder.push_id("failed")  # pushed by DEMO_AUTHOR
    theirs = fake_treeherder.push_id("green")

    page.goto(app.url("/watching/"))
    assert "/accounts/login/" in page.url
    start_sign_in_button = page.get_by_role("button", name="Sign in with Mozilla SSO")
    assert start_sign_in_button.is_visible()
    assert not page.get_by_label("Username").is_visible()  # the password form is folded away
    start_sign_in_button.click()

    assert page.url.startswith(sso.issuer)  # the provider's own sign-in page
    sign_in_at_provider(page, "tess")
    page.wait_for_url(app.url("/watching/"))
    page.get_by_role("button", name="Sign out tester").wait_for()

    user = User.objects.get(email=DEMO_AUTHOR)
    assert (user.username, user.first_name, user.has_usable_password()) == ("tester", "Tess", False)
    assert UserSettings.objects.get(user=user).author_email == DEMO_AUTHOR

    page.get_by_role("link", name="Pushes").click()
    page.locator(f"#push-{mine}").wait_for()
    assert page.locator(f"#push-{theirs}").count() == 0
    assert page.js_errors == []


@pytest.mark.parametrize(
    "login, says",
    [
        (
            "olga",
            "olga@example.org may not use this BuildWatch. Accounts are made on first sign-in only for addresses at mozilla.com.",
        ),
        ("una", "Mozilla SSO has not verified the address una@mozilla.com."),
    ],
)
def test_someone_outside_the_allowed_domains_or_unverified_is_refused_and_gets_no_account(
    page, app, sso, login, says
):
    start_sign_in(page, app)
    sign_in_at_provider(page, login)
    page.get_by_role("heading", name="Sign-in refused").wait_for()
    assert says in page.get_by_role("alert").inner_text()
    assert not User.objects.exists()
    page.goto(app.url("/watching/"))
    assert "/accounts/login/" in page.url  # not signed in


def test_an_existing_account_with_the_same_verified_email_is_linked_not_duplicated(page, app, sso):
    # Made by an administrator before SSO, with another author email; even an address outside the
    # allowed domains would be let in, since the account exists.
    lin = User.objects.create_user("lin", "lin.existing@MOZILLA.com", "a password")
    UserSettings.objects.create(user=lin, author_email="lin@example.com")

    start_sign_in(page, app)
    sign_in_at_provider(page, "lin")
    page.get_by_role("button", name="Sign out lin").wait_for()
    assert list(User.objects.values_list("username", flat=True)) == ["lin"]
    assert UserSettings.objects.get(user=lin).author_email == "lin@example.com"  # left as it was
    assert SSOIdentity.objects.get(user=lin).subject == "lin"  # from now on the subject finds it


def sign_in_afresh(page: Any, app: Any, login: str) -> None:
    """Sign in again as if on another day: no BuildWatch session and no provider session left."""
    page.context.clear_cookies()
    start_sign_in(page, app)
    sign_in_at_provider(page, login)


def test_the_providers_subject_finds_the_account_after_the_address_changes(page, app, sso):
    start_sign_in(page, app)
    sign_in_at_provider(page, "tess")
    page.get_by_role("button", name="Sign out tester").wait_for()
    tester = User.objects.get()
    [identity] = SSOIdentity.objects.all()
    assert (identity.user, identity.subject, identity.issuer) == (tester, "tess", sso.issuer)

    # Tess's address changes at the provider; her subject does not.
    sso.set_account("tess", {**ACCOUNTS["tess"], "email": "tess.renamed@mozilla.com"})
    sign_in_afresh(page, app, "tess")
    page.get_by_role("button", name="Sign out tester").wait_for()
    assert list(User.objects.all()) == [tester]  # the same account, not a second one
    assert SSOIdentity.objects.get().email == "tess.renamed@mozilla.com"


def test_an_address_given_to_another_subject_does_not_open_its_old_owners_account(page, app, sso):
    start_sign_in(page, app)
    sign_in_at_provider(page, "tess")
    page.get_by_role("button", name="Sign out tester").wait_for()
    tester = User.objects.get()

    # Tess left; the provider gave her address to a newcomer, who has another subject.
    sso.set_account("tess", None)
    sso.set_account("newcomer", {**ACCOUNTS["tess"], "given_name": "Newcomer"})
    sign_in_afresh(page, app, "newcomer")
    page.get_by_role("heading", name="Sign-in refused").wait_for()
    alert = page.get_by_role("alert").inner_text()
    assert f"The BuildWatch account for {DEMO_AUTHOR} signs in with another" in alert
    assert "unlink the old identity" in alert
    assert list(User.objects.all()) == [tester] and SSOIdentity.objects.get().subject == "tess"
    page.goto(app.url("/watching/"))
    assert "/accounts/login/" in page.url  # not signed in as anybody

    # The administrator unlinks the old identity: the account can be linked to the newcomer.
    SSOIdentity.objects.all().delete()
    sign_in_afresh(page, app, "newcomer")
    page.get_by_role("button", name="Sign out tester").wait_for()
    assert SSOIdentity.objects.get().subject == "newcomer"


def test_a_tampered_or_replayed_callback_is_refused_and_changes_nothing(page, app, sso, monkeypatch):
    # The browser cannot stop a redirect's target from loading, so the app holds the provider's first
    # answer back (unprocessed: its state stays pending) for the test to deliver, tampered and genuine.
    callbacks: list[str] = []
    deliver = CallbackView.get

    def hold_back_first(view: CallbackView, request: Any) -> HttpResponse:
        if not callbacks:
            callbacks.append(app.url(request.get_full_path()))
            return HttpResponse("held back by the test")
        return deliver(view, request)

    monkeypatch.setattr(CallbackView, "get", hold_back_first)
    start_sign_in(page, app)
    sign_in_at_provider(page, "tess")
    page.get_by_text("held back by the test").wait_for()
    genuine = callbacks[0]
    query = parse_qs(urlsplit(genuine).query)
    assert set(query) >= {"code", "state"}

    tampered = {**{k: v[0] for k, v in query.items()}, "state": query["state"][0][:-1] + "x"}
    page.goto(app.url("/oidc/callback/?" + urlencode(tampered)))
    page.get_by_role("heading", name="Sign-in not accepted").wait_for()
    assert "does not belong to a sign-in started in this browser" in page.get_by_role("alert").inner_text()
    assert not User.objects.exists()

    page.goto(genuine)  # the real answer still works once…
    page.get_by_role("button", name="Sign out tester").wait_for()
    assert User.objects.count() == 1

    page.goto(genuine)  # …and only once
    page.get_by_role("heading", name="Sign-in not accepted").wait_for()
    assert "was used already" in page.get_by_role("alert").inner_text()
    assert User.objects.count() == 1
    page.goto(app.url("/watching/"))
    assert page.url == app.url("/watching/")  # the replay did not sign anyone out either


def test_sign_out_ends_the_buildwatch_session_and_the_providers(page, app, sso):
    start_sign_in(page, app)
    sign_in_at_provider(page, "tess")
    page.get_by_role("button", name="Sign out tester").wait_for()
    signed_in_session = session_key(page)
    assert SessionStore(signed_in_session).get("_auth_user_id")

    page.get_by_role("button", name="Sign out tester").click()
    page.get_by_role("button", name="Yes, sign me out").click()  # the provider's own logout page
    page.wait_for_url(re.compile(re.escape(app.url("/")) + ".*"))  # back on BuildWatch
    page.get_by_role("link", name="Sign in").wait_for()
    assert not SessionStore(signed_in_session).get("_auth_user_id")

    # The provider forgot us too: signing in again asks for the login, not just consent.
    start_sign_in(page, app)
    assert page.locator("input[name=login]").is_visible()


def test_an_expired_session_is_renewed_silently_while_the_provider_still_knows_the_user(page, app, sso):
    start_sign_in(page, app, "/accounts/login/?next=/settings/")
    sign_in_at_provider(page, "tess")
    page.wait_for_url(app.url("/settings/"))  # a page that does not refresh itself

    # OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS have passed: the next page load asks the provider (prompt=none).
    key = session_key(page)
    session = SessionStore(key)
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    provider_visits: list[str] = []
    page.on("request", lambda request: provider_visits.append(request.url))

    page.goto(app.url("/watching/"))
    page.wait_for_url(app.url("/watching/"))
    page.get_by_role("button", name="Sign out tester").wait_for()
    assert any("prompt=none" in url for url in provider_visits)
    assert SessionStore(key).get("oidc_id_token_expiration", 0) > time.time()


def session_key(page: Any) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
