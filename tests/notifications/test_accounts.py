"""Signing in and out, pages that need a user, `manage.py adduser`, and the admin pages."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import UserSettings
from notifications.models import Notification, PushState, PushSubscription, Watch
from tests.helpers import parse_html

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(alice: User) -> User:
    """tests/conftest.py's alice, with a password: these tests sign in through the form."""
    alice.set_password(PASSWORD)
    alice.save()
    return alice


def test_login_page_renders_in_the_site_layout(client: Client) -> None:
    response = client.get("/accounts/login/?next=/watching/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Sign in</h1>" in html
    assert parse_html(html).find_all(class_="site-header")  # base.html
    assert "css/forms.css" in html
    assert 'name="username"' in html and 'name="password"' in html
    assert parse_html(html).find_all("input", name="next", value="/watching/")
    assert "csrfmiddlewaretoken" in html


def test_a_wrong_password_says_so(client: Client, alice: User) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_signing_in_returns_to_next(client: Client, alice: User) -> None:
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/watching/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/watching/"
    assert client.get("/watching/").status_code == 200


def test_signing_in_ignores_a_foreign_next(client: Client, alice: User) -> None:
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize("path", ["/watching/", "/settings/"])
def test_pages_that_need_a_user_redirect_to_login_and_back(client: Client, alice: User, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"

    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "next": path})
    assert response["Location"] == path


def test_logout_is_a_post(client: Client, alice: User) -> None:
    client.force_login(alice)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/watching/").status_code == 200  # still signed in

    page = client.get("/watching/").content.decode()
    assert 'action="/accounts/logout/"' in page
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/watching/").status_code == 302


def test_logout_needs_the_csrf_token(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/accounts/logout/").status_code == 403
    client.get("/watching/")
    token = client.cookies["csrftoken"].value
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/watching/").status_code == 302


# --- manage.py adduser ------------------------------------------------------------------------------


def adduser(*args: str) -> str:
    out = StringIO()
    call_command("adduser", *args, stdout=out)
    return out.getvalue()


def link_path(output: str) -> str:
    match = re.search(r"^http://127\.0\.0\.1:8000(/accounts/reset/\S+/)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_adduser_prints_a_link_that_sets_the_password(client: Client, settings) -> None:
    output = adduser("Carol.Smith@mozilla.com")

    user = User.objects.get(username="Carol.Smith")
    assert user.email == "Carol.Smith@mozilla.com"
    assert not user.has_usable_password()
    assert not user.is_staff
    assert UserSettings.objects.filter(user=user).exists()

    # Django swaps the token for a session and redirects to .../set-password/.
    page = client.get(link_path(output), follow=True)
    assert page.status_code == 200
    assert "Set your password" in page.content.decode()
    form_url = page.redirect_chain[-1][0]
    new_password = "a long new passphrase 42"
    response = client.post(
        form_url, {"new_password1": new_password, "new_password2": new_password}, follow=True
    )
    assert "Password set" in response.content.decode()

    response = client.post("/accounts/login/", {"username": "Carol.Smith", "password": new_password})
    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200


def test_the_adduser_link_works_only_once(client: Client) -> None:
    path = link_path(adduser("dave@mozilla.com"))
    form_url = client.get(path, follow=True).redirect_chain[-1][0]
    client.post(form_url, {"new_password1": "first passphrase 123", "new_password2": "first passphrase 123"})

    again = Client().get(path, follow=True)
    assert "This link is not valid any more" in again.content.decode()


def test_adduser_options_and_errors() -> None:
    adduser("erin@mozilla.com", "--username", "erin-admin", "--staff")
    user = User.objects.get(username="erin-admin")
    assert user.is_staff and not user.is_superuser

    with pytest.raises(CommandError, match="is taken"):
        adduser("erin@example.com", "--username", "erin-admin")
    with pytest.raises(CommandError, match="not a valid email"):
        adduser("not-an-email")

    output = adduser("erin@mozilla.com", "--reset")
    assert "New set-password link for user 'erin-admin'" in output
    link_path(output)
    with pytest.raises(CommandError, match="No user"):
        adduser("nobody@mozilla.com", "--reset")


def test_adduser_uses_site_url(settings) -> None:
    settings.SITE_URL = "https://buildwatch.example.org"
    output = adduser("frank@mozilla.com")
    assert re.search(r"^https://buildwatch\.example\.org/accounts/reset/\S+/\S+/$", output, re.MULTILINE)


# --- admin ------------------------------------------------------------------------------------------


def test_admin_lists_and_searches_every_model(admin_client: Client, alice: User) -> None:
    UserSettings.objects.create(user=alice, author_email="alice.th@mozilla.com")
    Watch.objects.create(user=alice, repo="try", push_id=4242)
    PushState.objects.create(repo="try", push_id=4242, state="running", title="Bug 9 - admin search")
    Notification.objects.create(user=alice, repo="try", push_id=4242, channel="email", status="failed")
    PushSubscription.objects.create(user=alice, endpoint="https://push.example/abc", p256dh="k", auth="a")

    for model in ["accounts/usersettings", "watch", "notification", "pushstate", "pushsubscription"]:
        path = f"/admin/{model}/" if "/" in model else f"/admin/notifications/{model}/"
        response = admin_client.get(path, {"q": "alice"})
        assert response.status_code == 200, model
    assert (
        "alice.th@mozilla.com"
        in admin_client.get("/admin/accounts/usersettings/?q=alice.th").content.decode()
    )
    assert "4242" in admin_client.get("/admin/notifications/watch/?q=4242").content.decode()
    assert "admin search" in admin_client.get("/admin/notifications/pushstate/?q=admin").content.decode()
    assert admin_client.get("/admin/notifications/notification/?status__exact=failed").status_code == 200
    assert admin_client.get("/admin/auth/user/?q=alice").status_code == 200


def test_the_user_admin_page_shows_the_buildwatch_settings(admin_client: Client, alice: User) -> None:
    UserSettings.objects.create(user=alice, author_email="alice.th@mozilla.com", default_repo="autoland")
    html = admin_client.get(f"/admin/auth/user/{alice.pk}/change/").content.decode()
    assert "BuildWatch settings" in html
    assert "alice.th@mozilla.com" in html
