"""BuildWatch settings: one file, every knob an environment variable (see .env.example).

Defaults suit a developer machine: SQLite under var/, local-memory cache, a filesystem Celery broker
(no server), mail printed to the console. Production sets DEBUG=0, SECRET_KEY, DATABASE_URL, REDIS_URL…

Every variable is read with `env` (environs): a value that does not parse (`DEBUG=ture`, `EMAIL_PORT=2x`,
`DATABASE_URL=postgress://…`) stops startup with an error naming the variable, instead of silently
becoming the default. An empty variable (`SECRET_KEY=` in .env, `${X:-}` in docker-compose.yml) counts
as unset. A new block of settings reads its own variables the same way.

Longer than the ~450-line guide on purpose: every knob in one file, each with its variable and its comment,
is what an operator reads; its blocks (database, cache, mail, Celery, SSO, channels, Pulse) are short.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from django.utils.csp import CSP
from environs import Env, ValidationError, validate


class _Env(Env):
    """environs' reader, where an empty variable means "use the default" (as it always has here).

    `_get_value` is the one lookup every parser goes through (environs' own FileAwareEnv overrides it too);
    environs is pinned in pyproject.toml and tests/test_settings_env.py checks this behaviour.
    """

    def _get_value(self, env_key: str, default: Any) -> Any:
        value = super()._get_value(env_key, default)
        return default if value == "" else value


env = _Env()
_HTTP_URL = validate.URL(require_tld=False, schemes={"http", "https"})
_AT_LEAST_ONE = validate.Range(min=1)
_POSITIVE = validate.Range(min=0, min_inclusive=False)


def _csv(name: str, default: list[str]) -> list[str]:
    """A comma-separated variable; blanks around items and empty items are ignored."""
    return [item.strip() for item in env.list(name, default) if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env.path("BUILDWATCH_VAR_DIR", BASE_DIR / "var")

DEBUG = env.bool("DEBUG", True)
SECRET_KEY = env.str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
# Previous secret keys, comma-separated: sessions, reset links and stored Taskcluster tokens stay valid.
SECRET_KEY_FALLBACKS = _csv("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = _csv("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
SITE_URL = env.str("SITE_URL", "http://127.0.0.1:8000", validate=_HTTP_URL).rstrip("/")
CSRF_TRUSTED_ORIGINS = _csv("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "accounts",
    "pushes",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "buildwatch.auth_oidc.SSOFormAction",  # form-action allows the SSO provider (after the CSP middleware)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "buildwatch.compression.CompressionMiddleware",  # gzip, BREACH mitigations: see that module
    "django.contrib.sessions.middleware.SessionMiddleware",
    "buildwatch.middleware.SlashCommonMiddleware",  # CommonMiddleware; slash redirects for GET/HEAD only
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "buildwatch.timezones.TimeZoneMiddleware",  # the viewer's time zone (after the user is known)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "buildwatch.middleware.PageBudgetMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out sign-in with its page (429)
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
                "django.template.context_processors.csp",  # csp_nonce, for django-htmx's script tag
                "buildwatch.context_processors.buildwatch",
            ],
        },
    },
]

DATABASES = {
    "default": env.dj_db_url(
        "DATABASE_URL",
        f"sqlite:///{VAR_DIR / 'buildwatch.sqlite3'}",
        conn_max_age=env.int("DB_CONN_MAX_AGE", 0, validate=validate.Range(min=0)),
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


def _service_url(url: str, schemes: set[str], shape: str) -> SplitResult:
    """The parts of a service's URL whose port, if any, is a number in range and whose scheme and host
    are there, or a ValidationError naming the expected shape."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise ValidationError(f"not {shape} URL")
    return parts


def _redis_url(url: str) -> None:
    """redis://[[user]:password@]host[:port][/db] or rediss://…, passed on as it is to the cache and Celery.

    (environs' dj_cache_url would drop a Redis ACL user name from the URL, so it is not used here.)
    """
    _service_url(url, {"redis", "rediss"}, "a redis://host[:port][/db] or rediss://…")


REDIS_URL = env.str("REDIS_URL", "", validate=_redis_url)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "buildwatch",
        }
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "buildwatch"}
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): every password check goes through `authenticate()`, whichever page
# asks, so the backend counts failures per account and per address alike; LOGIN_FAILURE_LIMIT failures
# of either lock sign-in for LOGIN_COOLOFF_MINUTES (a success resets the account's count).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, validate=_AT_LEAST_ONE)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", 15, validate=_AT_LEAST_ONE))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one over the limit locks
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command (a locked-out attempt is still logged)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "buildwatch.login_throttle.client_ip"
# Reverse proxies in front that append to X-Forwarded-For (0: the peer address is the client).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, validate=validate.Range(min=0))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- Sign-in (OpenID Connect) ---------------------------------------------------------------------------
# Sign in with Mozilla SSO (or any OpenID provider) through mozilla-django-oidc; README "Signing in".
# Configured = a client id and a provider (discovery URL, or the endpoints one by one). Without it,
# sign-in is with a password only, as before. Code: buildwatch/oidc.py, auth_oidc.py, views_auth.py.
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", "")
# The issuer (https://auth.mozilla.auth0.com/) or its .well-known/openid-configuration; read once per
# process, when first needed. Endpoints set below win over discovered ones.
OIDC_OP_DISCOVERY_URL = env.str("OIDC_OP_DISCOVERY_URL", "", validate=_HTTP_URL)
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", "", validate=_HTTP_URL)
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", "", validate=_HTTP_URL)
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", "", validate=_HTTP_URL)
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", "", validate=_HTTP_URL)
# Where to log out at the provider too (discovered when it offers one).
OIDC_OP_END_SESSION_ENDPOINT = env.str("OIDC_OP_END_SESSION_ENDPOINT", "", validate=_HTTP_URL)
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", "")  # checked against the ID token's iss when known
OIDC_RP_SIGN_ALGO = env.str(
    "OIDC_RP_SIGN_ALGO",
    "RS256",
    validate=validate.OneOf([f"{family}{bits}" for family in ("RS", "ES", "HS") for bits in (256, 384, 512)]),
)
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", "openid email profile")
OIDC_USE_PKCE = env.bool("OIDC_USE_PKCE", True)
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", 10.0, validate=_POSITIVE)  # seconds per call to the provider
# After this many seconds a page load re-checks the user with the provider (silently while their SSO
# session lasts; signed out once it has ended).
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env.int(
    "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 15 * 60, validate=_AT_LEAST_ONE
)
OIDC_STORE_ID_TOKEN = True  # the id_token_hint for logging out at the provider
# Fetched by the browser on its own (service worker updates) or by probes: never sent to the provider.
OIDC_EXEMPT_URLS = ["/sw.js", "/healthz"]
OIDC_OP_LOGOUT_URL_METHOD = "buildwatch.auth_oidc.provider_logout_url"
BUILDWATCH_SSO_NAME = env.str("BUILDWATCH_SSO_NAME", "Mozilla SSO")  # "Sign in with …"
# New accounts are made on first sign-in only for a verified email at one of these domains (exactly, no
# subdomains) or on this list; existing accounts with the same verified email are signed in.
BUILDWATCH_ALLOWED_EMAIL_DOMAINS = _csv("BUILDWATCH_ALLOWED_EMAIL_DOMAINS", [])
BUILDWATCH_ALLOWED_EMAILS = _csv("BUILDWATCH_ALLOWED_EMAILS", [])
# 0: nobody signs in with a password (administrators included) once SSO is configured.
BUILDWATCH_PASSWORD_LOGIN = env.bool("BUILDWATCH_PASSWORD_LOGIN", True)

