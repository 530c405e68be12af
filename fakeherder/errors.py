"""How the fake's endpoints answer an error: `HttpError(status, body)` (a handler raises it, the server
sends it as JSON), and the 404 for a repository Treeherder does not know."""

from __future__ import annotations

from typing import Any

from .timeline import REPOSITORY_IDS


class HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def check_repo(repo: str) -> None:
    if repo not in REPOSITORY_IDS:
        raise HttpError(404, {"detail": f"No project with name {repo}"})
