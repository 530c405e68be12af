"""Sign in with the username or the account's email (issue 28, item 5): the form says which it takes,
an email is matched case-insensitively, a wrong one fails like a wrong password, and the throttling
counts one account once however it is named."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.helpers import parse_html

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "correct horse battery"


@pytest.fixture
def tester() -> User:
    return User.objects.create_user("tester", "Tester@Mozilla.com", PASSWORD)


def sign_in(client: Client, login: str, password: str = PASSWORD) -> int:
    return client.post(LOGIN, {"username": login, "password": password}).status_code


def test_the_form_asks_for_a_username_or_an_email(client: Client) -> None:
    page = parse_html(client.get(LOGIN).content.decode())
    field = page.one("input", name="username")
    assert page.one("label", for_=field.attrs["id"]).text.strip() == "Username or email"
    assert field.attrs["autocomplete"] == "username"


@pytest.mark.parametrize(
    "login", ["tester", "Tester@Mozilla.com", "tester@mozilla.com", " TESTER@MOZILLA.COM "]
)
def test_the_username_or_the_email_in_any_case_signs_in(client: Client, tester: User, login: str) -> None:
    assert sign_in(client, login) == 302
    assert client.session["_auth_user_id"] == str(tester.pk)
    assert "Sign out tester" in client.get("/watching/").content.decode()


@pytest.mark.parametrize("login", ["tester@mozilla.com", "nobody@mozilla.com", "nobody"])
def test_a_wrong_password_or_unknown_email_gets_the_same_answer(
    client: Client, tester: User, login: str
) -> None:
    response = client.post(LOGIN, {"username": login, "password": "wrong password"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please enter a correct username and password" in html
    assert "no account" not in html.lower() and "not found" not in html.lower()
    assert "_auth_user_id" not in client.session


def test_an_email_two_accounts_share_signs_in_neither(client: Client) -> None:
    User.objects.create_user("one", "shared@mozilla.com", PASSWORD)
    User.objects.create_user("two", "SHARED@mozilla.com", PASSWORD)
    assert sign_in(client, "shared@mozilla.com") == 200
    assert "_auth_user_id" not in client.session
    assert sign_in(client, "two") == 302


def test_a_username_that_looks_like_an_email_wins_over_an_email(client: Client) -> None:
    owner = User.objects.create_user("dev@mozilla.com", "other@example.com", PASSWORD)
    User.objects.create_user("dev", "dev@mozilla.com", "another passphrase 77")
    assert sign_in(client, "dev@mozilla.com") == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_failures_by_email_and_by_username_lock_the_same_account(settings, tester: User) -> None:
    settings.AXES_FAILURE_LIMIT = 4
    logins = ["tester", "TESTER@mozilla.com", "tester@MOZILLA.com", "tester"]
    codes = [sign_in(Client(REMOTE_ADDR=f"10.0.5.{n}"), login, "wrong") for n, login in enumerate(logins)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    # Locked however it is named, even with the right password, from yet another address.
    assert sign_in(Client(REMOTE_ADDR="10.0.5.99"), "tester@mozilla.com") == 429
    assert sign_in(Client(REMOTE_ADDR="10.0.5.98"), "tester") == 429


def test_adduser_says_which_username_it_made_and_that_either_signs_in(client: Client) -> None:
    out = StringIO()
    call_command("adduser", "tester@mozilla.com", stdout=out)
    output = out.getvalue()
    assert "Created user 'tester' <tester@mozilla.com>." in output
    assert "They sign in with the username tester or the email tester@mozilla.com" in output
    user = User.objects.get(username="tester")
    user.set_password(PASSWORD)
    user.save()
    assert sign_in(client, "tester@mozilla.com") == 302
