"""BuildWatch settings: one file, every knob an environment variable (see .env.example).

Defaults suit a developer machine: SQLite under var/, local-memory cache, a filesystem Celery broker
(no server), mail printed to the console. Production sets DEBUG=0, SECRET_KEY, DATABASE_URL, REDIS_URL…
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BUILDWATCH_VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    return [part.strip() for part in value.split(",") if part.strip()] if value.strip() else default


DEBUG = envbool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
# Previous secret keys, comma-separated: sessions, reset links and stored Taskcluster tokens stay valid.
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "pushes",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "buildwatch.urls"
WSGI_APPLICATION = "buildwatch.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "buildwatch.context_processors.buildwatch",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'buildwatch.sqlite3'}",
        conn_max_age=envint("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A fresh clone has no var/: any command that opens the database (checks do) would fail without it.
    if DATABASES["default"]["NAME"] and str(DATABASES["default"]["NAME"]) != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The poller's worker processes write concurrently: take the write lock at BEGIN and wait for it,
    # instead of failing with "database is locked" when a read transaction upgrades to a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "buildwatch",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "buildwatch"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))  # collectstatic writes here
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}


# --- Mail -------------------------------------------------------------------------------------------
def _mailer(url: str, timeout: int) -> dict:
    """EMAIL_URL: console:// | locmem:// | dummy:// | smtp://user:pass@host:25 | smtp+tls://… | smtp+ssl://…"""
    if not url:
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in {"console", "locmem", "dummy"}:
        return {"BACKEND": f"django.core.mail.backends.{scheme}.EmailBackend"}
    if scheme not in {"smtp", "smtp+tls", "smtp+ssl"}:
        raise RuntimeError(f"EMAIL_URL scheme {scheme!r} is not one of console, locmem, dummy, smtp, smtp+tls, smtp+ssl")
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": parts.hostname or "localhost",
            "port": parts.port or (465 if scheme == "smtp+ssl" else 25),
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "use_tls": scheme == "smtp+tls",
            "use_ssl": scheme == "smtp+ssl",
            "timeout": timeout,
        },
    }


def _mailer_from_django_variables(timeout: int) -> dict:
    """Django's classic EMAIL_HOST/EMAIL_PORT/… environment variables, when EMAIL_URL is not set."""
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ["EMAIL_HOST"],
            "port": envint("EMAIL_PORT", 25),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": envbool("EMAIL_USE_TLS", False),
            "use_ssl": envbool("EMAIL_USE_SSL", False),
            "timeout": timeout,
        },
    }


_EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 20)
MAILERS = {
    "default": _mailer_from_django_variables(_EMAIL_TIMEOUT)
    if os.environ.get("EMAIL_HOST") and not os.environ.get("EMAIL_URL")
    else _mailer(os.environ.get("EMAIL_URL", ""), _EMAIL_TIMEOUT)
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "BuildWatch <buildwatch@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Treeherder, Taskcluster, web push ---------------------------------------------------------------
TREEHERDER_URL = os.environ.get("TREEHERDER_URL", "https://treeherder.mozilla.org").rstrip("/")
TASKCLUSTER_ROOT_URL = os.environ.get(
    "TASKCLUSTER_ROOT_URL", "https://firefox-ci-tc.services.mozilla.com"
).rstrip("/")
# Seconds: page views must stay snappy; background work may wait longer (30 s ceiling).
TREEHERDER_PAGE_TIMEOUT = float(os.environ.get("TREEHERDER_PAGE_TIMEOUT", "8"))
TREEHERDER_BACKGROUND_TIMEOUT = float(os.environ.get("TREEHERDER_BACKGROUND_TIMEOUT", "30"))

TASKCLUSTER_TIMEOUT = float(os.environ.get("TASKCLUSTER_TIMEOUT", "8"))
# Keys the encryption of stored Taskcluster tokens; derived from SECRET_KEY when empty. Old keys that
# may still decrypt (a token read with one is re-encrypted with the current key): comma-separated.
BUILDWATCH_ENCRYPTION_KEY = os.environ.get("BUILDWATCH_ENCRYPTION_KEY", "")
BUILDWATCH_ENCRYPTION_KEY_FALLBACKS = envlist("BUILDWATCH_ENCRYPTION_KEY_FALLBACKS", [])

VAPID_PUBLIC_KEY = os.environ.get("VAPID_PUBLIC_KEY", "")
VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY", "")
VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "mailto:buildwatch@localhost")
# Browsers' push services (Firefox, Chrome/Edge/Opera, Windows, Safari); subdomains match too.
WEBPUSH_ENDPOINT_HOSTS = envlist(
    "WEBPUSH_ENDPOINT_HOSTS",
    ["push.services.mozilla.com", "fcm.googleapis.com", "android.googleapis.com", "notify.windows.com",
     "push.apple.com"],
)
WEBPUSH_ALLOW_LOOPBACK = envbool("WEBPUSH_ALLOW_LOOPBACK", DEBUG)

# --- Matrix (notifications/channels/matrix.py) ----------------------------------------------------
# The bot that sends direct messages. Unset MATRIX_HOMESERVER: Matrix is unavailable, /settings/ says so.
MATRIX_HOMESERVER = os.environ.get("MATRIX_HOMESERVER", "").rstrip("/")
# Either the bot's access token, or its user and password (BuildWatch logs in once, keeps the token).
MATRIX_ACCESS_TOKEN = os.environ.get("MATRIX_ACCESS_TOKEN", "")
MATRIX_USER = os.environ.get("MATRIX_USER", "")
MATRIX_PASSWORD = os.environ.get("MATRIX_PASSWORD", "")
# Names the direct rooms the bot opens ("<prefix> notifications"); empty: unnamed direct chats.
MATRIX_ROOM_NAME = os.environ.get("MATRIX_ROOM_NAME", "")
# Seconds: to connect, and for a whole call (connect, send, answer).
MATRIX_CONNECT_TIMEOUT = float(os.environ.get("MATRIX_CONNECT_TIMEOUT", "5"))
MATRIX_TIMEOUT = float(os.environ.get("MATRIX_TIMEOUT", "15"))
# --- end Matrix -----------------------------------------------------------------------------------

BUILDWATCH_POLL_SECONDS = envint("BUILDWATCH_POLL_SECONDS", 60)
BUILDWATCH_REFRESH_SECONDS = envint("BUILDWATCH_REFRESH_SECONDS", 30)

# --- Celery -------------------------------------------------------------------------------------------
# Without REDIS_URL the broker is kombu's filesystem transport under var/broker: no server needed.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 3600}
    if REDIS_URL
    else {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Seconds. A delivery claim older than the hard limit (+5 s) is a dead worker's and may be reclaimed.
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 180)
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE = {
    "poll-watched-pushes": {
        "task": "notifications.tasks.poll_watched_pushes",
        "schedule": float(BUILDWATCH_POLL_SECONDS),
        "options": {"expires": max(BUILDWATCH_POLL_SECONDS - 1, 1)},
    },
}

# --- Production hardening (manage.py check --deploy passes with DEBUG=0 and HTTPS) ---------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Joining the browsers' preload list is a domain owner's decision, not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Serve static files straight from static/ while developing (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
