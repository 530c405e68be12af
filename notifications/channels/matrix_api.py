"""The Matrix client-server API, the few calls the bot needs: the only module that speaks HTTP to a
homeserver (one HTTP module per upstream). Plain `requests`, synchronous like the Celery workers.

Every call has a connect timeout and a deadline for the whole call; an error answer becomes MatrixError
with the homeserver's `errcode` (https://spec.matrix.org/v1.11/client-server-api/#standard-error-response).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

API = "/_matrix/client/v3"
MAX_ANSWER_BYTES = 1 << 20  # the answers we read are small JSON objects
DEFAULT_RETRY_AFTER = 5.0  # seconds, when a 429 says neither retry_after_ms nor Retry-After


class MatrixError(Exception):
    """A call that did not succeed. `status` is None when no answer came (timeout, connection)."""

    def __init__(
        self, message: str, *, status: int | None = None, errcode: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.errcode = errcode
        self.retry_after = retry_after  # seconds; set for M_LIMIT_EXCEEDED

    @property
    def unknown_token(self) -> bool:
        return self.errcode in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN") or self.status == 401

    @property
    def rate_limited(self) -> bool:
        return self.errcode == "M_LIMIT_EXCEEDED" or self.status == 429

    @property
    def forbidden(self) -> bool:
        return self.errcode == "M_FORBIDDEN"

    @property
    def permanent(self) -> bool:
        """Asking again the same way cannot help: a client error other than timeouts and rate limits."""
        if self.status is None or self.rate_limited:
            return False
        return 400 <= self.status < 500 and self.status != 408


@dataclass(frozen=True)
class Login:
    user_id: str
    access_token: str
    device_id: str


class MatrixAPI:
    """One homeserver, one access token (empty for login)."""

    def __init__(
        self,
        homeserver: str,
        access_token: str = "",
        *,
        connect_timeout: float = 5.0,
        timeout: float = 15.0,
        session: requests.Session | None = None,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.access_token = access_token
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.session = session or requests.Session()

    # --- Calls ---------------------------------------------------------------------------------------

    def login_password(self, user: str, password: str, *, device_id: str, device_name: str) -> Login:
        """Log in with a fixed device id: the homeserver de-duplicates transaction ids per device, so a
        send retried after a new login is still recognised as the same message."""
        answer = self._call(
            "login",
            "POST",
            "/login",
            body={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user},
                "password": password,
                "device_id": device_id,
                "initial_device_display_name": device_name,
            },
            auth=False,
        )
        return Login(
            user_id=str(answer.get("user_id", "")),
            access_token=str(answer.get("access_token", "")),
            device_id=str(answer.get("device_id", "")),
        )

    def whoami(self) -> dict[str, Any]:
        return self._call("whoami", "GET", "/account/whoami")

    def create_direct_room(self, invite: str, *, name: str = "") -> str:
        """A private room marked direct, the user invited (a 'trusted' chat: both are room admins)."""
        body: dict[str, Any] = {"preset": "trusted_private_chat", "is_direct": True, "invite": [invite]}
        if name:
            body["name"] = name
        return str(self._call("createRoom", "POST", "/createRoom", body=body)["room_id"])

    def membership(self, room_id: str, user_id: str) -> str:
        """'join', 'invite', 'leave', 'ban'…, or '' when the user was never in the room. Raises
        MatrixError M_FORBIDDEN when the bot itself is no longer in the room."""
        path = f"/rooms/{_segment(room_id)}/state/m.room.member/{_segment(user_id)}"
        try:
            return str(self._call("room membership", "GET", path).get("membership", ""))
        except MatrixError as problem:
            if problem.errcode == "M_NOT_FOUND":
                return ""
            raise

    def send_message(self, room_id: str, txn_id: str, content: dict[str, Any]) -> str:
        """PUT with our transaction id: the same txn id (same device) is stored once by the homeserver."""
        path = f"/rooms/{_segment(room_id)}/send/m.room.message/{_segment(txn_id)}"
        return str(self._call("send", "PUT", path, body=content).get("event_id", ""))

    def kick(self, room_id: str, user_id: str, reason: str = "") -> None:
        self._call(
            "kick", "POST", f"/rooms/{_segment(room_id)}/kick", body={"user_id": user_id, "reason": reason}
        )

    def leave(self, room_id: str) -> None:
        self._call("leave", "POST", f"/rooms/{_segment(room_id)}/leave", body={})

    # --- Transport -----------------------------------------------------------------------------------

    def _call(
        self, name: str, method: str, path: str, *, body: dict[str, Any] | None = None, auth: bool = True
    ) -> dict[str, Any]:
        url = self.homeserver + API + path
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.access_token}"
        deadline = time.monotonic() + self.timeout
        what = f"Matrix {name}"
        try:
            response = self.session.request(
                method,
                url,
                json=body,
                headers=headers,
                timeout=(self.connect_timeout, self.timeout),
                stream=True,
                allow_redirects=False,
            )
            with response:
                raw = _read_until(response, deadline)
        except requests.Timeout as problem:
            raise MatrixError(
                f"{what}: no answer within {self.timeout:g} s ({type(problem).__name__})"
            ) from problem
        except requests.RequestException as problem:
            raise MatrixError(f"{what}: {type(problem).__name__}: {problem}") from problem
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if response.ok:
                raise MatrixError(f"{what}: the homeserver answered {response.status_code} without JSON")
            answer = {}
        if response.ok:
            return answer
        errcode = str(answer.get("errcode", ""))
        error = str(answer.get("error", "")) or response.reason or ""
        retry_after = None
        if errcode == "M_LIMIT_EXCEEDED" or response.status_code == 429:
            retry_after = _retry_after(answer, response.headers.get("Retry-After"))
        raise MatrixError(
            f"{what}: {response.status_code} {errcode or 'error'}: {error}".strip(),
            status=response.status_code,
            errcode=errcode,
            retry_after=retry_after,
        )


def _segment(value: str) -> str:
    """Room and user ids (`!a:b`, `@c:d`) are one path segment each."""
    return quote(value, safe="")


def _read_until(response: requests.Response, deadline: float) -> bytes:
    """The answer's body, unless it takes longer than the call's deadline (each read is also bounded
    by the read timeout, so a server that trickles bytes cannot hold a worker forever)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(8192):
        if time.monotonic() > deadline:
            raise requests.Timeout("the answer took longer than the call's deadline")
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise requests.RequestException("the answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(answer: dict[str, Any], header: str | None) -> float:
    milliseconds = answer.get("retry_after_ms")
    if isinstance(milliseconds, int | float) and milliseconds >= 0:
        return milliseconds / 1000
    if header and header.strip().isdigit():
        return float(header.strip())
    return DEFAULT_RETRY_AFTER
