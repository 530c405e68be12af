"""The Content-Security-Policy breaks nothing (issue 17, item 6): the pages, their live refresh and an
htmx click work in Chromium with no CSP violation reported, and an injected inline script would not run."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from notifications.models import Watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_and_htmx_work_under_the_csp_without_a_violation(page, app, fake_treeherder, signed_in):
    violations: list[str] = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and violations.append(message.text),
    )
    user = User.objects.create_user("cy", "cy@example.com", "a long test passphrase")
    signed_in(user)
    push_id = fake_treeherder.push_id("green")

    page.goto(app.url("/try/?author="))
    row = page.locator(f"#push-{push_id}")
    row.get_by_role("button", name="Watch", exact=True).click()
    row.get_by_role("button", name="Unwatch", exact=True).wait_for()
    assert Watch.objects.filter(user=user, push_id=push_id).exists()

    page.goto(app.url(f"/try/pushes/{push_id}/"))
    page.wait_for_timeout(2500)  # two live refreshes (BROWSER_REFRESH_SECONDS = 1)
    for path in ("/watching/", "/settings/"):
        page.goto(app.url(path))
    assert violations == [] and page.js_errors == []

    # What the policy is for: a script that got into the page without the nonce does not run.
    page.goto(app.url("/watching/"))
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("() => window.pwned") is None
    assert any("Content Security Policy" in text for text in violations)
