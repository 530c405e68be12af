"""Keyboard shortcuts (issue 28, item 7, static/js/keys.js) in Chromium on the failed push's page: `/`
focuses the job search, `j`/`k` move between failures, `f` toggles Failures only, `?` lists the keys;
never while typing in a field or with a modifier key."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("BUILDWATCH_SCREENSHOTS", "")  # a directory: save the pages there to look at


def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"keys-{name}.png"))


@pytest.fixture
def push_page(page, app, fake_treeherder):
    page.set_viewport_size({"width": 1280, "height": 700})
    page.goto(app.url(f"/try/pushes/{fake_treeherder.push_id('failed')}/"))
    page.locator(".failure-group").nth(1).wait_for()
    page.wait_for_load_state("networkidle")
    page.locator("h1").first.click()  # the page has the keyboard, no field is focused
    return page


def active(page) -> dict:
    return page.evaluate(
        """() => {
          const el = document.activeElement;
          const groups = [...document.querySelectorAll('.failure-group')];
          return {tag: el.tagName.toLowerCase(), type: el.type || '', index: groups.indexOf(el),
                  current: groups.findIndex(g => g.classList.contains('key-current'))};
        }"""
    )


def in_view(locator) -> bool:
    return locator.evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    )


def test_slash_focuses_the_job_search_without_typing_a_slash(push_page) -> None:
    push_page.keyboard.press("/")
    search = push_page.locator("form.job-filters input[type=search]")
    expect(search).to_be_focused()
    push_page.keyboard.type("mochitest")
    expect(search).to_have_value("mochitest")


def test_typing_j_k_f_in_the_search_box_types_them(push_page) -> None:
    search = push_page.locator("form.job-filters input[type=search]")
    search.click()
    push_page.keyboard.type("jkf?")
    expect(search).to_have_value("jkf?")
    assert active(push_page)["current"] == -1  # no failure was moved to
    expect(push_page.locator("#keys-help")).to_be_hidden()
    assert "show=failures" not in push_page.url


def test_j_and_k_move_between_failures(push_page) -> None:
    groups = push_page.locator(".failure-group")
    push_page.keyboard.press("j")
    assert active(push_page) == {"tag": "li", "type": "", "index": 0, "current": 0}
    push_page.keyboard.press("j")
    assert active(push_page)["index"] == active(push_page)["current"] == 1
    assert in_view(groups.nth(1))
    screenshot(push_page, "j")
    expect(groups.nth(1)).to_have_class(re.compile(r"\bkey-current\b"))
    expect(groups.nth(0)).not_to_have_class(re.compile(r"\bkey-current\b"))
    push_page.keyboard.press("k")
    assert active(push_page)["index"] == active(push_page)["current"] == 0
    assert in_view(groups.nth(0))
    push_page.keyboard.press("k")  # already at the first: stays
    assert active(push_page)["current"] == 0


def test_the_last_failure_is_scrolled_into_view(push_page) -> None:
    groups = push_page.locator(".failure-group:visible")
    count = groups.count()
    assert count >= 3
    for _ in range(count + 2):
        push_page.keyboard.press("j")
    assert active(push_page)["current"] == push_page.locator(".failure-group").evaluate_all(
        "(all) => all.indexOf(all.filter(g => g.getClientRects().length).at(-1))"
    )
    assert in_view(groups.nth(count - 1))


def test_f_toggles_failures_only(push_page) -> None:
    push_page.keyboard.press("f")
    expect(push_page).to_have_url(re.compile(r"show=failures"))
    failures = push_page.locator("form.job-filters input[name=show][value=failures]")
    expect(failures).to_be_checked()
    expect(push_page.locator("#push-live")).to_have_attribute("data-filtered", "1")
    push_page.locator("h1").first.click()
    push_page.keyboard.press("f")
    expect(push_page).to_have_url(re.compile(r"show=all"))
    expect(push_page.locator("form.job-filters input[name=show][value=all]")).to_be_checked()
    expect(push_page.locator("#push-live")).to_have_attribute("data-filtered", "")


def test_question_mark_shows_and_hides_the_keys(push_page) -> None:
    hint = push_page.locator("#keys-hint")
    expect(hint).to_be_visible()
    expect(hint).to_have_text(re.compile(r"Press \? for keys"))
    panel = push_page.locator("#keys-help")
    expect(panel).to_be_hidden()
    push_page.keyboard.press("?")
    expect(panel).to_be_visible()
    screenshot(push_page, "help")
    for key in ("/", "j", "k", "f", "?"):
        expect(panel.locator("kbd", has_text=key).first).to_be_visible()
    push_page.keyboard.press("?")
    expect(panel).to_be_hidden()
    push_page.keyboard.press("?")
    push_page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert push_page.js_errors == []


def test_modifier_keys_are_left_to_the_browser(push_page) -> None:
    for chord in ("Alt+j", "Control+j", "Meta+k", "Alt+f"):
        push_page.keyboard.press(chord)
    assert active(push_page)["current"] == -1
    assert "show=" not in push_page.url


def test_keys_in_a_select_are_left_to_it(page, app, fake_treeherder) -> None:
    page.goto(app.url("/try/"))
    select = page.locator("form.repo-switch select")
    select.focus()
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_hidden()


def test_without_javascript_no_hint_is_shown(page_without_javascript, app, fake_treeherder) -> None:
    page_without_javascript.goto(app.url("/try/"))
    expect(page_without_javascript.locator("#keys-hint")).to_be_hidden()


def test_the_push_list_offers_only_the_keys_that_work_there(page, app, fake_treeherder) -> None:
    page.set_viewport_size({"width": 1280, "height": 700})
    page.goto(app.url("/try/"))
    page.wait_for_load_state("networkidle")
    assert (
        page.locator("form.job-filters input[type=search], .failure-group").count() == 0
    )  # nothing to search
    page.locator("h1").first.click()
    page.keyboard.press("?")
    panel = page.locator("#keys-help")
    expect(panel).to_be_visible()
    screenshot(page, "help-list")
    expect(panel.locator("kbd:visible")).to_have_text(["?"])  # not "/", "j k" nor "f": they do nothing here
    expect(panel.get_by_text("Search the jobs")).to_be_hidden()
    expect(panel.get_by_text("Show or hide this list")).to_be_visible()
    page.keyboard.press("/")  # and indeed nothing happens
    expect(page.locator("body")).to_be_focused()
    assert page.js_errors == []


def test_a_green_push_offers_search_and_filters_but_no_failures_to_move_to(
    page, app, fake_treeherder
) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(app.url(f"/try/pushes/{fake_treeherder.push_id('green')}/"))
    page.wait_for_load_state("networkidle")
    page.locator("h1").first.click()
    page.keyboard.press("?")
    panel = page.locator("#keys-help")
    expect(panel).to_be_visible()
    screenshot(page, "help-green")
    expect(panel.locator("kbd:visible")).to_have_text(["/", "f", "?"])
    expect(panel.get_by_text("Next / previous failure")).to_be_hidden()
