"""Bad input is a 4xx page, never a 500 (issue 17, item 4)."""

from __future__ import annotations

import pytest
from django.core import signing
from django.test import Client

from notifications.channels.email import UNSUBSCRIBE_SALT


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload", [{"u": "1"}, {"u": [1]}, {"u": {"a": 1}}, {"u": True}, {"u": 2**70}, {}, [1], "x"]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_signed_unsubscribe_token_that_names_no_user_id_is_a_404_page(payload, method) -> None:
    token = signing.dumps(payload, salt=UNSUBSCRIBE_SALT)
    response = getattr(Client(raise_request_exception=False), method)(f"/unsubscribe/{token}/")
    assert response.status_code == 404
    assert "unsubscribe" in response.content.decode().lower()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("debug", [True, False])
def test_a_non_get_request_to_a_slashless_path_is_a_404_not_a_500(settings, method, debug) -> None:
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    response = getattr(client, method)("/try/pushes/5/watch")
    assert response.status_code == 404
    response = getattr(client, method)("/settings")
    assert response.status_code == 404


@pytest.mark.django_db
def test_a_get_to_a_slashless_path_still_redirects(settings) -> None:
    settings.DEBUG = True
    response = Client().get("/settings")
    assert response.status_code == 301 and response["Location"] == "/settings/"