_OIDC_CONFIGURED = bool(OIDC_RP_CLIENT_ID and (OIDC_OP_DISCOVERY_URL or OIDC_OP_AUTHORIZATION_ENDPOINT))
if OIDC_RP_CLIENT_ID and not OIDC_OP_DISCOVERY_URL:
    _missing = [
        name
        for name in ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT")
        + (() if OIDC_RP_SIGN_ALGO.startswith("HS") else ("OIDC_OP_JWKS_ENDPOINT",))
        if not globals()[name]
    ]
    if _missing:
        raise RuntimeError(f"OIDC_RP_CLIENT_ID is set: set OIDC_OP_DISCOVERY_URL or {', '.join(_missing)}")
if _OIDC_CONFIGURED and not OIDC_RP_CLIENT_SECRET:
    raise RuntimeError("OIDC_RP_CLIENT_ID is set but OIDC_RP_CLIENT_SECRET is not")
if not BUILDWATCH_PASSWORD_LOGIN and not _OIDC_CONFIGURED:
    raise RuntimeError(
        "BUILDWATCH_PASSWORD_LOGIN=0 needs sign-in with an OpenID provider (OIDC_RP_CLIENT_ID…)"
    )

# ModelBackend is password sign-in (first: sessions made before SSO keep working); the SSO backend and
# middleware do nothing until SSO is configured.
if not BUILDWATCH_PASSWORD_LOGIN:  # SSO only: no password is checked anywhere (throttling stays first)
    AUTHENTICATION_BACKENDS.remove("django.contrib.auth.backends.ModelBackend")
