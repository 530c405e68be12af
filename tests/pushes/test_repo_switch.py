"""Switching repository from the push list (issue 28, item 9): a selector of the repositories Treeherder
lists (try, autoland, mozilla-central first; a fixed short list when Treeherder is down), a GET form
that works without JavaScript (`?repo=X` goes to /X/)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from fakeherder import repositories_payload
from pushes import services
from tests.helpers import has_class, parse_html
from tests.pushes.conftest import TH, push

pytestmark = pytest.mark.django_db

LISTED = ("comm-central", "mozilla-central", "elm", "try", "autoland", "mozilla-beta")


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TREEHERDER_URL = TH
    settings.BUILDWATCH_REFRESH_SECONDS = 30


@pytest.fixture
def th(mocked_responses):
    rows = repositories_payload(LISTED) + [{"id": 99, "name": "retired-repo", "active_status": "onhold"}]
    mocked_responses.get(f"{TH}/api/repository/", json=rows)
    return mocked_responses


def serve_list(th, repo: str) -> None:
    th.get(
        f"{TH}/api/project/{repo}/push/",
        json={"meta": {"count": 1, "repository": repo, "filter_params": {}}, "results": [push(100)]},
    )


def selector(html: str):
    return parse_html(html).one("form", class_=has_class("repo-switch"))


def test_choices_put_the_usual_three_first_then_the_rest_alphabetically(th) -> None:
    assert services.repository_choices() == [
        "try", "autoland", "mozilla-central", "comm-central", "elm", "mozilla-beta",
    ]  # fmt: skip
    assert len(th.calls) == 1  # through the cached read
    services.repository_choices()
    assert len(th.calls) == 1


def test_treeherder_down_gives_the_fixed_short_list(mocked_responses) -> None:
    mocked_responses.get(f"{TH}/api/repository/", status=400, json={"detail": "no"})
    choices = services.repository_choices()
    assert choices[:3] == ["try", "autoland", "mozilla-central"]
    assert set(choices) == set(services.FALLBACK_REPOSITORIES)


def test_the_push_list_has_a_selector_with_the_current_repository_chosen(client, th) -> None:
    serve_list(th, "elm")
    form = selector(client.get("/elm/").content.decode())
    assert form.attrs["method"] == "get" and form.attrs["action"] == "/elm/"
    options = form.find_all("option")
    assert [option.attrs["value"] for option in options][:3] == ["try", "autoland", "mozilla-central"]
    assert "retired-repo" not in [option.attrs["value"] for option in options]
    assert [option.text for option in options if "selected" in option.attrs] == ["elm"]
    assert form.one("select").attrs["name"] == "repo"
    assert form.find_all("button", type="submit")
    assert not form.find_all("input", name="author")  # no author chosen: the other list's default


def test_choosing_a_repository_goes_to_its_list(client, th) -> None:
    serve_list(th, "elm")
    response = client.get("/try/?repo=elm")
    assert response.status_code == 302 and response["Location"] == "/elm/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and "elm pushes" in page.content.decode()


def test_the_chosen_author_comes_along(client, th) -> None:
    serve_list(th, "try")
    form = selector(client.get("/try/?author=dev%40mozilla.com").content.decode())
    assert form.one("input", name="author").attrs["value"] == "dev@mozilla.com"
    response = client.get("/try/?repo=elm&author=dev%40mozilla.com")
    assert response["Location"] == "/elm/?author=dev%40mozilla.com"


@pytest.mark.parametrize("bad", ["../admin", "", "a b", "<script>"])
def test_a_name_that_is_no_repository_is_a_404_that_says_so(client, mocked_responses, bad: str) -> None:
    response = client.get("/try/", {"repo": bad})  # refused before any read of Treeherder
    assert response.status_code == 404
    assert "Unknown repository" in response.content.decode()
    assert "<script>" not in response.content.decode()


def test_an_unknown_but_wellformed_name_lands_on_its_404(client, th) -> None:
    response = client.get("/try/?repo=nowhere", follow=True)
    assert response.redirect_chain == [("/nowhere/", 302)]
    assert response.status_code == 404


def test_the_selector_keeps_working_from_the_fallback_list_when_treeherder_is_down(client, mocked_responses):
    mocked_responses.get(f"{TH}/api/repository/", status=503, body="down")
    mocked_responses.get(f"{TH}/api/project/try/push/", status=503, body="down")
    cache.clear()
    form = selector(client.get("/try/").content.decode())
    assert "mozilla-beta" in [option.attrs["value"] for option in form.find_all("option")]
