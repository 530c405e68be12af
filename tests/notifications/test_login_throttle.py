"""Sign-in is throttled per account and per address (issue 17, item 6): django-axes behind every
password check, on the sign-in page and on the admin's."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def limit(settings) -> int:
    settings.AXES_FAILURE_LIMIT = 5
    return 5


@pytest.fixture
def victim() -> User:
    return User.objects.create_user("victim", "victim@example.com", "the right passphrase 42")


def attempt(username: str, password: str, address: str = "10.0.0.1", path: str = LOGIN) -> int:
    client = Client(REMOTE_ADDR=address)
    return client.post(path, {"username": username, "password": password}).status_code


def test_wrong_passwords_for_one_account_lock_it_even_from_many_addresses(victim, limit) -> None:
    codes = [attempt("victim", f"guess {n}", address=f"10.0.1.{n}") for n in range(limit + 3)]
    assert codes[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert set(codes[limit:]) == {429}
    assert attempt("victim", "the right passphrase 42", address="10.9.9.9") == 429  # locked, even right
    response = Client(REMOTE_ADDR="10.9.9.8").post(LOGIN, {"username": "victim", "password": "x"})
    assert "Too many sign-in attempts" in response.content.decode()


def test_one_address_trying_many_accounts_is_locked(victim, limit) -> None:
    codes = [attempt(f"user{n}", "guess", address="10.0.2.1") for n in range(limit + 2)]
    assert codes[-1] == 429
    assert attempt("victim", "the right passphrase 42", address="10.0.2.1") == 429
    assert attempt("victim", "the right passphrase 42", address="10.0.2.2") == 302  # others sign in


def test_the_admin_sign_in_counts_too(victim, limit) -> None:
    codes = [attempt("victim", f"guess {n}", path="/admin/login/") for n in range(limit + 1)]
    assert codes[-1] == 429


def test_a_success_resets_the_accounts_count(victim, limit) -> None:
    for _ in range(limit - 1):
        attempt("victim", "wrong", address="10.0.3.1")
    assert attempt("victim", "the right passphrase 42", address="10.0.3.2") == 302
    assert attempt("victim", "wrong", address="10.0.3.3") == 200


def test_behind_a_proxy_the_forwarded_client_address_counts(settings) -> None:
    from django.test import RequestFactory

    from buildwatch.login_throttle import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="172.16.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "172.16.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.9"  # not what the client wrote in front of it
