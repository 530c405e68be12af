"""Configuration from the environment: a value that does not parse stops startup and names the variable;
good values (and empty ones, which mean "the default") give the settings the README describes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PRODUCTION_ENV as PRODUCTION

ROOT = Path(__file__).resolve().parent.parent


SHOW = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "SITE_URL": s.SITE_URL,
    "CSRF_TRUSTED_ORIGINS": s.CSRF_TRUSTED_ORIGINS,
    "SECRET_KEY_FALLBACKS": s.SECRET_KEY_FALLBACKS,
    "DATABASE": {k: s.DATABASES["default"].get(k) for k in ("ENGINE", "NAME", "HOST", "PORT", "USER", "CONN_MAX_AGE")},
    "CACHE": s.CACHES["default"],
    "BROKER": s.CELERY_BROKER_URL,
    "MAILER": s.MAILERS["default"],
    "TREEHERDER_URL": s.TREEHERDER_URL,
    "TREEHERDER_PAGE_TIMEOUT": s.TREEHERDER_PAGE_TIMEOUT,
    "BUILDWATCH_POLL_SECONDS": s.BUILDWATCH_POLL_SECONDS,
    "WEBPUSH_ALLOW_LOOPBACK": s.WEBPUSH_ALLOW_LOOPBACK,
    "SECURE_SSL_REDIRECT": getattr(s, "SECURE_SSL_REDIRECT", None),
    "STATIC_ROOT": str(s.STATIC_ROOT),
    "PULSE": [s.PULSE_URL, s.PULSE_QUEUE, s.PULSE_REPOS, s.PULSE_WAKE_GAP_SECONDS, s.PULSE_SAFETY_POLL_SECONDS],
}))
"""


