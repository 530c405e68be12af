"""Benchmark: what a browser costs on the push page of the 5,200-job push, over real HTTP.

    .venv/bin/python bench/bench_push_page.py [--runs 5] [--viewers 20] [--no-redis] [--part all|costs|cold]
        [--gunicorn "ARGS"] [--crowd-configs "ARGS;ARGS"] [--cold-runs 5]

The fake Treeherder runs in its own process (`manage.py fake_treeherder`, default scenario, clock
stopped); BuildWatch is served by a multi-threaded WSGI server in this process, with Redis as the cache
when it answers on 127.0.0.1:6379 (its own key prefix; nothing else is flushed), signed in. A "page" is
what a browser fetches: the HTML plus every fragment it loads (elements with `hx-trigger="load"`). Then
a reader opens the two largest groups, and a "refresh" is one round of the page's poller (with what its
answer loads) after the push moved on 30 simulated seconds, those two groups open. Each iteration runs cold (empty cache), warm and refresh,
and times `json.loads` of the push's raw job pages (the floor) in between. Prints medians, ratios, bytes
to the browser (gzip and not), upstream requests and peak memory, with the goals beside them.

The cold part (`--part cold`, Redis needed: the cache the server processes share) serves BuildWatch as
production does, with gunicorn in its own processes (the worker options of docker-compose.yml's web
command, or `--gunicorn`), and loads the page as a browser navigating to it would (`Sec-Fetch-Dest:
document`), then every fragment it loads, six at a time like a browser. On an empty cache, at 0, 50 and
200 ms per upstream request (the fake's latency): the time to the page's first byte and to the complete
page (every fragment answered), and how many sequential upstream round trips the complete page took
(the slope of its time over the latency) against the reads it needs (the job pages, one after another,
then the failed jobs' logs). Then 20 viewers of 5 different pushes open them at once on an empty cache
(three times), at 0, 50 and 200 ms per request, under each worker configuration of `--crowd-configs`:
first byte and complete page (p50/p95 of the 60 viewers), and each push opened alone. A viewer that
waits on other viewers' upstream reads (its request queued behind theirs) has a first byte that grows
with the latency, and a complete page that grows by more than its own round trips. Everything runs on
one machine: the fake, gunicorn's workers and the viewers share its cores, so at 0 ms the crowd
measures the CPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS = ("127.0.0.1", 6379)
REDIS_DB = int(os.environ.get("BUILDWATCH_BENCH_REDIS_DB", "11"))
LATENCIES = (0.0, 0.05, 0.2)
CROWD_LATENCIES = (0.0, 0.05, 0.2)
CROWD_ROUNDS = 3  # crowds per latency, their viewers counted together
CROWD_PUSHES = ("big", "failed", "many-errors", "known-failures", "running")
BROWSER_CONNECTIONS = 6  # what a browser opens to one host over HTTP/1.1
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
        # A page as a browser navigates to it (BuildWatch may answer a browser with the page's shell).
        page = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
        headers = dict(self.headers, **({"HX-Request": "true"} if fragment else page))
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
    seconds: float  # until the last viewer had the page and its fragments


def concurrent_cold(browser: Browser, path: str, viewers: int, clear) -> Crowd:
    """What Treeherder sees when `viewers` open the page at once on an empty cache, within one refresh
    interval (30 s, production's default: the cache lifetime is that interval, not the 1 s of the rounds)."""
    from django.test import override_settings

    clear()
    barrier = threading.Barrier(viewers)

    def one(_: int) -> None:
        barrier.wait()
        cost = Cost()
        browser.loads(browser.get(path, cost), cost)

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
    parser.add_argument("--part", choices=("all", "costs", "cold"), default="all")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument(
        "--gunicorn", default="", help="gunicorn's worker options (default: docker-compose.yml's)"
    )
    parser.add_argument(
        "--crowd-configs",
        default="",
        help="';'-separated worker options the 20 viewers are measured under (default: 3 sync workers and "
        "the --gunicorn ones)",
    )
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
    cookie, clear = setup(redis, prefix)
    if args.part in ("all", "costs"):
        costs(args, fake_url, redis, cookie, clear)
    if args.part in ("all", "cold"):
        if not redis:
            print(
                "cold part: skipped, it needs Redis on 127.0.0.1:6379 (the cache gunicorn's processes share)"
            )
            return
        cold(args, fake_url, prefix, cookie, clear)


def setup(redis: bool, prefix: str):
    """Django in this process: the database migrated, static files collected, a signed-in user's
    session cookie, and how to empty the bench's part of the cache."""
    import django

    django.setup()
    from django.conf import settings

    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
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

    return cookie, clear


def costs(args: argparse.Namespace, fake_url: str, redis: bool, cookie: tuple[str, str], clear) -> None:
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

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


# --- Cold pages over gunicorn, as production serves them --------------------------------------------


def prefixed_application():
    """The WSGI app gunicorn serves in the cold part: BuildWatch with the bench's own cache key prefix."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "buildwatch.settings")
    django.setup()
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    settings.CACHES["default"]["KEY_PREFIX"] = os.environ["BENCH_KEY_PREFIX"]
    return get_wsgi_application()


def compose_worker_options() -> str:
    """The worker options of docker-compose.yml's web command (what production runs)."""
    text = (ROOT / "docker-compose.yml").read_text()
    found = re.search(r"exec gunicorn buildwatch\.wsgi:application ([^\"]*)\"", text)
    assert found, "docker-compose.yml: no `exec gunicorn buildwatch.wsgi:application ...` in the web command"
    words, kept = shlex.split(found.group(1)), []
    while words:
        word = words.pop(0)
        if word in ("--bind", "-b", "--access-logfile"):
            words.pop(0)
        else:
            kept.append(word)
    return shlex.join(kept)


@contextmanager
def gunicorn(options: str, prefix: str) -> Iterator[str]:
    """BuildWatch under gunicorn with these worker options, in its own processes; yields its URL."""
    port = _free_port()
    env = dict(os.environ, BENCH_KEY_PREFIX=prefix, BUILDWATCH_REFRESH_SECONDS="30", PYTHONPATH=str(ROOT))
    log = tempfile.NamedTemporaryFile(prefix="bw-bench-gunicorn-", suffix=".log", delete=False)
    command = [str(Path(sys.executable).parent / "gunicorn"), "--pythonpath", str(ROOT / "bench"), "--bind",
               f"127.0.0.1:{port}", "--no-control-socket", *shlex.split(options),
               "bench_push_page:prefixed_application()"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        import urllib3

        http = urllib3.PoolManager()
        for _ in range(600):
            try:
                if http.request("GET", f"{url}/healthz", retries=False, timeout=2).status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn {options} stopped: see {log.name}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


@dataclass
class View:
    first_byte: float  # seconds from the request to the page's response headers
    complete: float  # seconds until the page and every fragment it loads had answered
    requests: int


class Navigator:
    """Opens a page as a browser navigating to it: the page, then the fragments its `load` triggers ask
    for (and theirs), BROWSER_CONNECTIONS at a time."""

    def __init__(self, base: str, cookie: tuple[str, str]) -> None:
        import urllib3

        self.base = base
        self.http = urllib3.PoolManager(maxsize=BROWSER_CONNECTIONS * 20)
        self.headers = {"Accept-Encoding": "gzip", "Cookie": f"{cookie[0]}={cookie[1]}"}
        # Once, as a browser does when a kept-alive connection was closed under it; nothing else.
        self.retry = urllib3.Retry(total=1, connect=1, read=1, redirect=0, status=0)

    def fetch(self, path: str, extra: dict[str, str]) -> tuple[float, str]:
        start = time.perf_counter()
        response = self.http.request(
            "GET", self.base + path, headers={**self.headers, **extra}, preload_content=False,
            decode_content=False, retries=self.retry, timeout=60,
        )  # fmt: skip
        first = time.perf_counter() - start
        body = response.read()
        response.release_conn()
        assert response.status == 200, (path, response.status)
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return first, body.decode()

    def open(self, path: str) -> View:
        start = time.perf_counter()
        first, html = self.fetch(path, {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"})
        requests = 1
        fragment = {"HX-Request": "true", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}
        with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
            pending = [pool.submit(self.fetch, url, fragment) for url in _hx_gets(html, "load")]
            while pending:
                _, body = pending.pop(0).result()
                requests += 1
                pending += [pool.submit(self.fetch, url, fragment) for url in _hx_gets(body, "load")]
        return View(first, time.perf_counter() - start, requests)


def _fake_post(http, fake: str, action: str) -> None:
    http.request("POST", f"{fake}/__fake__/{action}")


def _fake_requests(http, fake: str) -> list[str]:
    return json.loads(http.request("GET", f"{fake}/__fake__/requests").data)["requests"]


def quiet(http, fake: str, seconds: float = 0.5) -> None:
    """Until Treeherder has seen no request for `seconds` (a read started by an earlier page, such as
    a shell's prefetch, would otherwise land in the next measurement's empty cache)."""
    count, since = -1, time.monotonic()
    while time.monotonic() - since < seconds:
        now = json.loads(http.request("GET", f"{fake}/__fake__/requests").data)["count"]
        if now != count:
            count, since = now, time.monotonic()
        time.sleep(0.1)


def cold(args: argparse.Namespace, fake: str, prefix: str, cookie: tuple[str, str], clear) -> None:
    import urllib3

    http = urllib3.PoolManager()
    pushes = json.loads(http.request("GET", f"{fake}/__fake__/state").data)["pushes"]
    by_role = {push["role"]: push for push in pushes}
    big = by_role["big"]
    path = f"/try/pushes/{big['id']}/"
    options = args.gunicorn or compose_worker_options()
    print(f"cold pages: gunicorn {options}; Redis cache; signed in; {args.cold_runs} runs per latency")
    by_latency: dict[float, list[tuple[View, int]]] = {}
    needed = 0
    paths = [f"/try/pushes/{by_role[role]['id']}/" for role in CROWD_PUSHES]
    with gunicorn(options, prefix) as url:
        navigator = Navigator(url, cookie)
        warm_up(navigator, paths, clear)
        for latency in LATENCIES:
            _fake_post(http, fake, f"latency?seconds={latency}")
            for _ in range(args.cold_runs):
                quiet(http, fake)
                clear()
                _fake_post(http, fake, "clear-requests")
                view = navigator.open(path)
                seen = _fake_requests(http, fake)
                by_latency.setdefault(latency, []).append((view, len(seen)))
                job_pages = sum(f"/api/jobs/?push_id={big['id']}" in request for request in seen)
                # The failed jobs' logs come after every job page; a log without error lines takes a
                # second read (its parse status).
                needed = job_pages + (2 if any("job-log-url" in request for request in seen) else 1)
    report_cold(big, by_latency, needed)

    configs = [part.strip() for part in args.crowd_configs.split(";") if part.strip()] or list(
        dict.fromkeys(["--workers 3 --timeout 60", options])
    )
    for config in configs:
        print(f"  {args.viewers} viewers of {len(paths)} pushes at once, empty cache, gunicorn {config}:")
        with gunicorn(config, prefix) as url:
            navigator = Navigator(url, cookie)
            warm_up(navigator, paths, clear)
            for latency in CROWD_LATENCIES:
                _fake_post(http, fake, f"latency?seconds={latency}")
                solo: dict[str, View] = {}
                crowd_views: list[tuple[str, View]] = []
                for _ in range(CROWD_ROUNDS):
                    settled = lambda: (quiet(http, fake), clear())  # noqa: E731
                    alone, views = crowd(navigator, paths, args.viewers, settled, alone=not solo)
                    solo = solo or alone
                    crowd_views += views
                report_crowd(latency, solo, crowd_views)
    _fake_post(http, fake, "latency?seconds=0")


def warm_up(navigator: Navigator, paths: list[str], clear) -> None:
    """Every worker process imports, connects and compiles its templates before anything is timed."""
    for _ in range(2):
        clear()
        with ThreadPoolExecutor(len(paths)) as pool:
            list(pool.map(navigator.open, paths))


def crowd(
    navigator: Navigator, paths: list[str], viewers: int, clear, alone: bool = True
) -> tuple[dict[str, View], list[tuple[str, View]]]:
    """Each push opened alone on an empty cache (unless not `alone`), then `viewers` viewers of them at
    once on an empty cache."""
    solo = {}
    for path in paths if alone else []:
        clear()
        solo[path] = navigator.open(path)
    clear()
    barrier = threading.Barrier(viewers)

    def one(index: int) -> tuple[str, View]:
        path = paths[index % len(paths)]
        barrier.wait()
        return path, navigator.open(path)

    with ThreadPoolExecutor(viewers) as pool:
        return solo, list(pool.map(one, range(viewers)))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _median_range(values: list[float]) -> str:
    return f"{_ms(statistics.median(values))} ms ({_ms(min(values))}–{_ms(max(values))})"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report_cold(big: dict, by_latency: dict[float, list[tuple[View, int]]], needed: int) -> None:
    print(f"  push {big['id']} ({big['jobs']} jobs), empty cache; median (range)")
    for latency, runs in by_latency.items():
        views = [view for view, _ in runs]
        print(
            f"  {latency * 1000:4.0f} ms per request: first byte {_median_range([v.first_byte for v in views])}"
            f"  complete page {_median_range([v.complete for v in views])}"
            f"  {statistics.median(v.requests for v in views):g} requests"
            f"  upstream {statistics.median(n for _, n in runs):g}   goal: first byte <= 150 ms"
        )
    complete = {
        latency: statistics.median(v.complete for v, _ in runs) for latency, runs in by_latency.items()
    }
    low, high = min(complete), max(complete)
    rounds = (complete[high] - complete[low]) / (high - low)
    print(
        f"  sequential upstream round trips of the complete page: {rounds:.1f} (its time over the latency, "
        f"{low * 1000:.0f} to {high * 1000:.0f} ms); the reads it needs: {needed} (the job pages one after "
        f"another, then the failed jobs' logs)   goal: <= {needed + 2}"
    )


def report_crowd(latency: float, solo: dict[str, View], views: list[tuple[str, View]]) -> None:
    firsts = [view.first_byte for _, view in views]
    completes = [view.complete for _, view in views]
    alone = [view.complete for view in solo.values()]
    print(
        f"  {latency * 1000:4.0f} ms per request: first byte p50 {_ms(_percentile(firsts, 0.5))} ms, p95 "
        f"{_ms(_percentile(firsts, 0.95))} ms; complete page p50 {_ms(_percentile(completes, 0.5))} ms, p95 "
        f"{_ms(_percentile(completes, 0.95))} ms; each push alone {_ms(min(alone))}–{_ms(max(alone))} ms"
    )


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