AUTHENTICATION_BACKENDS.append("buildwatch.auth_oidc.SSOBackend")
MIDDLEWARE.append("buildwatch.auth_oidc.SessionRefresh")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("buildwatch.views_auth.sign_in_context")
# --- end of Sign-in (OpenID Connect) -------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", BASE_DIR / "staticfiles")  # collectstatic writes here
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}


# --- Mail -------------------------------------------------------------------------------------------
_EMAIL_SCHEMES = ("console", "locmem", "dummy", "smtp", "smtp+tls", "smtp+ssl")
# Django's SMTP backend, telling "the answer after DATA was lost" apart from a failed send.
SMTP_BACKEND = "notifications.channels.smtp.EmailBackend"


@env.parser_for("email_url")
def _mailer(url: str, timeout: int) -> dict:
    """EMAIL_URL: console:// | locmem:// | dummy:// | smtp://user:pass@host:25 | smtp+tls://… | smtp+ssl://…

    (environs' dj_email_url knows neither locmem:// nor the smtp+tls/smtp+ssl schemes, and accepts any
    scheme without complaint, so EMAIL_URL has this parser of its own.)
    """
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in _EMAIL_SCHEMES:
        raise ValidationError(f"scheme {scheme!r} is not one of {', '.join(_EMAIL_SCHEMES)}")
    if scheme in {"console", "locmem", "dummy"}:
        return {"BACKEND": f"django.core.mail.backends.{scheme}.EmailBackend"}
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or out of range
        raise ValidationError(str(exc)) from exc
    return {
        "BACKEND": SMTP_BACKEND,
        "OPTIONS": {
            "host": parts.hostname or "localhost",
            "port": port or (465 if scheme == "smtp+ssl" else 25),
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "use_tls": scheme == "smtp+tls",
            "use_ssl": scheme == "smtp+ssl",
            "timeout": timeout,
        },
    }


_EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 20, validate=_AT_LEAST_ONE)
if env.str("EMAIL_HOST", "") and not env.str("EMAIL_URL", ""):
    # Django's classic EMAIL_HOST/EMAIL_PORT/… variables, when EMAIL_URL is not set.
    MAILERS = {
        "default": {
            "BACKEND": SMTP_BACKEND,
            "OPTIONS": {
                "host": env.str("EMAIL_HOST"),
                "port": env.int("EMAIL_PORT", 25, validate=validate.Range(min=1, max=65535)),
                "username": env.str("EMAIL_HOST_USER", ""),
                "password": env.str("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env.bool("EMAIL_USE_TLS", False),
                "use_ssl": env.bool("EMAIL_USE_SSL", False),
                "timeout": _EMAIL_TIMEOUT,
            },
        }
    }
else:
    MAILERS = {"default": env.email_url("EMAIL_URL", "console://", timeout=_EMAIL_TIMEOUT)}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "BuildWatch <buildwatch@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Treeherder, Taskcluster, web push ---------------------------------------------------------------
TREEHERDER_URL = env.str("TREEHERDER_URL", "https://treeherder.mozilla.org", validate=_HTTP_URL).rstrip("/")
TASKCLUSTER_ROOT_URL = env.str(
    "TASKCLUSTER_ROOT_URL", "https://firefox-ci-tc.services.mozilla.com", validate=_HTTP_URL
).rstrip("/")
# Seconds: page views must stay snappy; background work may wait longer (30 s ceiling).
TREEHERDER_PAGE_TIMEOUT = env.float("TREEHERDER_PAGE_TIMEOUT", 8.0, validate=_POSITIVE)
TREEHERDER_BACKGROUND_TIMEOUT = env.float("TREEHERDER_BACKGROUND_TIMEOUT", 30.0, validate=_POSITIVE)

TASKCLUSTER_TIMEOUT = env.float("TASKCLUSTER_TIMEOUT", 8.0, validate=_POSITIVE)
# Keys the encryption of stored Taskcluster tokens; derived from SECRET_KEY when empty. Old keys that
# may still decrypt (a token read with one is re-encrypted with the current key): comma-separated.
BUILDWATCH_ENCRYPTION_KEY = env.str("BUILDWATCH_ENCRYPTION_KEY", "")
BUILDWATCH_ENCRYPTION_KEY_FALLBACKS = _csv("BUILDWATCH_ENCRYPTION_KEY_FALLBACKS", [])

VAPID_PUBLIC_KEY = env.str("VAPID_PUBLIC_KEY", "")
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", "")
VAPID_SUBJECT = env.str("VAPID_SUBJECT", "mailto:buildwatch@localhost")
# Browsers' push services (Firefox, Chrome/Edge/Opera, Windows, Safari); subdomains match too.
WEBPUSH_ENDPOINT_HOSTS = _csv(
    "WEBPUSH_ENDPOINT_HOSTS",
    [
        "push.services.mozilla.com",
        "fcm.googleapis.com",
        "android.googleapis.com",
        "notify.windows.com",
        "push.apple.com",
    ],
)
WEBPUSH_ALLOW_LOOPBACK = env.bool("WEBPUSH_ALLOW_LOOPBACK", DEBUG)

# --- Matrix (notifications/channels/matrix.py) ----------------------------------------------------
# The bot that sends direct messages. Unset MATRIX_HOMESERVER: Matrix is unavailable, /settings/ says so.
MATRIX_HOMESERVER = env.str("MATRIX_HOMESERVER", "", validate=_HTTP_URL).rstrip("/")
# Either the bot's access token, or its user and password (BuildWatch logs in once, keeps the token).
MATRIX_ACCESS_TOKEN = env.str("MATRIX_ACCESS_TOKEN", "")
MATRIX_USER = env.str("MATRIX_USER", "")
MATRIX_PASSWORD = env.str("MATRIX_PASSWORD", "")
# Names the direct rooms the bot opens ("<prefix> notifications"); empty: unnamed direct chats.
MATRIX_ROOM_NAME = env.str("MATRIX_ROOM_NAME", "")
# Seconds: to connect, and for a whole call (connect, send, answer).
MATRIX_CONNECT_TIMEOUT = env.float("MATRIX_CONNECT_TIMEOUT", 5.0, validate=_POSITIVE)
MATRIX_TIMEOUT = env.float("MATRIX_TIMEOUT", 15.0, validate=_POSITIVE)
# --- end Matrix -----------------------------------------------------------------------------------

BUILDWATCH_POLL_SECONDS = env.int("BUILDWATCH_POLL_SECONDS", 60, validate=_AT_LEAST_ONE)
# The settle rule's confirming read, this long after a push first looks finished.
BUILDWATCH_SETTLE_SECONDS = env.int("BUILDWATCH_SETTLE_SECONDS", 15, validate=_AT_LEAST_ONE)
# Treeherder reads one worker makes at once within a cycle.
BUILDWATCH_POLL_CONCURRENCY = env.int(
    "BUILDWATCH_POLL_CONCURRENCY", 16, validate=validate.Range(min=1, max=64, error="must be 1 to 64")
)
BUILDWATCH_REFRESH_SECONDS = env.int("BUILDWATCH_REFRESH_SECONDS", 30, validate=_AT_LEAST_ONE)
# A push's failed jobs' evidence (bug suggestions, log status): reads at once, and the seconds one poll
# of the watched pushes spends on it at most (what is left is read at the next poll).
BUILDWATCH_EVIDENCE_CONCURRENCY = env.int(
    "BUILDWATCH_EVIDENCE_CONCURRENCY", 8, validate=validate.Range(min=1, max=32, error="must be 1 to 32")
)
BUILDWATCH_EVIDENCE_POLL_SECONDS = env.float("BUILDWATCH_EVIDENCE_POLL_SECONDS", 20.0, validate=_POSITIVE)
# Days stored evidence is kept after it was read (a daily beat task deletes older rows); 0: kept forever.
BUILDWATCH_EVIDENCE_RETENTION_DAYS = env.int(
    "BUILDWATCH_EVIDENCE_RETENTION_DAYS", 60, validate=validate.Range(min=0)
)
# First wait before a failed send is retried (doubling after each attempt, at most 15 minutes).
BUILDWATCH_RETRY_SECONDS = env.int("BUILDWATCH_RETRY_SECONDS", 30, validate=_AT_LEAST_ONE)
# Unfinished pushes one user may watch at once (auto-watch is not counted against it).
BUILDWATCH_MAX_WATCHES_PER_USER = env.int("BUILDWATCH_MAX_WATCHES_PER_USER", 100, validate=_AT_LEAST_ONE)


# --- Pulse (Taskcluster's events; `manage.py listen_pulse`, README "Told within seconds: Pulse") -------
def _amqp_url(url: str) -> None:
    """amqp://user:password@host[:port][/vhost] or amqps://… (Pulse: amqps://…@pulse.mozilla.org:5671)."""
    parts = _service_url(url, {"amqp", "amqps"}, "an amqp://user:password@host[:port][/vhost] or amqps://…")
    if not parts.username:
        raise ValidationError("needs the Pulse user (amqps://user:password@…): the queue is named after it")


# Unset: no listener, the beat polls every watched push (the default for `make run` and `make demo`).
PULSE_URL = env.str("PULSE_URL", "", validate=_amqp_url)
# The listener's durable queue is queue/<Pulse user>/<PULSE_QUEUE>.
PULSE_QUEUE = env.str(
    "PULSE_QUEUE", "buildwatch", validate=validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="letters, digits, _.-")
)
# Repositories whose tasks the listener follows (try by default); watches on others are polled as without Pulse.
PULSE_REPOS = _csv("PULSE_REPOS", ["try"])
# While the listener is live, the beat still reads each push Pulse follows at least this often.
PULSE_SAFETY_POLL_SECONDS = env.int("PULSE_SAFETY_POLL_SECONDS", 300, validate=_AT_LEAST_ONE)
# A listener that heard no message for this long counts as down: the beat polls as without Pulse.
PULSE_SILENCE_SECONDS = env.int("PULSE_SILENCE_SECONDS", 600, validate=_AT_LEAST_ONE)
# At most one read of a push per this many seconds for its task messages (a task group's resolution is
# read at once): a busy push costs no more than polling it, a quiet one nothing.
PULSE_WAKE_GAP_SECONDS = env.float(
    "PULSE_WAKE_GAP_SECONDS", float(BUILDWATCH_POLL_SECONDS), validate=_POSITIVE
)

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
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", 120, validate=_AT_LEAST_ONE)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 180, validate=_AT_LEAST_ONE)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE = {
    "poll-watched-pushes": {
        "task": "notifications.tasks.poll_watched_pushes",
        "schedule": float(BUILDWATCH_POLL_SECONDS),
        "options": {"expires": max(BUILDWATCH_POLL_SECONDS - 1, 1)},
    },
    # PushStates no watch refers to any more (unwatch removes its own; this catches the rest).
    "delete-orphan-push-states": {
        "task": "notifications.tasks.delete_orphan_push_states",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    # Failed jobs' evidence read longer ago than BUILDWATCH_EVIDENCE_RETENTION_DAYS (pushes/evidence_store.py).
    "prune-job-evidence": {
        "task": "notifications.tasks.prune_job_evidence",
        "schedule": 86400.0,
        "options": {"expires": 82800},
    },
}

# --- Content-Security-Policy (Django's own, with a nonce per response) ---------------------------------
# Scripts: our static files and the htmx tag carrying the nonce; no inline script, no eval (htmx runs with
# allowEval=false), no inline style (includeIndicatorStyles=false; app.css has the indicator rules).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "worker-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Production hardening (manage.py check --deploy passes with DEBUG=0 and HTTPS) ---------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # A year by default: once a browser has seen the site over HTTPS it never tries plain HTTP again.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 365 * 24 * 3600, validate=validate.Range(min=0))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Joining the browsers' preload list is a domain owner's decision, not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.log_level("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Serve static files straight from static/ while developing (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
