"""Content-Security-Policy with a nonce per response, and what htmx needs to live with it (item 6)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client


@pytest.mark.django_db
def test_every_page_has_a_csp_with_a_fresh_nonce_that_only_our_script_tags_carry() -> None:
    client = Client()
    first, second = client.get("/accounts/login/"), client.get("/accounts/login/")
    policy = first["Content-Security-Policy"]
    assert (
        "default-src 'self'" in policy
        and "object-src 'none'" in policy
        and "frame-ancestors 'none'" in policy
    )
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert nonce not in second["Content-Security-Policy"]
    html = first.content.decode()
    assert f'nonce="{nonce}"' in html  # the htmx script tag
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # no inline script at all
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html
    assert " style=" not in html


def test_no_template_relies_on_eval_or_inline_code() -> None:
    for path in (settings.BASE_DIR / "templates").rglob("*.html"):
        if "emails" in path.parts:
            continue  # mail clients, not browsers running our CSP
        text = path.read_text()
        assert "hx-on" not in text and "onclick=" not in text and 'hx-vals="js:' not in text, path
