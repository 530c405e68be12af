"""The push page's shell, against the fake Treeherder over real HTTP: a browser navigating to a push page
that is not all cached gets at once what is cached and placeholders that load the parts that wait on
Treeherder (the header, the live section, the failure summary) as fragments, each with a link that
works without JavaScript and its own error; a warm page arrives whole in one response; other clients
and `?whole=1` get the whole page; an unknown push still ends on a 404."""

from __future__ import annotations

import re
import threading
import time
from html import unescape

import pytest
from django.core.cache import cache

from fakeherder import FakeTreeherder
from pushes import cached, reads

HX = {"HTTP_HX_REQUEST": "true"}
BROWSER = {"HTTP_SEC_FETCH_DEST": "document", "HTTP_SEC_FETCH_MODE": "navigate"}


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings) -> FakeTreeherder:
    settings.TREEHERDER_URL = settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    settings.BUILDWATCH_REFRESH_SECONDS = 30
    return fake_treeherder


def placeholders(html: str) -> dict[str, tuple[str, str]]:
    """{id: (the URL htmx loads it from, the link where it says it is reading)} of every part loaded at
    once."""
    found = {}
    for match in re.finditer(
        r'<(\w+) [^>]*?id="([\w-]+)"[^>]*? hx-get="([^"]+)" hx-trigger="load"[^>]*>', html
    ):
        tag, part, url = match.groups()
        inner = html[match.end() : html.index(f"</{tag}>", match.end())]
        link = re.search(r'class="reading".*?<a [^>]*href="([^"]+)"', inner, re.S)
        found[part] = (unescape(url), unescape(link.group(1)) if link else "")
    return found


def load_parts(client, html: str) -> dict[str, str]:
    """What htmx swaps in for each placeholder."""
    return {part: client.get(url, **HX).content.decode() for part, (url, _) in placeholders(html).items()}


def title(html: str) -> str:
    return unescape(re.search(r"<title>(.*?)</title>", html).group(1))


@pytest.mark.django_db
def test_a_browser_gets_the_shell_then_the_parts_then_a_warm_page_whole(client, fake):
    failed = fake.push_id("failed")
    page = f"/try/pushes/{failed}/"
    response = client.get(page, **BROWSER)
    shell = response.content.decode()
    assert response.status_code == 200 and "Sec-Fetch-Dest" in response["Vary"]
    assert title(shell) == f"Reading… · push {failed} · try · BuildWatch"
    assert 'data-verdict="reading">reading…</span>' in shell
    # Every part says it is reading and links where it works without JavaScript; a browser without
    # JavaScript goes to the whole page at once.
    whole = f"{page}?whole=1"
    assert placeholders(shell) == {
        "push-header": (f"/try/pushes/{failed}/header/", whole),
        "push-live": (page, whole),
        "failures": (f"/try/pushes/{failed}/failures/", f"/try/pushes/{failed}/failures/"),
    }
    assert shell.count('<p class="reading" role="status">reading… <a ') == 3
    assert f'<noscript><meta http-equiv="refresh" content="0; url={whole}"></noscript>' in shell
    assert 'id="push-poll"' not in shell  # the page's one poller comes with the live section

    parts = load_parts(client, shell)
    assert "Bug 1800003 - Rewrite IndexedDB transaction lifetimes" in parts["push-header"]
    assert "hx-get" not in parts["push-header"]  # complete: it loads nothing more
    assert 'id="push-poll"' in parts["push-live"] and 'data-title="✗ ' in parts["push-live"]
    assert 'class="badge big c-red" data-verdict="failing"' in parts["push-live"]
    assert 'data-digest="' in parts["failures"] and "failed jobs" in parts["failures"]

    # Everything is cached now: the next browser gets the page whole, failure summary included, in one
    # response that asked Treeherder nothing.
    reads.prefetched()
    fake.clear_requests()
    warm = client.get(page, **BROWSER).content.decode()
    assert fake.request_paths() == []
    assert "data-shell" not in warm and "data-placeholder" not in warm and "reading…" not in warm
    assert 'id="push-poll"' in warm and 'data-digest="' in warm and "Bug 1800003" in warm
    assert title(warm).startswith("✗ ") and "favicon-failing" in warm


@pytest.mark.django_db
def test_the_shell_starts_every_read_its_parts_need_at_once(client, fake):
    """The parts' requests then wait for those reads rather than make them one after another (the
    repository list and the push before the jobs, the classifications after the failure view)."""
    failed = fake.push_id("failed")
    fake.clear_requests()
    shell = client.get(f"/try/pushes/{failed}/", **BROWSER).content.decode()
    reads.prefetched()
    started = fake.request_paths()
    for read in ("/api/repository/", f"/push/{failed}/", f"push_id={failed}", "/decisiontask/",
                 "/api/failureclassification/", "/bug_suggestions/"):  # fmt: skip
        assert any(read in path for path in started), (read, started)
    assert len(started) == len(set(started))  # each once
    load_parts(client, shell)
    assert fake.request_paths() == started  # the parts asked Treeherder nothing more


