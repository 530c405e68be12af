"""A real Synapse homeserver for the Matrix tests, started from its own virtualenv (never the app's).

`make test` (through `make synapse`) creates the virtualenv (`var/synapse-venv`, or uses
$BUILDWATCH_SYNAPSE_VENV) with PyPI's matrix-synapse; pytest itself installs nothing. The generated
config listens on one loopback port (client + admin API only, no federation listener, federation with
nobody), keeps its data in SQLite under a temporary directory, has registration closed except through
the shared-secret admin API, and rate limits high enough for the tests but for the one bot whose limit
a test lowers on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from .helpers import free_port, skip_or_fail

BASE_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0  # seconds; a first start creates the SQLite schema (about 5-10 s on 2 cores)
GENEROUS = {"per_second": 1000, "burst_count": 1000}


def synapse_venv() -> Path:
    return Path(os.environ.get("BUILDWATCH_SYNAPSE_VENV") or BASE_DIR / "var" / "synapse-venv")


@dataclass
class MatrixUser:
    """A registered account and a small client for what the tests do as that user."""

    server: Synapse
    user_id: str
    access_token: str
    device_id: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.server.call(method, path, token=self.access_token, body=body)

    def invites(self) -> list[str]:
        return sorted(self.sync().get("rooms", {}).get("invite", {}))

    def join(self, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/join/{quote(room_id, safe='')}", {})

    def leave(self, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/leave", {})

    def join_invites(self) -> list[str]:
        rooms = self.invites()
        for room_id in rooms:
            self.join(room_id)
        return rooms

    def sync(self) -> dict[str, Any]:
        """A full /sync (no since token): every room's m.room.message timeline, up to 100 events."""
        room_filter = '{"room":{"timeline":{"limit":100,"types":["m.room.message"]}},"presence":{"types":[]}}'
        return self.call("GET", f"/_matrix/client/v3/sync?timeout=0&filter={quote(room_filter)}")

    def messages(self) -> dict[str, list[dict[str, Any]]]:
        """room id → m.room.message events the user can read in the rooms they joined, oldest first."""
        joined = self.sync().get("rooms", {}).get("join", {})
        return {
            room_id: [event for event in room["timeline"]["events"] if event["type"] == "m.room.message"]
            for room_id, room in joined.items()
        }


