"""Shared test helpers."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

RECORDINGS = Path(__file__).resolve().parent.parent / "pushes" / "fake" / "recordings"


def recording(name: str) -> Any:
    """A real Treeherder response recorded in mozilla/treeherder's tests (see recordings/PROVENANCE.md)."""
    return json.loads((RECORDINGS / name).read_text())


def services_required() -> bool:
    return os.environ.get("BUILDWATCH_REQUIRE_SERVICES", "") not in ("", "0")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose outside service is missing — unless CI demands it, then fail loudly."""
    if services_required():
        pytest.fail(f"BUILDWATCH_REQUIRE_SERVICES is set, but: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