@pytest.mark.django_db
def test_other_clients_and_whole_get_the_whole_page(client, fake):
    green = fake.push_id("green")
    page = f"/try/pushes/{green}/"
    # Not a browser navigating (curl, scripts): the page whole, the failure summary loaded by htmx.
    plain = client.get(page).content.decode()
    assert "data-shell" not in plain and 'id="push-poll"' in plain
    assert placeholders(plain) == {"failures": (f"{page}failures/", f"{page}failures/")}
    # ?whole=1 (a browser without JavaScript): everything in one response, and its filters keep it whole.
    whole = client.get(f"{page}?whole=1", **BROWSER).content.decode()
    assert placeholders(whole) == {}
    assert 'id="push-poll"' in whole and 'data-digest="' in whole and "No failed jobs" in whole
    assert '<input type="hidden" name="whole" value="1">' in whole
    assert title(whole).startswith("✓ passed · ")


@pytest.mark.django_db
def test_each_part_says_in_its_place_that_treeherder_did_not_answer(client, fake):
    failed = fake.push_id("failed")
    fake.set_down()
    # Nothing cached and Treeherder down: a browser gets the shell at once (it asks Treeherder nothing) ...
    shell = client.get(f"/try/pushes/{failed}/", **BROWSER)
    assert shell.status_code == 200
    # ... whose parts each say so where they are, and ask again every interval.
    parts = load_parts(client, shell.content.decode())
    for part, tag in (("push-header", "header"), ("push-live", "section"), ("failures", "section")):
        assert re.match(rf'<{tag} [^>]*id="{part}"[^>]*hx-trigger="every 30s"', parts[part].strip()), part
        assert "Treeherder did not answer" in parts[part] and 'role="alert"' in parts[part]
    # Once Treeherder is known to be down, the page is the whole "Treeherder did not answer" page.
    assert client.get(f"/try/pushes/{failed}/", **BROWSER).status_code == 503


@pytest.mark.django_db
def test_a_part_whose_read_fails_says_so_while_the_others_show(client, fake):
    failed = fake.push_id("failed")
    fake.fail_path("/api/jobs/", 500)  # the push answers, its jobs do not
    parts = load_parts(client, client.get(f"/try/pushes/{failed}/", **BROWSER).content.decode())
    assert "Bug 1800003 - Rewrite IndexedDB transaction lifetimes" in parts["push-header"]
    assert "Treeherder did not answer" in parts["push-live"]
    assert "no copy of this push's jobs yet" in parts["push-live"]
    assert "Treeherder did not answer" in parts["failures"] and "not available yet" in parts["failures"]
    assert "Treeherder did not answer" not in parts["push-header"]


@pytest.mark.django_db
def test_an_unknown_push_ends_on_a_404(client, fake):
    page = "/try/pushes/999999/"
    # Nothing cached: the shell cannot know; its first part to find out sends the browser to the
    # whole page, which says so with a 404.
    shell = client.get(page, **BROWSER).content.decode()
    url, _ = placeholders(shell)["push-header"]
    part = client.get(url, **HX)
    assert part["HX-Redirect"] == f"{page}?whole=1"
    missing = client.get(part["HX-Redirect"], **BROWSER)
    assert missing.status_code == 404 and "No push 999999" in missing.content.decode()
    # An unknown repository, once Treeherder's list is cached, is a 404 at once.
    assert client.get("/no-such-repo/pushes/1/", **BROWSER).status_code == 404


@pytest.mark.django_db
def test_the_shell_shows_the_last_counts_while_it_reads_again(client, fake, clock):
    watched = fake.push_id("watched")  # running: its jobs are cached for less than an interval
    page = f"/try/pushes/{watched}/"
    load_parts(client, client.get(page, **BROWSER).content.decode())
    reads.prefetched()
    clock.shift(120)
    shell = client.get(page, **BROWSER).content.decode()
    assert "data-shell" in shell
    # The push (cached a day) and its decision task are there: the header needs no fragment.
    assert "push-header" not in placeholders(shell) and "Bug " in shell
    counts = re.search(r'data-verdict="reading">reading…</span>\s*<span class="counts">(.*?)</span>\s*'
                       r'<span class="updated muted">(.*?)</span>', shell, re.S)  # fmt: skip
    assert counts, shell
    assert re.sub(r"<[^>]+>", "", counts.group(1)) == "0 of 1 jobs done"
    assert counts.group(2) == "as of 2 min ago"


def totals(html: str) -> str:
    found = re.search(r'<span class="counts">(.*?)</span>\s*<progress', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


@pytest.mark.django_db(transaction=True)
def test_a_part_shows_the_fetch_in_flight_not_the_last_good_copy(client, fake, settings):
    """The shell's prefetch holds the read its parts need; a part waits for it rather than show the
    last good copy meanwhile (a finished push's page would never look again)."""
    settings.BUILDWATCH_REFRESH_SECONDS = 1  # fresh copies last 0.8 s
    watched = fake.push_id("watched")
    page = f"/try/pushes/{watched}/"
    before = totals(client.get(page).content.decode())
    fake.advance(600)  # its job finishes
    time.sleep(1)  # the fresh copy of its jobs is gone; the last good one stays
    lock = f"{cached.KEY}:jobs:try:{watched}:lock"
    assert cache.add(lock, 1, 30)  # a fetch in flight (the prefetch's)
    part: dict[str, str] = {}

    def ask() -> None:  # as the shell's live placeholder does
        part["html"] = client.get(page, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="push-live").content.decode()

    asking = threading.Thread(target=ask)
    asking.start()
    asking.join(0.5)
    assert asking.is_alive()  # waiting for that fetch, not answering from the last good copy
    cache.delete(lock)  # the fetch gave up without an answer: the part reads for itself
    asking.join(30)
    assert totals(part["html"]) == totals(client.get(page).content.decode()) != before
