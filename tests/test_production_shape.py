"""The production web process of docker-compose.yml, without Docker: the compose file's own `migrate &&
gunicorn` command with DEBUG=0 on PostgreSQL and Redis, static files collected the way the Dockerfile does
and served by WhiteNoise (hashed, compressed, cached for a year), against the fake Treeherder over HTTP.
HTTPS is enforced as in production (SSL redirect on; the tests speak as the TLS proxy in front does, with
X-Forwarded-Proto), and the security headers, cookie flags, CSP and the 500 page are checked.
What only the image adds (the Python base image, the non-root user) is not covered here.

Skips (or fails, with BUILDWATCH_REQUIRE_SERVICES=1) when PostgreSQL or Redis is not on 127.0.0.1."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port, scratch_postgres_and_redis

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

BASE_DIR = Path(__file__).resolve().parent.parent
REDIS_DB = int(os.environ.get("BUILDWATCH_TEST_PROD_REDIS_DB", "13"))


def compose_web_command(port: int) -> list[str]:
    """docker-compose.yml's web command, bound to loopback: the test runs what production runs."""
    text = (BASE_DIR / "docker-compose.yml").read_text()
    match = re.search(r'^  web:\n(?:    .*\n|\n)*?    command: \["sh", "-c", "(?P<cmd>[^"]+)"\]', text, re.M)
    assert match, 'docker-compose.yml: the web service\'s command is not `sh -c "..."` any more'
    command = match.group("cmd")
    assert "0.0.0.0:8000" in command and "gunicorn" in command, command
    return ["sh", "-c", command.replace("0.0.0.0:8000", f"127.0.0.1:{port}")]


HTTPS = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds (SECURE_PROXY_SSL_HEADER)
PASSWORD = "a long production-shape passphrase"


@dataclass
class Web:
    url: str
    push_id: int
    title: str
    dsn: str = ""

    def get(self, path: str, *, headers: dict | None = None, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=15, allow_redirects=False, headers={**HTTPS, **(headers or {})},
                            **kwargs)  # fmt: skip

    def signed_in(self) -> requests.Session:
        """A signed-in session. Its cookies are Secure, which requests never sends over http://, so
        they go by hand in a Cookie header (the TLS proxy in front would pass them on)."""
        session = requests.Session()
        session.headers.update(HTTPS)
        session.get(self.url + "/accounts/login/", timeout=15)
        token = session.cookies["csrftoken"]
        session.headers["Cookie"] = f"csrftoken={token}"
        answer = session.post(self.url + "/accounts/login/", data={"username": "prod", "password": PASSWORD,
                              "csrfmiddlewaretoken": token}, headers={"Referer": self.url.replace("http:", "https:")
                              + "/accounts/login/"}, timeout=15, allow_redirects=False)  # fmt: skip
        assert answer.status_code == 302, answer.text[:2000]
        session.headers["Cookie"] += f"; sessionid={session.cookies['sessionid']}"
        session.login_answer = answer
        return session


@pytest.fixture(scope="module")
def web(tmp_path_factory, fake_treeherder_server) -> Iterator[Web]:
    with scratch_postgres_and_redis("buildwatch_prod", REDIS_DB) as (dsn, redis_url):
        fake_treeherder_server.reset("quick", speed=0)
        yield from _serve(tmp_path_factory.mktemp("production"), dsn, redis_url, fake_treeherder_server)


def _serve(tmp: Path, dsn: str, redis_url: str, fake) -> Iterator[Web]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "EMAIL_"))},
        "DJANGO_SETTINGS_MODULE": "buildwatch.settings",
        "DEBUG": "0",
        "SECRET_KEY": "production-shape-test-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": dsn,
        "REDIS_URL": redis_url,
        "EMAIL_URL": "smtp://127.0.0.1:1",
        "TREEHERDER_URL": fake.url,
        "BUILDWATCH_VAR_DIR": str(tmp / "var"),
        "STATIC_ROOT": str(tmp / "static"),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # The Dockerfile's build step.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=BASE_DIR, env=env,
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    log = tmp / "web.log"
    with log.open("wb") as out:
        process = subprocess.Popen(compose_web_command(port), cwd=BASE_DIR, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or a worker still importing the app on a busy machine
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"web did not come up ({shlex.join(compose_web_command(port))}):\n{log.read_text()}"
                )
            time.sleep(0.3)
        subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c",
                        f"from django.contrib.auth.models import User; User.objects.create_user('prod', password={PASSWORD!r})"],
                       cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=60)  # fmt: skip
        push_id = fake.push_id("failed")
        yield Web(
            url=url, push_id=push_id, title="Bug 1800003 - Rewrite IndexedDB transaction lifetimes.", dsn=dsn
        )
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)


