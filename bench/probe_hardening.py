"""A bounded hardening probe (issue 17's figures): loopback only, a fixed number of requests, minutes.

    .venv/bin/python bench/probe_hardening.py

Runs BuildWatch in-process (Django's test client, a scratch SQLite database under a temp dir) against
the fake Treeherder and misbehaving upstreams on 127.0.0.1, and an SMTP server (aiosmtpd) with faults.
Prints: requests tried, 5xx answers, unescaped XSS payloads, access-control holes, upstream faults
survived, and emails expected / delivered / lost / duplicated.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="bw-probe-"))
os.environ.update(DJANGO_SETTINGS_MODULE="buildwatch.settings", BUILDWATCH_VAR_DIR=str(TMP), DEBUG="1",
                  EMAIL_URL="locmem://", TREEHERDER_PAGE_TIMEOUT="2", LOGIN_FAILURE_LIMIT="5")  # fmt: skip
os.environ.pop("REDIS_URL", None)
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from fakeherder import FakeTreeherder  # noqa: E402
from tests.faulty_upstream import FaultyServer  # noqa: E402

MAX_SECONDS_PER_REQUEST = 10
XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "<iframe srcdoc='<script>alert(1)</script>'>",
    "';alert(1);//",
    "<a href=javascript:alert(1)>x</a>",
    "{{7*7}}<b>bold</b>",
    "</textarea><script>alert(1)</script>",
    "<style>*{display:none}</style>",
    "<details open ontoggle=alert(1)>",
]
MARKERS = ["<script>alert", "<img src=x", "<svg onload", "<iframe", "<a href=javascript", "<b>bold", "<style>*",
           "<details open ontoggle"]  # fmt: skip


class Tally:
    def __init__(self) -> None:
        self.tried = 0
        self.server_errors: list[str] = []
        self.slow: list[str] = []

    def __call__(self, client: Client, method: str, path: str, **kwargs: object) -> object:
        self.tried += 1
        start = time.monotonic()
        response = getattr(client, method)(path, **kwargs)
        if response.status_code >= 500 and response.status_code != 503:
            self.server_errors.append(f"{method.upper()} {path} -> {response.status_code}")
        if time.monotonic() - start > MAX_SECONDS_PER_REQUEST:
            self.slow.append(f"{method.upper()} {path}")
        return response


def malformed(tally: Tally, client: Client) -> None:
    repos = ["try", "TRY", "try.", "a" * 100, "nosuch", "%00", "..", "admin", "try%2F..", "-x"]
    ids = ["1", "0", "-1", "9223372036854775807", "9223372036854775808", "1e3", "x", "%00", "1" * 40]
    suffixes = ["", "/", "status/", "jobs/", "failures/", "watch/", "unwatch/", "watch", "jobs/?platform=%00"]
    for repo, push_id, suffix in itertools.product(repos, ids, suffixes):
        path = f"/{repo}/pushes/{push_id}/{suffix}"
        for method in ("get", "post"):
            tally(client, method, path)
    queries = ["count=0", "count=101", "count=x", "author=%00", "id__lt=x", "id__lt=-1", "count=1&count=2",
               "author=" + "a" * 5000, "push_timestamp__lte=x", "push_timestamp__lte=-1",
               "push_timestamp__lte=1&shown=x,%00," + "9" * 400, "push_timestamp__lte=" + "9" * 40]  # fmt: skip
    for query in queries:
        tally(client, "get", f"/try/?{query}")
    for token in ["x", "a:b:c", "." * 300, "eyJ1IjoieCJ9:1:abc"]:
        tally(client, "get", f"/unsubscribe/{token}/")
        tally(client, "post", f"/unsubscribe/{token}/")
    for body in [b"", b"null", b"[]", b'{"endpoint": 1}', b"\xff\xfe", b'{"endpoint":"http://10.0.0.1/"}']:
        tally(client, "post", "/settings/webpush/subscribe/", data=body, content_type="application/json")
    for path in (
        "/settings",
        "/watching",
        "/settings/webpush/subscribe",
        "/accounts/login",
        "/try/pushes/1/confirm/",
    ):
        for method in ("post", "put", "patch", "delete"):
            tally(client, method, path)
    tally(client, "post", "/settings/", data={"author_email": "x" * 500, "default_repo": "%00"})


def xss(tally: Tally, client: Client, fake: FakeTreeherder, user: object) -> int:
    from notifications.models import Notification

    unescaped = 0
    for payload in XSS:
        push_id = fake.add_push(messages=[f"Bug 1 - {payload}"], size=3)
        tally(client, "post", "/settings/", data={"author_email": "", "default_repo": "try", "email_enabled": "on",
                                                 "notifications_enabled": "on"})  # fmt: skip
        tally(client, "post", f"/try/pushes/{push_id}/watch/")
        Notification.objects.create(user=user, repo="try", push_id=push_id, channel="email", title="t",
                                    body=payload, status="failed", last_error=payload)  # fmt: skip
        pages = [f"/try/pushes/{push_id}/", "/try/?author=", "/watching/", f"/try/pushes/{push_id}/failures/",
                 f"/{payload}/", f"/try/?author={payload}"]  # fmt: skip
        for path in pages:
            html = tally(client, "get", path).content.decode(errors="replace")
            unescaped += sum(marker in html for marker in MARKERS if marker in payload)
    return unescaped


def access_control(tally: Tally, alice: Client, bob_user: object) -> tuple[int, int]:
    from accounts.models import UserSettings
    from notifications.models import PushSubscription, Watch

    watch = Watch.objects.create(user=bob_user, repo="try", push_id=4242)
    subscription = PushSubscription.objects.create(user=bob_user, endpoint="http://localhost/bob", p256dh="x",
                                                   auth="y")  # fmt: skip
    before = UserSettings.for_user(bob_user).notifications_enabled
    cases = 0
    for method in ("get", "post"):
        for path in (f"/try/pushes/{watch.push_id}/unwatch/", f"/settings/webpush/{subscription.pk}/delete/",
                     f"/settings/webpush/{subscription.pk + 1}/delete/", "/settings/taskcluster/delete/",
                     "/admin/", "/admin/notifications/notification/", f"/admin/auth/user/{bob_user.pk}/change/"):  # fmt: skip
            tally(alice, method, path)
            cases += 1
    anonymous = Client()
    for path in ("/watching/", "/settings/", "/try/pushes/1/watch/", "/settings/webpush/subscribe/"):
        for method in ("get", "post"):
            response = tally(anonymous, method, path)
            cases += 1
            if response.status_code == 200 and b"Sign out" in response.content:
                return cases, 1
    holes = int(not Watch.objects.filter(pk=watch.pk).exists())
    holes += int(not PushSubscription.objects.filter(pk=subscription.pk).exists())
    holes += int(UserSettings.for_user(bob_user).notifications_enabled != before)
    return cases, holes


def upstream_faults(tally: Tally, client: Client, fake: FakeTreeherder) -> tuple[int, int]:
    survived = tried = 0
    budget = settings.TREEHERDER_PAGE_TIMEOUT + 1.5

    def probe(label: str) -> None:
        nonlocal survived, tried
        for path in ("/try/?author=", f"/try/pushes/{fake.push_id('failed')}/"):
            cache.clear()
            tried += 1
            start = time.monotonic()
            response = tally(client, "get", path)
            ok = response.status_code in (200, 503, 404) and time.monotonic() - start <= budget
            survived += ok
            if not ok:
                print(
                    f"  fault {label} {path}: {response.status_code} after {time.monotonic() - start:.1f} s"
                )

    for mode in ("drip", "hang", "slow-headers", "oversize"):
        with FaultyServer(mode, interval=0.3) as server:
            settings.TREEHERDER_URL = server.url
            probe(mode)
    settings.TREEHERDER_URL = fake.url
    for label, arm, disarm in [
        ("down", lambda: fake.set_down(True), lambda: fake.set_down(False)),
        ("garbage", lambda: fake.set_garbage(True), lambda: fake.set_garbage(False)),
        ("latency 5 s", lambda: fake.set_latency(5), lambda: fake.set_latency(0)),
        ("503 x5", lambda: fake.fail_next(5, 503), lambda: None),
        ("429 retry-after 60", lambda: fake.fail_next(5, 429, retry_after=60), lambda: None),
        ("500 on jobs", lambda: fake.fail_path("/api/jobs/", 500), lambda: fake.reset("quick", speed=0)),
    ]:
        arm()
        probe(label)
        disarm()
    with FaultyServer("ok", body=b"<html>not json</html>") as server:
        settings.TREEHERDER_URL = server.url
        probe("html")
    settings.TREEHERDER_URL = fake.url
    return tried, survived


class FaultySMTP:
    """Every third message's answer comes after the client's timeout; every fifth RCPT is refused once."""

    def __init__(self) -> None:
        self.messages: list = []
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            self.count += 1
            refuse = self.count % 5 == 0
        if refuse:
            return "451 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
            slow = len(self.messages) % 3 == 0
        if slow:
            await asyncio.sleep(1.5)
        return "250 OK"


def emails(users: list) -> dict[str, int]:
    import time_machine
    from aiosmtpd.controller import Controller
    from django.utils import timezone

    from notifications import outbox
    from notifications.models import Notification
    from tests.helpers import free_port

    handler, port = FaultySMTP(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {"default": {"BACKEND": settings.SMTP_BACKEND,
                                    "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 1}}}  # fmt: skip
    rows = [Notification.objects.create(user=user, repo="try", push_id=900 + n, channel="email", title="Try push passed")
            for n, user in enumerate(users)]  # fmt: skip
    try:
        with time_machine.travel(timezone.now(), tick=True) as clock:
            for _ in range(outbox.MAX_ATTEMPTS + 2):
                for row in rows:
                    outbox.deliver(row.pk)
                clock.shift(outbox.BACKOFF_MAX_SECONDS + 1)
    finally:
        controller.stop()
    ids = [message["Message-ID"] for message in handler.messages]
    distinct = set(ids)
    statuses = list(Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True))
    return {
        "expected": len(rows),
        "copies received": len(ids),
        "delivered (distinct Message-IDs)": len(distinct),
        "lost": len(rows) - len(distinct),
        "duplicated (distinct messages for one row)": sum(1 for r in rows if len({i for i in ids if f".{r.pk}." in i}) > 1),
        "rows with a second copy (same Message-ID)": sum(1 for i in distinct if ids.count(i) > 1),
        "marked delivery uncertain": statuses.count("uncertain"),
        "marked failed": statuses.count("failed"),
    }  # fmt: skip


def main() -> None:
    started = time.monotonic()
    setup_test_environment()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    fake = FakeTreeherder("quick", speed=0)
    fake.start()
    settings.TREEHERDER_URL = settings.TASKCLUSTER_ROOT_URL = fake.url
    settings.ALLOWED_HOSTS = ["testserver"]
    alice_user = User.objects.create_user("alice", "alice@example.com")
    bob_user = User.objects.create_user("bob", "bob@example.com")
    alice = Client(raise_request_exception=False)
    alice.force_login(alice_user)
    tally = Tally()
    try:
        malformed(tally, alice)
        malformed(tally, Client(raise_request_exception=False))
        unescaped = xss(tally, alice, fake, alice_user)
        cases, holes = access_control(tally, alice, bob_user)
        faults_tried, faults_survived = upstream_faults(tally, alice, fake)
        mail = emails([User.objects.create_user(f"m{n}", f"m{n}@example.com") for n in range(30)])
    finally:
        fake.stop()
    print(f"requests tried:          {tally.tried}")
    print(f"5xx (other than 503):    {len(tally.server_errors)}  {tally.server_errors[:5]}")
    print(f"slower than {MAX_SECONDS_PER_REQUEST} s:          {len(tally.slow)}")
    print(f"XSS payloads:            {len(XSS)}; unescaped in a page: {unescaped}")
    print(f"access-control cases:    {cases}; holes: {holes}")
    print(f"upstream faults:         {faults_survived} of {faults_tried} page loads survived (answer within "
          f"TREEHERDER_PAGE_TIMEOUT + 1.5 s, no 500)")  # fmt: skip
    for name, value in mail.items():
        print(f"emails {name}: {value}")
    print(f"probe took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
