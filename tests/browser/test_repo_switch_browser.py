"""The push list's repository selector in Chromium (issue 28, item 9), with JavaScript off: a plain GET
form that lands on the chosen repository's list."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_choosing_a_repository_without_javascript(page_without_javascript, app, fake_treeherder) -> None:
    page = page_without_javascript
    page.goto(app.url("/try/?author="))
    select = page.locator("form.repo-switch select[name=repo]")
    expect(select).to_have_value("try")
    assert select.locator("option").all_inner_texts()[:3] == ["try", "autoland", "mozilla-central"]
    select.select_option("autoland")
    page.locator("form.repo-switch button[type=submit]").click()
    expect(page).to_have_url(app.url("/autoland/?author="))
    expect(page.locator("h1")).to_have_text("autoland pushes")
    expect(page.locator("form.repo-switch select[name=repo]")).to_have_value("autoland")
