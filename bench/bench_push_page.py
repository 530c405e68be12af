"""Benchmark: what a browser costs on the push page of the 5,200-job push, over real HTTP.

    .venv/bin/python bench/bench_push_page.py [--runs 5] [--viewers 20] [--no-redis]

The fake Treeherder runs in its own process (`manage.py fake_treeherder`, default scenario, clock
stopped); BuildWatch is served by a multi-threaded WSGI server in this process, with Redis as the cache
when it answers on 127.0.0.1:6379 (its own key prefix; nothing else is flushed), signed in. A "page" is
what a browser fetches: the HTML plus every fragment it loads (elements with `hx-trigger="load"`). Then
a reader opens the two largest groups, and a "refresh" is one round of the page's poller (with what its
answer loads) after the push moved on 30 simulated seconds, those two groups open. Each iteration runs cold (empty cache), warm and refresh,
and times `json.loads` of the push's raw job pages (the floor) in between. Prints medians, ratios, bytes
to the browser (gzip and not), upstream requests and peak memory, with the goals beside them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS = ("127.0.0.1", 6379)
REDIS_DB = 11
OPEN_GROUPS = 2
ADVANCE = 30


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cost:
    seconds: float = 0.0
    wire: int = 0  # bytes as sent (gzip when the server compressed)
    html: int = 0  # bytes once decompressed
    requests: int = 0
    upstream: int = 0


@dataclass
class Samples:
    costs: dict[str, list[Cost]] = field(default_factory=dict)

    def add(self, name: str, cost: Cost) -> None:
        self.costs.setdefault(name, []).append(cost)

    def median(self, name: str, attribute: str) -> float:
        return statistics.median(getattr(cost, attribute) for cost in self.costs[name])


class Browser:
    """Fetches like htmx would: HTML, then the `load` fragments; a refresh fetches the poller's URL."""

    def __init__(self, base: str, cookie: tuple[str, str], fake: str) -> None:
        import urllib3

        self.base, self.fake = base, fake
        self.http = urllib3.PoolManager(maxsize=64)
        self.headers = {"Accept-Encoding": "gzip", "Cookie": f"{cookie[0]}={cookie[1]}"}

    def get(self, path: str, cost: Cost, *, fragment: bool = False) -> str:
        headers = dict(self.headers, **({"HX-Request": "true"} if fragment else {}))
        response = self.http.request(
            "GET", self.base + path, headers=headers, decode_content=False, retries=False
        )
        assert response.status == 200, (path, response.status)
        body = response.data
        cost.wire += len(body)
        text = gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body
        cost.html += len(text)
        cost.requests += 1
        return text.decode()

    def upstream_count(self) -> int:
        return json.loads(self.http.request("GET", f"{self.fake}/__fake__/requests").data)["count"]

    def advance(self, seconds: float) -> None:
        self.http.request("POST", f"{self.fake}/__fake__/advance?seconds={seconds}")

    def loads(self, html: str, cost: Cost) -> list[str]:
        """Fetch every fragment with hx-trigger containing "load", recursively (two levels)."""
        bodies = []
        for url in _hx_gets(html, "load"):
            body = self.get(url, cost, fragment=True)
            bodies.append(body)
            for inner in _hx_gets(body, "load"):
                bodies.append(self.get(inner, cost, fragment=True))
        return bodies


def _hx_gets(html: str, trigger: str) -> list[str]:
    found = []
    for tag in re.findall(r"<[a-z]+\s[^>]*hx-get=\"[^\"]+\"[^>]*>", html):
        when = re.search(r'hx-trigger="([^"]+)"', tag)
        if when and re.search(rf"\b{trigger}\b", when.group(1)) and "toggle" not in when.group(1):
            found.append(unescape(re.search(r'hx-get="([^"]+)"', tag).group(1)))
    return found


def _groups_to_open(html: str, count: int) -> list[tuple[str, str]]:
    """(id, url) of the largest closed groups: what a reader opens."""
    groups = re.findall(
        r'<details class="group" id="([^"]+)" hx-get="([^"]+)" hx-trigger="toggle once"[^>]*>.*?(\d+)/(\d+)',
        html,
        re.S,
    )
    groups.sort(key=lambda g: -int(g[3]))
    return [(gid, unescape(url)) for gid, url, _, _ in groups[:count]]


