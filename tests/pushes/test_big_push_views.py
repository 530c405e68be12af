"""A try push of 300 failed jobs on the pages, over real HTTP against the fake Treeherder's `triage`
scenario: its verdict on the page's badge, tab and favicon and in the push list's status cell, the failure
summary with the one new failure first and the failures already failing on the base push linked to it,
and a page that keeps to its Treeherder budget and says how far it got."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from fakeherder import FakeTreeherder

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def upstream(triage_upstream: FakeTreeherder) -> FakeTreeherder:
    return triage_upstream


def page(upstream: FakeTreeherder, role: str, path: str = "", **headers: str) -> str:
    response = Client().get(f"/try/pushes/{upstream.push_id(role)}/{path}", **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_300_known_intermittents_say_known_failures_only_on_the_badge_tab_favicon_and_list(upstream):
    detail = page(upstream, "known")
    assert "<title>⚠ known failures only · Bug 1950010 - Rewrite the layout cache" in detail
    # The badge links to the failure summary (issue 28).
    assert (
        '<a class="badge big c-orange" data-verdict="known" href="#failures" title="To the failure summary">'
        "⚠ known failures only</a>"
    ) in detail
    assert "favicon-known.svg" in detail
    cell = page(upstream, "known", "status/", **HX)
    assert ">⚠ known failures only</span>" in cell

    failures = page(upstream, "known", "failures/", **HX)
    assert "300 failed jobs." in failures and "triaged" not in failures
    assert re.findall(r'data-section="([\w-]+)"', failures) == ["intermittent"]
    assert "60 known intermittents" in failures
    assert "and 0 more" not in failures and failures.count('class="failure-group"') == 60


def test_one_new_failure_among_300_is_the_verdict_and_comes_first(upstream):
    detail = page(upstream, "one-new")
    assert "<title>✗ 1 new failure · " in detail and "favicon-failing.svg" in detail
    failures = page(upstream, "one-new", "failures/", **HX)
    assert "1 new failure (testing/triage/new/test_mine.html) · 60 known intermittents" in failures
    groups = re.findall(r'<li class="failure-group" data-triage="(\w+)">', failures)
    assert groups[0] == "new" and set(groups[1:]) == {"intermittent"}
    base = upstream.push(upstream.push_id("base"))
    assert f'data-base="passing">passes on autoland push {base.id}</span>' in failures
    assert (
        f'Based on <a href="{upstream.url}/jobs?repo=autoland&amp;revision={base.revision}">autoland push {base.id}</a>'
        in failures
    )


def test_failures_already_failing_on_the_base_push_link_to_it(upstream):
    failures = page(upstream, "mixed", "failures/", **HX)
    base = upstream.push(upstream.push_id("base"))
    assert re.findall(r'data-section="([\w-]+)"', failures) == ["new", "base", "intermittent"]
    assert "2 new failures · 4 failing on the base push · " in failures
    link = f'<a href="{upstream.url}/jobs?repo=autoland&amp;revision={base.revision}">autoland push {base.id}</a>'
    assert f'<span data-base="failing">Also fails on {link}.</span>' in failures
    assert failures.count('data-triage="base"') == 4
    detail = page(upstream, "mixed")
    assert "<title>✗ 2 new failures · " in detail


def test_a_page_keeps_to_its_budget_and_says_how_far_triage_got(upstream, settings):
    settings.TREEHERDER_PAGE_TIMEOUT = 2.0  # the failures get 1.0 s of it, and read 8 at a time
    upstream.set_latency(0.1)
    failures = page(upstream, "known", "failures/", **HX)
    triaged = int(re.search(r'data-triaged="(\d+)"', failures).group(1))
    assert 0 < triaged < 300
    assert f"triaged {triaged} of 300 failed jobs</strong> — BuildWatch is reading the rest" in failures
    assert f"{300 - triaged} failed jobs whose evidence BuildWatch has not read yet" in failures
    assert 'data-section="new"' not in failures  # a job not read is never "new"
    detail = page(upstream, "known")
    assert "known failures only" not in detail and "<title>✗ failing · " in detail


def test_confirm_offers_only_the_new_failures_not_those_failing_on_the_base_push(upstream):
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.create_user("ada", "ada@example.com"))
    html = client.get(f"/try/pushes/{upstream.push_id('mixed')}/confirm/").content.decode()
    assert re.findall(r'<strong class="triage-new">new</strong> <code>([^<]+)</code>', html) == [
        "testing/triage/new/test_also_mine.html", "testing/triage/new/test_mine.html"
    ]  # fmt: skip
    assert "test_broken_" not in html
