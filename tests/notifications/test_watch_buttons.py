"""The Watch buttons of the push pages: the push templates ask notifications' watch_tags for them (pushes
never imports notifications), once for a whole list, and each viewer sees their own watches, never
another viewer's through the fragments the push page renders once and shares with everyone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fakeherder import FakeTreeherder
from notifications.models import Watch
from tests.helpers import Element, has_class, parse_html

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    return fake_treeherder


def buttons(html: str | Element) -> dict[int, bool]:
    """{push id: watched} of every Watch / Unwatch button on the page (or in one of its elements)."""
    page = parse_html(html) if isinstance(html, str) else html
    forms = page.find_all("form", class_=has_class("watch-form"), data_push_id=True)
    return {int(form.attrs["data-push-id"]): "is-watching" in form.classes for form in forms}


def watch_queries(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if "notifications_watch" in query["sql"]]


def test_the_push_list_shows_the_viewers_own_watches_read_in_one_query(
    fake, alice: User, alice_client: Client, bob_client: Client
) -> None:
    pushes = fake.push_ids()
    assert len(pushes) >= 3
    Watch.objects.create(user=alice, repo="try", push_id=pushes[0])
    Watch.objects.create(user=alice, repo="try", push_id=pushes[2])
    Watch.objects.create(user=alice, repo="autoland", push_id=pushes[1])  # another repository's push
    with CaptureQueriesContext(connection) as queries:
        html = alice_client.get("/try/?author=").content.decode()
    assert buttons(html) == {push_id: push_id in (pushes[0], pushes[2]) for push_id in pushes}
    assert len(watch_queries(queries)) == 1  # for the whole list, not one per row

    assert buttons(bob_client.get("/try/?author=").content.decode()) == dict.fromkeys(pushes, False)


def test_rows_the_live_push_list_adds_carry_the_viewers_own_watch_buttons(
    fake, alice: User, alice_client: Client, bob_client: Client
) -> None:
    pushes = fake.push_ids()
    oldest, newest = pushes[-1], pushes[0]
    Watch.objects.create(user=alice, repo="try", push_id=newest)
    url = f"/try/live/?author=&count=20&ids=&top={oldest}"  # every newer push is new to this page
    with CaptureQueriesContext(connection) as queries:
        html = alice_client.get(url, **HX).content.decode()
    added = parse_html(html).one("ol", hx_swap_oob="afterbegin:#push-list")
    assert buttons(added) == {push_id: push_id == newest for push_id in pushes[:-1]}
    assert len(watch_queries(queries)) == 1

    assert buttons(bob_client.get(url, **HX).content.decode()) == dict.fromkeys(pushes[:-1], False)


def test_the_push_page_shows_each_viewer_their_own_button_beside_the_shared_groups(
    fake, alice: User, alice_client: Client, bob_client: Client
) -> None:
    push_id = fake.push_id("failed")
    Watch.objects.create(user=alice, repo="try", push_id=push_id)
    first = alice_client.get(f"/try/pushes/{push_id}/").content.decode()
    assert buttons(first) == {push_id: True}
    # Bob reads the same fetch: its groups come from the fragment Alice's view rendered and cached.
    second = bob_client.get(f"/try/pushes/{push_id}/").content.decode()
    assert buttons(second) == {push_id: False}
    groups = [parse_html(page).one("div", id="push-groups").source for page in (first, second)]
    assert groups[0] == groups[1]
    assert buttons(alice_client.get(f"/try/pushes/{push_id}/").content.decode()) == {push_id: True}