def page_and_fragments(browser: Browser, path: str, opened: list[tuple[str, str]]) -> tuple[Cost, str]:
    cost = Cost()
    before = browser.upstream_count()
    start = time.perf_counter()
    html = browser.get(path, cost)
    html += "".join(browser.loads(html, cost))  # what polls: the page's poller and the fragments' own
    for _, url in opened:
        browser.get(url, cost, fragment=True)
    cost.seconds = time.perf_counter() - start
    cost.upstream = browser.upstream_count() - before
    return cost, html


def open_groups(browser: Browser, opened: list[tuple[str, str]]) -> Cost:
    """A reader opens groups: each loads its jobs (a fragment)."""
    cost = Cost()
    before = browser.upstream_count()
    start = time.perf_counter()
    for _, url in opened:
        browser.get(url, cost, fragment=True)
    cost.seconds = time.perf_counter() - start
    cost.upstream = browser.upstream_count() - before
    return cost


def refresh_round(browser: Browser, html: str, opened: list[tuple[str, str]]) -> Cost:
    """Every request the page makes in one refresh interval: each element polling (`every`: the push
    page's one poller now; the failure summary polled itself before), as push.js sends it (the open
    groups, the failure summary's digest), then what the answers load."""
    cost = Cost()
    before = browser.upstream_count()
    start = time.perf_counter()
    for url in _hx_gets(html, "every"):
        if "/live/?" in url:  # push.js sends the open groups and the failure summary's digest
            shown = re.search(r"open=([^&]*)", url)
            ids = [part for part in unquote(shown.group(1)).split(",") if part] if shown else []
            ids += [group_id for group_id, _ in opened]
            url = re.sub(r"open=[^&]*", "open=" + quote(",".join(ids)), url)
            digest = re.search(r'<section id="failures" class="failures" data-digest="(\w+)"', html)
            if digest:
                url += f"&failures={digest.group(1)}"
        body = browser.get(url, cost, fragment=True)
        browser.loads(body, cost)
        for group_id, group_url in opened:  # a group swapped in whole reloads when reopened
            if f'id="{group_id}"' in body and "<details" in body:
                browser.get(group_url, cost, fragment=True)
    cost.seconds = time.perf_counter() - start
    cost.upstream = browser.upstream_count() - before
    return cost


@dataclass
class Crowd:
    requests: int  # upstream requests while the viewers loaded the page
    distinct: int  # distinct upstream reads among them
    repeated: list[str]  # reads Treeherder saw more than once
    seconds: float  # until the last viewer had the page