class Synapse:
    def __init__(self, venv: Path, workdir: Path, port: int = 0) -> None:
        self.venv = venv
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_name = "localhost"
        self.shared_secret = secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self.log = workdir / "synapse.log"
        self._admin: MatrixUser | None = None

    # --- Process -------------------------------------------------------------------------------------

    def write_config(self) -> Path:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        (data / "signing.key").write_text(f"ed25519 auto {seed}\n")
        rate_limits = {
            name: GENEROUS
            for name in (
                "rc_message",
                "rc_registration",
                "rc_room_creation",
                "rc_joins_per_room",
            )
        }
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": self.url + "/",
            "pid_file": str(data / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(data / "homeserver.db")}},
            "media_store_path": str(data / "media"),
            "signing_key_path": str(data / "signing.key"),
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "registration_shared_secret": self.shared_secret,
            "enable_registration": False,
            "report_stats": False,
            "enable_metrics": False,
            "trusted_key_servers": [],  # the default asks matrix.org for keys
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],  # federate with nobody
            "url_preview_enabled": False,
            "presence": {"enabled": False},
            "user_directory": {"enabled": False},
            # Identical /sync requests are answered from a cache for 2 minutes by default: tests sync,
            # act, and sync again.
            "caches": {"sync_response_cache_duration": 0},
            **rate_limits,
            "rc_login": {"address": GENEROUS, "account": GENEROUS, "failed_attempts": GENEROUS},
            "rc_joins": {"local": GENEROUS, "remote": GENEROUS},
            "rc_invites": {"per_room": GENEROUS, "per_user": GENEROUS, "per_issuer": GENEROUS},
        }
        path = self.workdir / "homeserver.yaml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def start(self, *, keep_data: bool = False) -> None:
        """Start with a new config (keep_data: the one already in workdir, for `make matrix-dev`)."""
        python = self.venv / "bin" / "python"
        if not python.exists():
            skip_or_fail(
                f"Synapse is not installed: no {python}. `make synapse` creates it (`make test` does), "
                "or point BUILDWATCH_SYNAPSE_VENV at one"
            )
        config = self.workdir / "homeserver.yaml"
        if keep_data and config.exists():
            self.shared_secret = json.loads(config.read_text())["registration_shared_secret"]
        else:
            config = self.write_config()
        started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(python), "-m", "synapse.app.homeserver", "--config-path", str(config)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.workdir)},
            )
        while time.monotonic() - started < START_TIMEOUT:
            if self.process.poll() is not None:
                skip_or_fail(
                    f"Synapse exited with {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    self.startup_seconds = time.monotonic() - started
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        skip_or_fail(f"Synapse did not answer within {START_TIMEOUT:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- API -----------------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, *, token: str = "", body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.request(method, self.url + path, json=body, headers=headers, timeout=30)
        if not response.ok:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def register(self, name: str = "", *, admin: bool = False) -> MatrixUser:
        """A new account through the shared-secret admin API (registration is otherwise closed)."""
        username = name or f"user{uuid.uuid4().hex[:10]}"
        password = secrets.token_urlsafe(12)
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        signed = "\x00".join((nonce, username, password, "admin" if admin else "notadmin")).encode()
        mac = hmac.new(self.shared_secret.encode(), signed, digestmod=hashlib.sha1)
        answer = self.call(
            "POST",
            "/_synapse/admin/v1/register",
            body={
                "nonce": nonce,
                "username": username,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        user = MatrixUser(self, answer["user_id"], answer["access_token"], answer.get("device_id", ""))
        user.password = password  # type: ignore[attr-defined]
        return user

    @property
    def admin(self) -> MatrixUser:
        if self._admin is None:
            self._admin = self.register(f"admin{uuid.uuid4().hex[:6]}", admin=True)
        return self._admin

    def override_message_rate(self, user_id: str, per_second: int, burst_count: int) -> None:
        """Synapse's admin API: this user's event rate, whole messages per second (0 means unlimited)."""
        path = f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit"
        self.call(
            "POST",
            path,
            token=self.admin.access_token,
            body={"messages_per_second": per_second, "burst_count": burst_count},
        )

    def clear_message_rate(self, user_id: str) -> None:
        path = f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit"
        self.call("DELETE", path, token=self.admin.access_token)


def main(argv: list[str] | None = None) -> None:
    """`make matrix-dev`: the tests' homeserver on a fixed port with data kept under --data, a bot and a
    user registered once, and the variables that point `make demo` at it printed."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8008)
    parser.add_argument("--data", type=Path, default=BASE_DIR / "var" / "synapse-dev")
    args = parser.parse_args(argv)
    workdir = args.data.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    server = Synapse(synapse_venv(), workdir, port=args.port)
    server.start(keep_data=True)
    accounts_file = workdir / "accounts.json"
    if accounts_file.exists():
        accounts = json.loads(accounts_file.read_text())
    else:
        bot, person = server.register("buildwatch"), server.register("dev")
        accounts = {
            "bot_token": bot.access_token,
            "user_id": person.user_id,
            "password": person.password,  # type: ignore[attr-defined]
        }
        accounts_file.write_text(json.dumps(accounts, indent=2))
    print(
        f"Synapse on {server.url} (started in {server.startup_seconds:.1f} s, data in {workdir}). For make demo:"
    )
    print(f"  export MATRIX_HOMESERVER={server.url} MATRIX_ACCESS_TOKEN={accounts['bot_token']}")
    print(f"Read the messages as {accounts['user_id']} (password {accounts['password']}) in a Matrix client")
    print(f"pointed at {server.url}; put that ID in BuildWatch's settings. Ctrl-C stops Synapse.")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # make demo's trap, systemd: stop Synapse too
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