def test_health_answers_with_the_database_and_cache_up(web: Web) -> None:
    response = web.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_pages_render_with_hashed_static_files_served_compressed_and_cached(web: Web) -> None:
    page = web.get(f"/try/pushes/{web.push_id}/")
    assert page.status_code == 200, page.text[:2000]
    assert web.title in page.text
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert {Path(a).suffix for a in assets} >= {".css", ".js", ".svg"}, assets
    for asset in assets:
        # Hashed names (css/app.0123456789ab.css): a new release never meets a stale cached copy.
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", asset), asset
        response = web.get(asset, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, asset
        assert "immutable" in response.headers["Cache-Control"], asset
        if asset.endswith((".css", ".js")):
            assert response.headers.get("Content-Encoding") == "gzip", asset


def test_the_push_list_and_its_lazy_status_cell_render(web: Web) -> None:
    listing = web.get("/try/?author=")
    assert listing.status_code == 200
    assert f"/try/pushes/{web.push_id}/" in listing.text
    cell = web.get(f"/try/pushes/{web.push_id}/status/", headers={"HX-Request": "true"})
    assert cell.status_code == 200
    # The failed push's verdict: its new failures counted (failure triage).
    assert re.search(r"✗ \d+ new failures", cell.text), cell.text


def test_errors_are_the_sites_own_pages_not_a_debug_page(web: Web) -> None:
    missing = web.get("/try/pushes/999999999/")
    assert missing.status_code == 404
    assert "No push 999999999" in missing.text
    assert "Traceback" not in missing.text and "DEBUG = True" not in missing.text
    assert web.get("/healthz", headers={"Host": "evil.example"}).status_code == 400


def test_requests_waiting_on_treeherder_do_not_hold_up_the_site(web: Web, fake_treeherder_server) -> None:
    """More requests waiting on a slow Treeherder than the web service has processes: the site still
    answers meanwhile (its workers are threaded), a browser opening a push page included."""
    # Each waits on Treeherder twice (job-log-url is empty, the job's own 404 says whose it is not): 3 s
    # a read keeps the two inside the page's 8 s budget, so each still ends as the 404 it should be.
    slow_paths = [f"/try/jobs/{900_000_000 + n}/log/" for n in range(6)]
    fake_treeherder_server.set_latency(3)
    try:
        with ThreadPoolExecutor(len(slow_paths)) as pool:
            slow = [pool.submit(web.get, path) for path in slow_paths]
            deadline = time.monotonic() + 30
            while len(fake_treeherder_server.request_paths("job-log-url")) < len(slow_paths):
                assert time.monotonic() < deadline, "the slow requests never reached Treeherder"
                time.sleep(0.05)
            health = web.get("/healthz")
            page = web.get(f"/try/pushes/{web.push_id}/", headers={"Sec-Fetch-Dest": "document"})
            waiting = [future for future in slow if not future.done()]
            assert health.status_code == 200 and page.status_code == 200
            assert len(waiting) == len(slow_paths)  # all of them still waiting on Treeherder
            assert all(future.result().status_code == 404 for future in slow)
    finally:
        fake_treeherder_server.set_latency(0)


def test_the_service_worker_is_served_from_the_root(web: Web) -> None:
    response = web.get("/sw.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert "showNotification" in response.text


def test_plain_http_is_redirected_to_https_but_the_health_check_is_not(web: Web) -> None:
    plain = requests.get(web.url + "/try/", timeout=15, allow_redirects=False)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://127.0.0.1")
    assert requests.get(web.url + "/healthz", timeout=15).status_code == 200


def test_pages_carry_the_security_headers_and_a_csp_with_a_nonce(web: Web) -> None:
    page = web.get(f"/try/pushes/{web.push_id}/")
    assert page.status_code == 200
    headers = page.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert f'nonce="{nonce}"' in page.text


def test_cookies_are_secure_and_the_session_cookie_http_only(web: Web) -> None:
    session = web.signed_in()
    cookies = {cookie.name: cookie for cookie in session.cookies}
    assert cookies["csrftoken"].secure
    assert cookies["sessionid"].secure and cookies["sessionid"].has_nonstandard_attr("HttpOnly")
    set_cookie = session.login_answer.headers["Set-Cookie"]
    assert "sessionid=" in set_cookie and "SameSite=Lax" in set_cookie


def test_a_server_error_is_the_sites_own_500_page(web: Web) -> None:
    """The database refuses connections for a moment: a signed-in page cannot load its session."""
    import psycopg

    session = web.signed_in()
    database = web.dsn.rsplit("/", 1)[1]
    admin = web.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            broken = session.get(web.url + "/watching/", timeout=15, allow_redirects=False)
        finally:
            conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    assert broken.status_code == 500
    assert "BuildWatch" in broken.text and "Traceback" not in broken.text and "psycopg" not in broken.text
    assert "Content-Security-Policy" in broken.headers and "Strict-Transport-Security" in broken.headers
    assert session.get(web.url + "/watching/", timeout=15).status_code == 200  # and back
