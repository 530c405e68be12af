"""`make demo` stops when asked (issue 17, item 8): Ctrl-C (SIGINT to the terminal's process group) or
SIGTERM to make ends the fake Treeherder, runserver, the Celery worker and beat — none is left behind
waiting for a SIGKILL. Runs the Makefile's own recipe on loopback ports, with the suite's interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

BASE_DIR = Path(__file__).resolve().parent.parent


def _group_alive(pgid: int) -> list[str]:
    """The group's processes still running (make itself, once exited, is a zombie until waited for)."""
    out = subprocess.run(
        ["ps", "-g", str(pgid), "-o", "stat=,pid=,args="], capture_output=True, text=True
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip() and not line.strip().startswith("Z")]


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_make_demo_stops_every_process(tmp_path, stop) -> None:
    venv = Path(sys.prefix)
    port, fake_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "EMAIL_"))},
        "BUILDWATCH_VAR_DIR": str(tmp_path),
        "BUILDWATCH_POLL_SECONDS": "1",
    }
    log = (tmp_path / "make.log").open("wb")
    make = subprocess.Popen(
        ["make", "demo", f"VENV={venv}", "-o", f"{venv}/.installed", f"PORT={port}", f"FAKE_PORT={fake_port}",
         "FAKE_SPEED=0"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            text = (tmp_path / "make.log").read_text(errors="replace")
            try:
                up = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                up = False
            if up and "Sending due task poll-watched-pushes" in text and "ready." in text:
                break
            assert make.poll() is None and time.monotonic() < deadline, text[-3000:]
            time.sleep(0.5)
        if stop == "ctrl-c":
            os.killpg(make.pid, signal.SIGINT)
        else:
            make.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 25
        while _group_alive(make.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _group_alive(make.pid)
        assert left == [], f"still running 25 s after {stop}:\n" + "\n".join(left)
    finally:
        if _group_alive(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
        make.wait(timeout=10)
