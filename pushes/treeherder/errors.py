"""What can go wrong upstream: every failure — timeout, refused connection, HTTP error, an HTML page where
JSON was expected, JSON of the wrong shape — is one `TreeherderError` carrying the reason, URL and status."""

from __future__ import annotations


class TreeherderError(Exception):
    """Anything that went wrong talking to Treeherder: `status` is None when no HTTP answer came."""

    def __init__(self, reason: str, url: str = "", status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.url = url
        self.status = status

    def __str__(self) -> str:
        shown = self.status is not None and not self.reason.startswith("HTTP ")
        status = f" (HTTP {self.status})" if shown else ""
        return f"Treeherder: {self.reason}{status} — {self.url}" if self.url else f"Treeherder: {self.reason}"


class TreeherderNotFound(TreeherderError):
    """404: unknown repository, push or job."""
