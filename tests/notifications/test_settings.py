"""/settings/: validation with clear messages, saved with a confirmation, htmx partial, own data only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import UserSettings
from tests.helpers import channel_of, parse_html

pytestmark = pytest.mark.django_db

VALID = {
    "author_email": "alice.th@mozilla.com",
    "default_repo": "autoland",
    "notifications_enabled": "on",
    "email_enabled": "on",
    "auto_watch": "on",
}


def test_the_form_shows_the_defaults_and_the_account_email(alice_client: Client) -> None:
    html = alice_client.get("/settings/").content.decode()
    assert "<h1>Settings</h1>" in html
    assert 'placeholder="alice@mozilla.com"' in html
    assert "Empty means your account email (alice@mozilla.com)" in html
    assert parse_html(html).find_all("input", name="default_repo", value="try")
    assert 'hx-post="/settings/"' in html and 'action="/settings/"' in html


def test_saving_stores_the_values_and_confirms(alice: User, alice_client: Client) -> None:
    response = alice_client.post("/settings/", VALID, follow=True)

    assert response.redirect_chain == [("/settings/", 302)]
    assert "Settings saved." in response.content.decode()
    saved = UserSettings.objects.get(user=alice)
    assert saved.author_email == "alice.th@mozilla.com"
    assert saved.effective_author_email == "alice.th@mozilla.com"
    assert saved.default_repo == "autoland"
    assert (saved.notifications_enabled, channel_of(alice, "email").enabled, saved.auto_watch) == (
        True,
        True,
        True,
    )
    assert 'value="alice.th@mozilla.com"' in response.content.decode()


def test_unchecked_boxes_are_saved_as_false(alice: User, alice_client: Client) -> None:
    UserSettings.objects.create(user=alice, auto_watch=True)
    alice_client.post("/settings/", {"author_email": "", "default_repo": "try"})

    saved = UserSettings.objects.get(user=alice)
    assert (saved.notifications_enabled, channel_of(alice, "email").enabled, saved.auto_watch) == (
        False,
        False,
        False,
    )
    assert saved.author_email == ""
    assert saved.effective_author_email == "alice@mozilla.com"  # empty falls back to the account email


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("author_email", "not an email", "Enter a full email address"),
        ("default_repo", "Try Server!", "A repository name is lowercase letters"),
        ("default_repo", "-try", "A repository name is lowercase letters"),
        ("default_repo", "", "Enter a repository name"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    alice: User, alice_client: Client, field: str, value: str, message: str
) -> None:
    response = alice_client.post("/settings/", {**VALID, field: value})

    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert "Please correct the 1 field marked below." in html
    assert 'aria-invalid="true"' in html
    assert "Settings saved." not in html
    assert not UserSettings.objects.filter(user=alice, default_repo="autoland").exists()


def test_htmx_post_answers_the_form_fragment_with_a_confirmation(alice: User, alice_client: Client) -> None:
    response = alice_client.post("/settings/", VALID, headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.content.decode()
    assert parse_html(html).first().matches("form", id="settings-form")
    assert "<html" not in html and "<h1>" not in html
    assert "Settings saved." in html
    assert response["Vary"] and "HX-Request" in response["Vary"]
    assert UserSettings.objects.get(user=alice).default_repo == "autoland"
    # The confirmation was shown inline: it does not pop up again on the next page.
    assert "Settings saved." not in alice_client.get("/watching/").content.decode()


def test_htmx_post_with_errors_answers_the_fragment_with_errors(alice_client: Client) -> None:
    response = alice_client.post(
        "/settings/", {**VALID, "author_email": "x@"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200  # htmx swaps only 2xx answers
    html = response.content.decode()
    assert parse_html(html).first().matches("form", id="settings-form")
    assert "Enter a full email address" in html
    assert 'value="x@"' in html  # what the user typed stays in the field


def test_web_push_is_disabled_with_an_explanation_without_vapid_keys(
    alice: User, alice_client: Client, settings
) -> None:
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    html = alice_client.get("/settings/").content.decode()
    assert "no VAPID keys configured" in html
    assert parse_html(html).find_all("input", name="webpush_enabled", disabled=True)

    alice_client.post("/settings/", {**VALID, "webpush_enabled": "on"})
    assert channel_of(alice, "webpush").enabled is False


def test_web_push_can_be_switched_on_with_vapid_keys(alice: User, alice_client: Client, settings) -> None:
    settings.VAPID_PUBLIC_KEY = "public"
    settings.VAPID_PRIVATE_KEY = "private"
    html = alice_client.get("/settings/").content.decode()
    assert "no VAPID keys configured" not in html

    alice_client.post("/settings/", {**VALID, "webpush_enabled": "on"})
    assert channel_of(alice, "webpush").enabled is True


def test_settings_are_per_user(alice: User, bob: User, bob_client: Client) -> None:
    UserSettings.objects.create(user=alice, author_email="alice.th@mozilla.com", default_repo="autoland")

    html = bob_client.get("/settings/").content.decode()
    assert "alice" not in html.lower()

    # Smuggling a user field changes nothing: the form only ever edits the signed-in user's row.
    bob_client.post("/settings/", {**VALID, "author_email": "bob.th@mozilla.com", "user": alice.pk})
    assert UserSettings.objects.get(user=alice).author_email == "alice.th@mozilla.com"
    assert UserSettings.objects.get(user=alice).default_repo == "autoland"
    assert UserSettings.objects.get(user=bob).author_email == "bob.th@mozilla.com"


def test_settings_need_csrf(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/settings/", VALID).status_code == 403
    assert not UserSettings.objects.filter(user=alice, default_repo="autoland").exists()

    client.get("/settings/")
    response = client.post("/settings/", VALID, headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
    assert UserSettings.objects.get(user=alice).default_repo == "autoland"


def test_settings_refuse_other_methods(alice_client: Client) -> None:
    assert alice_client.put("/settings/").status_code == 405


def test_home_opens_the_default_repository(rf, alice: User) -> None:
    from django.contrib.auth.models import AnonymousUser

    from notifications.views import home

    request = rf.get("/")
    request.user = AnonymousUser()
    assert home(request)["Location"] == "/try/"
    request.user = alice
    assert home(request)["Location"] == "/try/"
    UserSettings.objects.create(user=alice, default_repo="mozilla-central")
    assert home(request)["Location"] == "/mozilla-central/"


def test_an_expired_session_sends_htmx_to_the_login_page(client: Client) -> None:
    response = client.post(
        "/settings/", VALID, headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/settings/"}
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fsettings%2F"
    assert not UserSettings.objects.exists()