def concurrent_cold(browser: Browser, path: str, viewers: int, clear) -> Crowd:
    """What Treeherder sees when `viewers` open the page at once on an empty cache, within one refresh
    interval (30 s, production's default: the cache lifetime is that interval, not the 1 s of the rounds)."""
    from django.test import override_settings

    clear()
    barrier = threading.Barrier(viewers)

    def one(_: int) -> None:
        barrier.wait()
        browser.get(path, Cost())

    browser.http.request("POST", f"{browser.fake}/__fake__/clear-requests")
    start = time.perf_counter()
    with override_settings(BUILDWATCH_REFRESH_SECONDS=30), ThreadPoolExecutor(viewers) as pool:
        list(pool.map(one, range(viewers)))
    seconds = time.perf_counter() - start
    seen = json.loads(browser.http.request("GET", f"{browser.fake}/__fake__/requests").data)["requests"]
    counts: dict[str, int] = {}
    for request in seen:
        counts[request] = counts.get(request, 0) + 1
    repeated = [f"{request} x{n}" for request, n in counts.items() if n > 1]
    return Crowd(len(seen), len(counts), repeated, seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bw-bench-"))
    fake_port = _free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    redis = not args.no_redis and _port_open(*REDIS)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="buildwatch.settings",
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}",
        TREEHERDER_URL=fake_url,
        TASKCLUSTER_ROOT_URL=fake_url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        BUILDWATCH_REFRESH_SECONDS="2",  # cached copies of a running push last 1 s: a refresh round waits that long
        # Production's shape: DEBUG off (templates cached, no SQL kept), static files collected.
        DEBUG="0",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        SECURE_SSL_REDIRECT="0",
        STATIC_ROOT=str(work / "static"),
    )
    if redis:
        os.environ["REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}"
    fake = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "fake_treeherder",
            "--port",
            str(fake_port),
            "--speed",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if _port_open("127.0.0.1", fake_port):
                break
            time.sleep(0.1)
        run(args, fake_url, redis, prefix)
    finally:
        fake.terminate()
        fake.wait(10)


def run(args: argparse.Namespace, fake_url: str, redis: bool, prefix: str) -> None:
    import django

    django.setup()
    from django.conf import settings

    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    from django.contrib.auth import get_user_model
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.cache import cache
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    user = get_user_model().objects.create_user("bench", "tester@mozilla.com", "pw")
    client = Client()
    client.force_login(user)
    cookie = (settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)

    def clear() -> None:
        if redis:
            import redis as redis_client

            conn = redis_client.Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB)
            keys = list(conn.scan_iter(f"{prefix}:*"))
            if keys:
                conn.delete(*keys)
        else:
            cache.clear()

    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server = make_server("127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), Threaded, Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Browser(f"http://127.0.0.1:{server.server_port}", cookie, fake_url)

    roles = json.loads(browser.http.request("GET", f"{fake_url}/__fake__/state").data)["pushes"]
    big = next(p for p in roles if p["role"] == "big")
    path = f"/try/pushes/{big['id']}/"
    raw_pages = _raw_job_pages(browser, big["id"])

    samples = Samples()
    opened: list[tuple[str, str]] = []
    for _ in range(args.runs):
        clear()
        cold, html = page_and_fragments(browser, path, [])
        samples.add("cold", cold)
        warm, html = page_and_fragments(browser, path, [])
        samples.add("warm", warm)
        opened = opened or _groups_to_open(html, OPEN_GROUPS)
        samples.add(f"open {len(opened)} large groups, first viewer", open_groups(browser, opened))
        samples.add(f"open {len(opened)} large groups, next viewers", open_groups(browser, opened))
        browser.advance(ADVANCE)
        time.sleep(1.1)
        samples.add("refresh", refresh_round(browser, html, opened))
        unchanged = refresh_round(browser, _next_page(browser, path), opened)
        samples.add("refresh, nothing changed", unchanged)
        start = time.perf_counter()
        for body in raw_pages:
            json.loads(body)
        samples.add("floor", Cost(seconds=time.perf_counter() - start))

    tracemalloc.start()
    page_and_fragments(browser, path, [])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    upstream_cold = concurrent_cold(browser, path, args.viewers, clear)
    report(samples, big, raw_pages, redis, args, opened, peak, upstream_cold)


def _raw_job_pages(browser: Browser, push_id: int) -> list[bytes]:
    pages, url = [], f"{browser.fake}/api/jobs/?push_id={push_id}&count=2000"
    while url:
        body = browser.http.request("GET", url).data
        pages.append(body)
        url = json.loads(body)["next"]
    return pages


def _next_page(browser: Browser, path: str) -> str:
    """The page as it stands after a refresh (its poller carries the newest token)."""
    return page_and_fragments(browser, path, [])[1]


def report(samples, big, raw_pages, redis, args, opened, peak, upstream_cold) -> None:
    floor = samples.median("floor", "seconds")
    print(
        f"push {big['id']}: {big['jobs']} jobs, {len(raw_pages)} pages of /api/jobs/ "
        f"({sum(map(len, raw_pages)) // 1024} KiB); cache {'Redis' if redis else 'local memory'}; "
        f"signed in; {len(opened)} groups open; {args.runs} runs"
    )
    print(f"  json.loads floor          median {floor * 1000:7.1f} ms")
    goals = {
        "warm": "goal <= 3x floor",
        "refresh": "goal <= 10 KiB",
        "refresh, nothing changed": "goal <= 1 KiB",
    }
    for name in samples.costs:
        if name == "floor":
            continue
        seconds = samples.median(name, "seconds")
        print(
            f"  {name:25} median {seconds * 1000:7.1f} ms  x{seconds / floor:5.1f} floor  "
            f"{samples.median(name, 'wire') / 1024:7.1f} KiB sent ({samples.median(name, 'html') / 1024:7.1f} KiB html)  "
            f"{samples.median(name, 'requests'):g} requests  upstream {samples.median(name, 'upstream'):g}  "
            f"{goals.get(name, '')}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  peak memory: one warm page+fragments {peak / 2**20:.1f} MiB allocated; process max RSS {rss:.0f} MiB"
    )
    crowd = upstream_cold
    print(
        f"  {args.viewers} viewers at once on an empty cache: {crowd.requests} upstream requests, "
        f"{crowd.distinct} distinct reads (the push, its {len(raw_pages)} job pages, decision task, failed jobs' "
        f"logs and suggestions), repeated: {', '.join(crowd.repeated) or 'none'}; all pages in "
        f"{crowd.seconds:.1f} s  goal: one fetch per push per interval"
    )


if __name__ == "__main__":
    main()