def start(env: dict[str, str], code: str = "import django; django.setup()") -> subprocess.CompletedProcess:
    """Django set up in a child process whose environment holds only `env` (and what Python needs)."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "SYSTEMROOT") if k in os.environ}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "buildwatch.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_for(env: dict[str, str]) -> dict:
    result = start(env, SHOW)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("DEBUG", "ture", "Not a valid boolean"),
        ("SECURE_SSL_REDIRECT", "ture", "Not a valid boolean"),
        ("WEBPUSH_ALLOW_LOOPBACK", "maybe", "Not a valid boolean"),
        ("BUILDWATCH_POLL_SECONDS", "60s", "Not a valid integer"),
        ("BUILDWATCH_REFRESH_SECONDS", "0", "greater than or equal to 1"),
        ("TREEHERDER_PAGE_TIMEOUT", "eight", "Not a valid number"),
        ("TASKCLUSTER_TIMEOUT", "-1", "greater than 0"),
        ("SECURE_HSTS_SECONDS", "1h", "Not a valid integer"),
        ("CELERY_TASK_TIME_LIMIT", "3m", "Not a valid integer"),
        ("SITE_URL", "buildwatch.example.com", "Not a valid URL"),
        ("TREEHERDER_URL", "treeherder.mozilla.org", "Not a valid URL"),
        ("DATABASE_URL", "postgress://u@db:5432/buildwatch", "Not a valid database URL"),
        ("DATABASE_URL", "postgres://u@db:port/buildwatch", "Not a valid database URL"),
        ("REDIS_URL", "redis.example.com:6379", "not a redis://"),
        ("REDIS_URL", "redis://redis:63790000/0", "Port"),
        ("EMAIL_URL", "smpt://mail.example.com", "'smpt' is not one of"),
        ("EMAIL_URL", "smtp://mail.example.com:25x", "Port"),
        ("EMAIL_TIMEOUT", "twenty", "Not a valid integer"),
        ("LOG_LEVEL", "LOUD", "Not a valid log level"),
        ("MATRIX_HOMESERVER", "mozilla.modular.im", "Not a valid URL"),
        ("MATRIX_TIMEOUT", "15s", "Not a valid number"),
        ("MATRIX_CONNECT_TIMEOUT", "0", "greater than 0"),
        ("PULSE_URL", "pulse.mozilla.org:5671", "not an amqp://"),
        ("PULSE_URL", "https://pulse.mozilla.org", "not an amqp://"),
        ("PULSE_URL", "amqps://pulse.mozilla.org:5671", "needs the Pulse user"),
        ("PULSE_URL", "amqps://team:pw@pulse.mozilla.org:567100", "Port"),
        ("PULSE_QUEUE", "build/watch", "letters, digits"),
        ("PULSE_WAKE_GAP_SECONDS", "0", "greater than 0"),
        ("PULSE_SILENCE_SECONDS", "10m", "Not a valid integer"),
    ],
)
def test_a_value_that_does_not_parse_stops_startup_naming_the_variable(name, value, why):
    result = start({**PRODUCTION, "EMAIL_URL": "smtp://mail.example.com", name: value})
    assert result.returncode != 0
    assert f'Environment variable "{name}" invalid' in result.stderr
    assert why in result.stderr


def test_a_bad_port_in_djangos_own_email_variables_names_the_variable():
    result = start({"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": "submission"})
    assert result.returncode != 0
    assert 'Environment variable "EMAIL_PORT" invalid' in result.stderr


def test_without_any_variable_the_developer_defaults_apply(tmp_path):
    got = settings_for({"BUILDWATCH_VAR_DIR": str(tmp_path)})
    assert got["DEBUG"] is True
    assert got["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]", "testserver"]
    assert got["SITE_URL"] == "http://127.0.0.1:8000"
    assert got["CSRF_TRUSTED_ORIGINS"] == ["http://127.0.0.1:8000"]
    assert got["DATABASE"]["ENGINE"] == "django.db.backends.sqlite3"
    assert got["DATABASE"]["NAME"] == str(tmp_path / "buildwatch.sqlite3")
    assert got["CACHE"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert got["BROKER"] == "filesystem://"
    assert got["MAILER"] == {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    assert got["TREEHERDER_URL"] == "https://treeherder.mozilla.org"
    assert got["TREEHERDER_PAGE_TIMEOUT"] == 8
    assert got["BUILDWATCH_POLL_SECONDS"] == 60
    assert got["WEBPUSH_ALLOW_LOOPBACK"] is True
    assert got["SECURE_SSL_REDIRECT"] is False  # Django's own default: no HTTPS redirect while developing
    assert got["STATIC_ROOT"] == str(ROOT / "staticfiles")
    assert got["PULSE"] == ["", "buildwatch", ["try"], 60.0, 300]  # no Pulse: the beat polls everything


def test_empty_variables_mean_the_default(tmp_path):
    """`.env.example` writes `SECRET_KEY=`, docker-compose.yml `${SECRET_KEY:-}`: empty is "not set"."""
    empty = dict.fromkeys(
        ("DEBUG", "ALLOWED_HOSTS", "SITE_URL", "DATABASE_URL", "REDIS_URL", "EMAIL_URL", "SECRET_KEY",
         "BUILDWATCH_POLL_SECONDS", "TREEHERDER_PAGE_TIMEOUT", "STATIC_ROOT"),
        "",
    )  # fmt: skip
    assert settings_for({**empty, "BUILDWATCH_VAR_DIR": str(tmp_path)}) == settings_for(
        {"BUILDWATCH_VAR_DIR": str(tmp_path)}
    )


def test_production_values_parse():
    got = settings_for(
        {
            **PRODUCTION,
            "ALLOWED_HOSTS": "buildwatch.example.com, web,",
            "SITE_URL": "https://buildwatch.example.com/",
            "SECRET_KEY_FALLBACKS": "old-one,older-one",
            "DATABASE_URL": "postgres://buildwatch:pw@db.example.com:5433/buildwatch",
            "DB_CONN_MAX_AGE": "60",
            "REDIS_URL": "rediss://app:s3cret@redis.example.com:6380/2",
            "EMAIL_URL": "smtp+ssl://mailer:p%40ss@smtp.example.com",
            "EMAIL_TIMEOUT": "7",
            "TREEHERDER_URL": "http://127.0.0.1:8100/",
            "TREEHERDER_PAGE_TIMEOUT": "2.5",
            "BUILDWATCH_POLL_SECONDS": "15",
            "SECURE_SSL_REDIRECT": "false",
            "PULSE_URL": "amqps://buildwatch-team:s3cret@pulse.mozilla.org:5671",
            "PULSE_QUEUE": "buildwatch-prod",
            "PULSE_REPOS": "try, autoland",
        }
    )
    assert got["DEBUG"] is False
    assert got["ALLOWED_HOSTS"] == ["buildwatch.example.com", "web"]
    assert got["SITE_URL"] == "https://buildwatch.example.com"
    assert got["CSRF_TRUSTED_ORIGINS"] == ["https://buildwatch.example.com"]
    assert got["SECRET_KEY_FALLBACKS"] == ["old-one", "older-one"]
    assert got["DATABASE"] == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "buildwatch",
        "HOST": "db.example.com",
        "PORT": 5433,
        "USER": "buildwatch",
        "CONN_MAX_AGE": 60,
    }
    # One Redis for the cache and the broker, the URL passed on whole (its ACL user included).
    assert got["CACHE"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "rediss://app:s3cret@redis.example.com:6380/2",
        "KEY_PREFIX": "buildwatch",
    }
    assert got["BROKER"] == "rediss://app:s3cret@redis.example.com:6380/2"
    assert got["MAILER"] == {
        "BACKEND": "notifications.channels.smtp.EmailBackend",
        "OPTIONS": {
            "host": "smtp.example.com",
            "port": 465,
            "username": "mailer",
            "password": "p@ss",
            "use_tls": False,
            "use_ssl": True,
            "timeout": 7,
        },
    }
    assert got["TREEHERDER_URL"] == "http://127.0.0.1:8100"
    assert got["TREEHERDER_PAGE_TIMEOUT"] == 2.5
    assert got["BUILDWATCH_POLL_SECONDS"] == 15
    assert got["WEBPUSH_ALLOW_LOOPBACK"] is False
    assert got["SECURE_SSL_REDIRECT"] is False
    # The wake-up gap follows the poll interval unless set.
    assert got["PULSE"] == [
        "amqps://buildwatch-team:s3cret@pulse.mozilla.org:5671", "buildwatch-prod", ["try", "autoland"], 15.0, 300
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("console://", {"BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("locmem://", {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}),
        ("dummy://", {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}),
        ("smtp://mailpit:1025", {"host": "mailpit", "port": 1025, "use_tls": False, "use_ssl": False}),
        ("smtp://", {"host": "localhost", "port": 25, "username": "", "password": ""}),
        ("smtp+tls://u:p@smtp.example.com:587", {"host": "smtp.example.com", "port": 587, "use_tls": True}),
        ("smtp+ssl://smtp.example.com", {"port": 465, "use_ssl": True, "use_tls": False}),
    ],
)
def test_each_email_url_scheme(url, expected):
    mailer = settings_for({"EMAIL_URL": url})["MAILER"]
    got = mailer if "BACKEND" in expected else {key: mailer["OPTIONS"][key] for key in expected}
    assert got == expected


def test_djangos_own_email_variables_still_work():
    mailer = settings_for(
        {"EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": "587", "EMAIL_HOST_USER": "me", "EMAIL_USE_TLS": "1"}
    )["MAILER"]
    assert mailer["BACKEND"] == "notifications.channels.smtp.EmailBackend"
    assert mailer["OPTIONS"] == {
        "host": "smtp.example.com",
        "port": 587,
        "username": "me",
        "password": "",
        "use_tls": True,
        "use_ssl": False,
        "timeout": 20,
    }


@pytest.mark.parametrize("value", ["1", "true", "True", "yes", "on"])
def test_the_usual_spellings_of_true_parse(value):
    assert settings_for({**PRODUCTION, "SECURE_SSL_REDIRECT": value})["SECURE_SSL_REDIRECT"] is True


@pytest.mark.parametrize("value", ["0", "false", "False", "no", "off"])
def test_the_usual_spellings_of_false_parse(value):
    assert settings_for({"DEBUG": value, "SECRET_KEY": PRODUCTION["SECRET_KEY"]})["DEBUG"] is False
