"""The push list's one live refresh (`/<repo>/live/`) keeps to one budget for Treeherder per request, and
reads for an anonymous caller only pushes a list has shown: anyone can send 100 ids, and each id read is
an upstream read (the fake Treeherder over real HTTP, its request log, its latency knob)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from fakeherder import FakeTreeherder
from pushes.reads import OUT_OF_TIME, STATUS_WORKERS
from pushes.views import NOT_LISTED

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings: Any) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def live(client: Client, ids: list[int]) -> str:
    response = client.get(f"/try/live/?author=&count=20&ids={','.join(map(str, ids))}", **HX)
    assert response.status_code == 200
    return response.content.decode()


def cell(html: str, push_id: int) -> str:
    found = re.search(rf'<div class="status-cell[^"]*" id="status-{push_id}".*?</div>', html, re.S)
    assert found, f"no status cell for push {push_id}"
    return unescape(found[0])


def followed(html: str) -> set[int]:
    url = unescape(re.search(r'id="list-poll" hx-get="([^"]+)"', html)[1])
    ids = parse_qs(urlsplit(url).query, keep_blank_values=True)["ids"][0]
    return {int(i) for i in ids.split(",") if i}


def jobs_read_for(fake: FakeTreeherder) -> list[int]:
    return [int(q["push_id"]) for q in fake.queries("/api/jobs/")]


def test_an_anonymous_refresh_reads_only_pushes_a_list_has_shown(fake):
    anonymous = Client()
    listed = [int(i) for i in re.findall(r'id="push-(\d+)"', anonymous.get("/try/?author=").content.decode())]
    unlisted = [fake.add_push(hold="running") for _ in range(6)]  # real pushes, guessed ids
    fake.clear_requests()

    html = live(anonymous, [*listed, *unlisted])

    assert sorted(set(jobs_read_for(fake))) == sorted(listed)  # nothing read for the guessed ids
    for push_id in unlisted:
        assert "status unavailable" in cell(html, push_id) and NOT_LISTED in cell(html, push_id)
    assert not followed(html) & set(unlisted)  # and not asked about again
    assert "status unavailable" not in cell(html, listed[0])

    signed_in = Client()
    signed_in.force_login(get_user_model().objects.create_user("dana", "dana@example.com"))
    fake.clear_requests()
    live(signed_in, unlisted)
    assert sorted(jobs_read_for(fake)) == sorted(unlisted)  # a signed-in reader's ids are read


def test_a_refresh_waits_for_a_slow_treeherder_once_not_once_per_push(fake, settings):
    """With Treeherder slower than the page timeout, the reads started in the request's budget time out
    together; the other pushes are not read at all (before: every id was read, each with a timeout of
    its own, 100 ids in 42 s)."""
    settings.TREEHERDER_PAGE_TIMEOUT = 1.0
    client = Client()
    client.force_login(get_user_model().objects.create_user("dana", "dana@example.com"))
    client.get("/try/?author=")  # the repositories are known: the budget goes to the statuses
    ids = [fake.add_push(hold="running") for _ in range(3 * STATUS_WORKERS)]
    fake.set_latency(2.5)
    fake.clear_requests()

    html = live(client, ids)

    assert 0 < len(jobs_read_for(fake)) <= STATUS_WORKERS  # one wave of reads, then the budget is spent
    unread = [push_id for push_id in ids if OUT_OF_TIME in cell(html, push_id)]
    assert len(unread) >= len(ids) - STATUS_WORKERS
    assert all("status unavailable" in cell(html, push_id) for push_id in ids)
    assert followed(html) == set(ids)  # still running as far as anyone knows: asked about next time


def test_ids_that_only_look_like_numbers_are_ignored_not_a_500(fake):
    client = Client(raise_request_exception=False)
    html = client.get("/try/?author=").content.decode()
    listed = re.findall(r'id="push-(\d+)"', html)

    response = client.get(f"/try/live/?author=&count=20&ids=²,{'9' * 5000},{listed[0]}", **HX)

    assert response.status_code == 200  # "²" is a digit to str.isdigit, not a number to int()
    assert f'id="status-{listed[0]}"' in response.content.decode()
