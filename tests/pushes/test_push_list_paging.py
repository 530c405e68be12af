""" "Older pushes" pages by push time, as Treeherder orders pushes: a push ingested late (a higher id, an
older time) shows once, at its time, and pushes of one second at a page boundary are neither lost nor
doubled, whatever order Treeherder gives them (pushes/paging.py, over the fake Treeherder's real HTTP)."""

from __future__ import annotations

import random
import re
from html import unescape
from typing import Any

import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeherder import FakeTreeherder
from pushes import paging
from pushes.rules import Push

pytestmark = pytest.mark.django_db


# --- The rule: any order of ties, any page size ---------------------------------------------------------


def treeherder(pushes: list[Push], rng: random.Random, lte: int | None, count: int) -> list[Push]:
    """Treeherder's answer: `-time` alone, so the pushes of one second in an order of the moment."""
    rows = [p for p in pushes if lte is None or p.push_timestamp <= lte]
    rows.sort(key=lambda p: (-p.push_timestamp, rng.random()))
    return rows[: min(count, 1000)]


def every_page(pushes: list[Push], count: int, rng: random.Random) -> list[list[Push]]:
    """The pages a reader gets by following "Older pushes" (a link while a page is full)."""
    pages: list[list[Push]] = []
    older: paging.Older | None = None
    while len(pages) <= len(pushes):
        asked = older.fetch_count(count) if older else count
        shown = paging.page(treeherder(pushes, rng, older and older.timestamp, asked), count, older)
        pages.append(shown)
        older = paging.after(shown, older)
        if len(shown) < count or older is None:
            return pages
        older = paging.from_query({k: str(v) for k, v in older.query().items()})  # through the link
    raise AssertionError("paging never ends")


def seconds_of(pushes: list[Push]) -> list[int]:
    return [p.push_timestamp for p in pushes]


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.lists(st.integers(0, 6), min_size=0, max_size=40),
    count=st.integers(1, 7),
    seed=st.integers(0, 2**32),
)
def test_every_push_shows_once_in_time_order_whatever_the_order_of_ties(seconds, count, seed):
    ids = random.Random(seed).sample(range(1, 10_000), len(seconds))  # ids unrelated to time: late pushes
    pushes = [
        Push(i, f"{i:040x}", "a@example.com", 1_700_000_000 + s) for i, s in zip(ids, seconds, strict=True)
    ]

    pages = every_page(pushes, count, random.Random(seed))

    listed = [p for shown in pages for p in shown]
    assert sorted(p.id for p in listed) == sorted(ids)  # every push, once
    assert [p.push_timestamp for p in listed] == sorted(seconds_of(pushes), reverse=True)  # newest first
    for shown in pages:  # within a page, one second's pushes by id
        assert shown == sorted(shown, key=lambda p: (-p.push_timestamp, -p.id))
    assert all(len(shown) == count for shown in pages[:-1])


def test_a_link_carries_the_pushes_of_its_second_already_shown():
    older = paging.Older(1_700_000_000, frozenset({7, 3}))
    assert older.query() == {"push_timestamp__lte": 1_700_000_000, "shown": "3,7"}
    assert paging.from_query({"push_timestamp__lte": "1700000000", "shown": "7,x,3,"}) == older
    assert paging.from_query({"push_timestamp__lte": "soon", "shown": "7"}) is None
    assert paging.from_query({"push_timestamp__lte": "²", "shown": "7"}) is None  # a digit, not a number
    assert paging.from_query({"push_timestamp__lte": "9" * 5000}) is None  # no moment Treeherder takes
    odd = paging.from_query({"push_timestamp__lte": "1700000000", "shown": "²,3," + "9" * 5000})
    assert odd == paging.Older(1_700_000_000, frozenset({3}))
    many = paging.from_query({"push_timestamp__lte": "1", "shown": ",".join(map(str, range(1000)))})
    assert many is not None and len(many.shown) == paging.MAX_SHOWN  # a link asks for at most 100 more
    assert paging.from_query({}) is None


# --- The push list over the fake Treeherder ---------------------------------------------------------------


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings: Any) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    return fake_treeherder


def listed_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li class="push-row" id="push-(\d+)"', html)]


def older_link(html: str) -> str | None:
    found = re.search(r'<a href="\?([^"]*)" rel="next">Older pushes', html)
    return unescape(found[1]) if found else None


def read_every_page(client: Client, first: str) -> list[list[int]]:
    pages, query = [], first
    while query is not None and len(pages) < 20:
        response = client.get(f"/try/?{query}")
        assert response.status_code == 200
        html = response.content.decode()
        pages.append(listed_ids(html))
        query = older_link(html)
    return pages


def test_a_push_ingested_late_shows_once_at_its_time_and_ties_are_neither_lost_nor_doubled(fake):
    before = fake.push_ids()  # 600005 ... 600001, pushed 20 s to 2 h ago
    late = fake.add_push(pushed_ago=3000)  # the highest id, pushed between 600004 and 600003
    ties = [fake.add_push(pushed_ago=4500) for _ in range(5)]  # one second, between 600003 and 600002

    pages = read_every_page(Client(), "count=2&author=")

    listed = [push_id for page in pages for push_id in page]
    assert listed[:4] == [*before[:2], late, before[2]] and listed[-2:] == before[3:]
    assert sorted(listed[4:-2]) == sorted(ties)  # the pushes of one second, each once, across 3 pages
    assert [len(page) for page in pages] == [2, 2, 2, 2, 2, 1]
    # Each page after the first asked Treeherder by time, never by id.
    queries = fake.queries("/api/project/try/push/")
    assert all("id__lt" not in q for q in queries) and sum("push_timestamp__lte" in q for q in queries) == 5


def test_an_old_id_lt_link_goes_on_by_time_from_the_push_it_named(fake):
    before = fake.push_ids()
    late = fake.add_push(pushed_ago=3000)  # older than 600004 by time, though its id is higher

    response = Client().get(f"/try/?count=2&author=&id__lt={before[1]}")

    assert response.status_code == 302
    moment = fake.push(before[1]).push_timestamp
    assert response["Location"] == f"/try/?count=2&push_timestamp__lte={moment}&shown={before[1]}&author="
    page = Client().get(response["Location"]).content.decode()
    assert listed_ids(page) == [late, before[2]]


def test_an_old_id_lt_link_to_a_push_treeherder_no_longer_has_is_a_404_page(fake):
    response = Client().get("/try/?count=2&id__lt=5")

    assert response.status_code == 404
    assert "No push 5 in repository “try”" in response.content.decode()
