"""A real OpenID provider for the sign-in tests: tests/oidc/provider.mjs (npm `oidc-provider`) run by Node.

    provider = OIDCProvider(clients=[...], accounts={"login": {"email": ..., "email_verified": True}})
    issuer = provider.start()   # http://127.0.0.1:PORT, its discovery document answering
    ...
    provider.stop()

`start()` skips the test (fails under BUILDWATCH_REQUIRE_SERVICES=1) when Node or the npm package is
missing: `npm ci --prefix tests/oidc` installs it (`make test` does)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .helpers import skip_or_fail

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
SCRIPT = PROVIDER_DIR / "provider.mjs"


class OIDCProvider:
    def __init__(self, clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]]) -> None:
        self.config = {"clients": clients, "accounts": copy.deepcopy(accounts)}
        self.process: subprocess.Popen[str] | None = None
        self.issuer = ""
        self.log: list[str] = []

    def start(self, timeout: float = 20) -> str:
        node = shutil.which("node")
        if node is None:
            skip_or_fail("Node.js is not installed: the sign-in tests run a real OpenID provider with it")
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            skip_or_fail("the npm package oidc-provider is not installed (npm ci --prefix tests/oidc)")
        config = tempfile.NamedTemporaryFile("w", suffix=".json", prefix="oidc-provider-", delete=False)
        with config:
            json.dump(self.config, config)
        self._config_path = Path(config.name)
        started = time.monotonic()
        self.process = subprocess.Popen(
            [node, str(SCRIPT), config.name],
            cwd=PROVIDER_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        threading.Thread(target=self._read_output, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or not self.issuer:
            self.stop()
            raise RuntimeError("the OpenID provider did not start:\n" + "\n".join(self.log))
        self.startup_seconds = time.monotonic() - started
        return self.issuer

    def set_account(self, login: str, claims: dict[str, Any] | None) -> None:
        """What the provider says of `login` from now on (None: no such account), as when somebody's
        address changes at the real provider. Written whole, then renamed: never read half-written."""
        accounts = self.config["accounts"]
        if claims is None:
            accounts.pop(login, None)
        else:
            accounts[login] = claims
        self._write_config()

    def restore_accounts(self, accounts: dict[str, dict[str, Any]]) -> None:
        self.config["accounts"] = copy.deepcopy(accounts)
        self._write_config()

    def _write_config(self) -> None:
        staged = self._config_path.with_suffix(".next")
        staged.write_text(json.dumps(self.config))
        os.replace(staged, self._config_path)

    def _read_output(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip()
            self.log.append(line)
            if line.startswith("ready ") and not ready.is_set():
                self.issuer = line.split(" ", 1)[1]
                ready.set()
        ready.set()  # exited

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_config_path", None):
            self._config_path.unlink(missing_ok=True)
