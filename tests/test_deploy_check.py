"""Production settings (DEBUG=0, a real SECRET_KEY, HTTPS, SMTP mail) pass `manage.py check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {**PRODUCTION_ENV, "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587"}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """manage.py in a child process with `env` over this one's, minus what would mask the settings tested."""
    drop = {"DEBUG", "SECRET_KEY", "EMAIL_URL", "EMAIL_HOST", "DATABASE_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return manage("check", "--deploy", "--fail-level", "WARNING", env=env)


def test_production_settings_pass_the_deploy_check():
    result = run_check(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_check_catches_console_mail_in_production():
    result = run_check({k: v for k, v in PRODUCTION.items() if k != "EMAIL_URL"})
    assert result.returncode != 0
    assert "development-only email backend" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = run_check({k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_fresh_clone_without_var_can_run_commands(tmp_path):
    """No var/ yet (a new checkout): commands that open the SQLite database create its folder."""
    var = tmp_path / "not-yet" / "var"
    result = manage("check", env={"BUILDWATCH_VAR_DIR": str(var)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert var.is_dir()


def test_hsts_is_a_year_in_production_unless_configured():
    show = "from django.conf import settings; print(settings.SECURE_HSTS_SECONDS)"
    assert manage("shell", "-v0", "-c", show, env=PRODUCTION).stdout.strip() == str(365 * 24 * 3600)
    assert (
        manage("shell", "-v0", "-c", show, env={**PRODUCTION, "SECURE_HSTS_SECONDS": "600"}).stdout.strip()
        == "600"
    )
