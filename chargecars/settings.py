"""ChargeCars partner integrations: settings, read from the environment (and `.env`).

Every value has a safe development default except the two secrets, which `make run`
writes into `.env` for you. `.env.example` documents each variable.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from chargecars.rates import rate_parse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # embedded SQLite database, file broker, file cache
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
# Real environment variables win over `.env`, so CI and production can override it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _required(name: str, how_to_make: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Put it in the environment or in .env ({how_to_make})."
        )
    return value


def _fernet_keys(raw: str) -> list[str]:
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY key #{position} is not a valid Fernet key ({exc}). "
                "Make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc
    return keys


def _url(name: str, default: str) -> str:
    """A service URL; unset or empty is ``default``."""
    return env.str(name, default="").strip() or default


_SWITCHES = {
    **dict.fromkeys(("true", "on", "ok", "y", "yes", "1"), True),
    **dict.fromkeys(("false", "off", "n", "no", "0"), False),
}


def _bool(name: str, default: bool) -> bool:
    """A switch; unset or empty is ``default``, anything not true/false stops start-up."""
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw not in _SWITCHES:
        raise ImproperlyConfigured(f"{name}={raw!r} is not understood: use true or false.")
    return _SWITCHES[raw]


def _number(name: str, default, *, cast=int, minimum=0, above=None, above_what=""):
    """An int (or float) at least ``minimum`` (or greater than ``above``); unset or empty is
    ``default``. A bad value stops start-up with a message naming the variable."""
    raw = env.str(name, default="").strip()
    if not raw:
        return default
    kind = "a whole number" if cast is int else "a number"
    try:
        value = cast(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not {kind}.") from None
    if above is not None and not value > above:
        raise ImproperlyConfigured(f"{name} must be more than {above_what or above} (it is {raw}).")
    if above is None and minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (it is {raw}).")
    return value


# --- Core ---------------------------------------------------------------------------
# Signs sessions and CSRF tokens. Required.
SECRET_KEY = _required(
    "SECRET_KEY",
    "make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
)
# Development conveniences and detailed error pages. Never true in production.
DEBUG = _bool("DEBUG", False)
# Host names this site answers to, comma-separated.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Origins trusted for admin form posts when served behind a proxy on another origin.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Encrypts api_credentials and webhook secrets at rest. One Fernet key, or several
# comma-separated, newest first: the first encrypts, all decrypt (see `rotate_encryption`).
FIELD_ENCRYPTION_KEY = _fernet_keys(
    _required(
        "FIELD_ENCRYPTION_KEY",
        "make one with: python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'",
    )
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "encrypted_model_fields",
    "organizations",
    "orders",
    "integrations",
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
]

ROOT_URLCONF = "chargecars.urls"
WSGI_APPLICATION = "chargecars.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# postgres://user:pass@host:5432/name in production; an embedded SQLite file by default.
DATABASES = {
    "default": env.db_url_config(
        _url("DATABASE_URL", f"sqlite:///{VAR_DIR / 'chargecars.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let web, worker and beat share the file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Seconds a connection is kept open between requests.
    DATABASES["default"]["CONN_MAX_AGE"] = _number("DATABASE_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if _bool("DATABASE_PREPARED_STATEMENTS", True):
        # Parameters bound by the server, and statements run repeatedly (every partner API
        # request runs the same few) prepared once per connection: a third less PostgreSQL
        # CPU per request. Turn off behind PgBouncer in transaction pooling mode.
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True,
            prepare_threshold=_number("DATABASE_PREPARE_THRESHOLD", 5),
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
# Shared by every process (rate limits, partner access tokens). redis://host:6379/1 in
# production; a file cache under var/ by default so one machine needs no Redis.
_cache_from = "CACHE_URL" if _url("CACHE_URL", "") else "REDIS_URL"
try:
    CACHES = {
        "default": env.cache_url_config(
            _url("CACHE_URL", _url("REDIS_URL", f"filecache://{VAR_DIR / 'cache'}"))
        )
    }
except ImproperlyConfigured as exc:
    raise ImproperlyConfigured(
        f"{_cache_from}: {exc} (use redis://host:6379/1, or leave it unset for the file cache)."
    ) from None

# --- Celery ---------------------------------------------------------------------------
# redis://host:6379/0 in production. The default is kombu's filesystem transport under
# var/broker, so `make run` starts a real worker and beat with no outside services.
CELERY_BROKER_URL = _url("CELERY_BROKER_URL", _url("REDIS_URL", "filesystem://"))
# Production sets this so a forgotten CELERY_BROKER_URL cannot go unnoticed.
REQUIRE_EXTERNAL_BROKER = _bool("REQUIRE_EXTERNAL_BROKER", False)
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Exchange tables; kombu's default is control/ in the current working directory.
        "control_folder": str(_broker_dir / "control"),
    }
    if REQUIRE_EXTERNAL_BROKER:
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL is not set but REQUIRE_EXTERNAL_BROKER is on: "
            "set CELERY_BROKER_URL=redis://host:6379/0."
        )
elif CELERY_BROKER_URL.split("://", 1)[0] not in ("redis", "rediss", "amqp", "amqps"):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL {CELERY_BROKER_URL!r} is not a broker URL: use "
        "redis://host:6379/0 (or leave it unset for the embedded file broker)."
    )
else:
    # Seconds before Redis hands an unacknowledged task to another worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _number("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# At-least-once: a task is acknowledged after it ran, and requeued if its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = _number("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = _number("CELERY_TASK_TIME_LIMIT", 180, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}

# --- Auth, i18n, static -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Messages live in the session (database), not a cookie: the admin shows a newly generated
# webhook secret once through a message, and it must not travel back in a cookie. They are
# encrypted there, as every stored secret is.
MESSAGE_STORAGE = "chargecars.message_storage.EncryptedSessionStorage"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Partner integrations ---------------------------------------------------------------
# Allow outbound calls to private, loopback and link-local addresses and plain http.
# Off in production (SSRF protection); on by default when DEBUG is on, and in tests.
PARTNER_ALLOW_PRIVATE_NETWORKS = _bool("PARTNER_ALLOW_PRIVATE_NETWORKS", DEBUG)

# Log level of the root logger: DEBUG, INFO, WARNING, ERROR or CRITICAL.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").strip().upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # One line per task received/succeeded and per beat tick (every few seconds) would
        # drown the lines that matter; failures are still logged at WARNING and above.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
    },
}
# Celery workers log through the LOGGING above instead of replacing the root logger.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Partner API -------------------------------------------------------------------------
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # RFC 9457 problem+json for every error under /api/.
    "EXCEPTION_HANDLER": "integrations.api.errors.problem_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ChargeCars partner API",
    "DESCRIPTION": (
        "Create orders and send status updates for your ChargeCars integration. Every "
        "request is signed with Standard Webhooks headers (webhook-id, webhook-timestamp, "
        "webhook-signature) using your integration's whsec_ secret. Errors are RFC 9457 "
        "problem details (application/problem+json).\n\n"
        "ChargeCars can also read your order changes on a schedule. By default it calls "
        "`GET {your api_base_url}/orders?updated_since=<RFC 3339>&limit=<1..500>[&cursor=...]` "
        "with the authentication agreed with ChargeCars and expects `200` with "
        '`{"orders": [{"partner_order_id", "status" (your vocabulary), "updated_at" '
        '(RFC 3339 with offset), and any field of the create endpoint below}], '
        '"next_cursor": "<opaque>" or null}`, following pages until `next_cursor` is null. '
        "Unknown statuses and invalid records are skipped and reported to ChargeCars "
        "operations; 429/503 with Retry-After slow us down. Another shape can be mapped by "
        "ChargeCars: send operations a sample page."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from drf-spectacular-sidecar: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["integrations.api.schema.without_slashless_twins"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "integrations.api.schema.problem_content_types",
    ],
}
# Largest request body the partner API accepts, in bytes (413 above it).
PARTNER_API_MAX_BODY_BYTES = _number("PARTNER_API_MAX_BODY_BYTES", 256 * 1024, minimum=1)
# Requests per integration, counted in the shared cache across processes: "600/minute",
# "50/10seconds", or "0" for no limit (429 with Retry-After above it).
PARTNER_API_RATE_LIMIT = env.str("PARTNER_API_RATE_LIMIT", default="600/minute")
try:
    rate_parse(PARTNER_API_RATE_LIMIT)
except ImproperlyConfigured as exc:
    raise ImproperlyConfigured(f"PARTNER_API_RATE_LIMIT: {exc}") from None
# Bytes of each request body kept in the inbound event log.
PARTNER_API_EVENT_BODY_CAP = _number("PARTNER_API_EVENT_BODY_CAP", 64 * 1024)
# ... and of a request refused before its signature was found valid (anyone can send those).
PARTNER_API_UNVERIFIED_BODY_CAP = _number("PARTNER_API_UNVERIFIED_BODY_CAP", 2048)
# Seconds each web process keeps an integration (secret, mapping, active flag) in memory
# between database reads; 0 reads it on every request. Saving it in the admin clears the
# saving process's copy at once; other processes follow within this many seconds.
PARTNER_API_INTEGRATION_CACHE_SECONDS = _number("PARTNER_API_INTEGRATION_CACHE_SECONDS", 5)
# How long a rotated-out webhook secret stays valid, in seconds (default 24 h).
WEBHOOK_SECRET_GRACE_PERIOD = timedelta(seconds=_number("WEBHOOK_SECRET_GRACE_PERIOD", 24 * 3600))

# --- Outbound webhooks and the partner API client --------------------------------------
# Delay in seconds before each attempt of a webhook delivery: the first entry is the first
# attempt (0 = on commit), the rest are retries. After the last one a delivery fails.
try:
    WEBHOOK_RETRY_SCHEDULE = env.list(
        "WEBHOOK_RETRY_SCHEDULE", cast=int, default=[0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    )
except ValueError:
    WEBHOOK_RETRY_SCHEDULE = []
if not WEBHOOK_RETRY_SCHEDULE or min(WEBHOOK_RETRY_SCHEDULE) < 0:
    raise ImproperlyConfigured(
        "WEBHOOK_RETRY_SCHEDULE must list at least one delay in seconds, none negative, "
        "e.g. 0,5,300,1800,7200,18000,36000,36000."
    )
# Seconds to wait for a partner's webhook endpoint to accept the connection / to answer.
WEBHOOK_CONNECT_TIMEOUT = _number("WEBHOOK_CONNECT_TIMEOUT", 5.0, cast=float, above=0)
WEBHOOK_READ_TIMEOUT = _number("WEBHOOK_READ_TIMEOUT", 15.0, cast=float, above=0)
# Characters of a partner's response body kept in the attempt log.
WEBHOOK_RESPONSE_EXCERPT_CHARS = _number("WEBHOOK_RESPONSE_EXCERPT_CHARS", 1024)
# Consecutive retryable failures (timeouts, 5xx, 408, 429) after which an integration's
# deliveries are held (kept, not dropped) and the integration flagged for ops.
WEBHOOK_HOLD_AFTER_FAILURES = _number("WEBHOOK_HOLD_AFTER_FAILURES", 10, minimum=1)
# Seconds between two runs of the dispatcher (beat) that sends whatever is due.
WEBHOOK_DISPATCH_INTERVAL = _number("WEBHOOK_DISPATCH_INTERVAL", 5.0, cast=float, above=0)
# Due deliveries claimed per batch task (one worker sends a batch over kept-alive sessions).
WEBHOOK_DISPATCH_BATCH_SIZE = _number("WEBHOOK_DISPATCH_BATCH_SIZE", 100, minimum=1)
# Seconds a claimed delivery is reserved for its worker; if the worker dies, the delivery
# is sent again after this. Must exceed connect + read timeout.
WEBHOOK_CLAIM_LEASE_SECONDS = _number(
    "WEBHOOK_CLAIM_LEASE_SECONDS",
    int(WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT) + 30,
    above=WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT,
    above_what="WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT "
    f"({WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT:g} s)",
)
# Seconds between two recomputations of an integration's success_rate (errors are recorded
# at once; the 24-hour aggregate is throttled so busy integrations do not pay it per batch).
WEBHOOK_HEALTH_REFRESH_SECONDS = _number("WEBHOOK_HEALTH_REFRESH_SECONDS", 5)
# Upper bound in seconds on a partner's Retry-After header.
WEBHOOK_RETRY_AFTER_MAX = _number("WEBHOOK_RETRY_AFTER_MAX", 86400)
# Seconds to wait for a partner's own API (and its token endpoint).
PARTNER_API_CONNECT_TIMEOUT = _number("PARTNER_API_CONNECT_TIMEOUT", 5.0, cast=float, above=0)
PARTNER_API_READ_TIMEOUT = _number("PARTNER_API_READ_TIMEOUT", 20.0, cast=float, above=0)
# Extra tries for idempotent partner API calls (GET, HEAD, PUT, DELETE) on connection
# errors and 502/503/504.
PARTNER_API_MAX_RETRIES = _number("PARTNER_API_MAX_RETRIES", 2)
# Seconds before expiry at which a cached partner access token is replaced.
PARTNER_TOKEN_EXPIRY_MARGIN = _number("PARTNER_TOKEN_EXPIRY_MARGIN", 60)

# Days an inbound event that changed no order, and the attempt log of a finished webhook
# delivery, are kept (0: forever). Events that changed an order and deliveries themselves
# are kept with the order. Pruned daily by beat, or by `manage.py prune_records`.
INBOUND_EVENT_RETENTION_DAYS = _number("INBOUND_EVENT_RETENTION_DAYS", 90, minimum=None)
DELIVERY_ATTEMPT_RETENTION_DAYS = _number("DELIVERY_ATTEMPT_RETENTION_DAYS", 90, minimum=None)
for _name in ("INBOUND_EVENT_RETENTION_DAYS", "DELIVERY_ATTEMPT_RETENTION_DAYS"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be a number of days, or 0 to keep everything.")

# --- Scheduled sync (integrations/sync) ----------------------------------------------------
# Seconds between two runs of the sync dispatcher (beat), which starts the syncs that are due.
SYNC_DISPATCH_INTERVAL = _number("SYNC_DISPATCH_INTERVAL", 60.0, cast=float, above=0)
# How often a real_time integration is reconciled by a pull, in seconds.
SYNC_REAL_TIME_RECONCILE_SECONDS = _number("SYNC_REAL_TIME_RECONCILE_SECONDS", 900, minimum=1)
# A sync asks for changes since the start of the last successful one minus this many seconds.
SYNC_OVERLAP_SECONDS = _number("SYNC_OVERLAP_SECONDS", 60)
# Pages one run reads at most; a run that reaches it is `partial` and the next one goes on.
SYNC_MAX_PAGES = _number("SYNC_MAX_PAGES", 500, minimum=1)
# Largest page we read, in bytes; a bigger answer fails the run.
SYNC_MAX_PAGE_BYTES = _number("SYNC_MAX_PAGE_BYTES", 16 * 1024 * 1024, minimum=1024)
# Seconds a sync holds its integration's lease; renewed after each page. A worker killed
# mid-sync blocks the integration at most this long.
SYNC_LEASE_SECONDS = _number("SYNC_LEASE_SECONDS", 300, minimum=10)
# Retries of one feed request answered 429 or 5xx, and the first wait between them in
# seconds (doubled each time; a longer Retry-After is honoured).
SYNC_HTTP_RETRIES = _number("SYNC_HTTP_RETRIES", 3)
SYNC_RETRY_BACKOFF_SECONDS = _number("SYNC_RETRY_BACKOFF_SECONDS", 2.0, cast=float)
# Longest Retry-After a run waits for, in seconds; a longer one fails the run and the next
# scheduled sync waits as long as the partner asked.
SYNC_RETRY_AFTER_MAX = _number("SYNC_RETRY_AFTER_MAX", 60)
# Skipped records kept (with the reason) per run; all of them are counted.
SYNC_SKIPPED_RECORDS_KEPT = _number("SYNC_SKIPPED_RECORDS_KEPT", 100)
# Time limits of one sync task, in seconds (a run stopped by the soft one is `partial`).
SYNC_TASK_SOFT_TIME_LIMIT = _number("SYNC_TASK_SOFT_TIME_LIMIT", 1800, minimum=1)
# The sandbox partner's port (`manage.py run_partner_sandbox`, `make run`).
PARTNER_SANDBOX_PORT = _number("PARTNER_SANDBOX_PORT", 8765, minimum=1)

CELERY_BEAT_SCHEDULE["records-prune"] = {
    "task": "integrations.tasks.records_prune",
    "schedule": crontab(hour=3, minute=17),
}
CELERY_BEAT_SCHEDULE["webhook-deliveries-dispatch"] = {
    "task": "integrations.outbound.tasks.webhook_deliveries_dispatch",
    "schedule": WEBHOOK_DISPATCH_INTERVAL,
    "options": {"expires": WEBHOOK_DISPATCH_INTERVAL * 2},
}
CELERY_BEAT_SCHEDULE["integrations-sync-dispatch"] = {
    "task": "integrations.sync.tasks.integrations_sync_dispatch",
    "schedule": SYNC_DISPATCH_INTERVAL,
    "options": {"expires": SYNC_DISPATCH_INTERVAL},
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tests on SQLite use a database file, not :memory:, so the real Celery worker started by
    # the `worker` tests can open the same database. Override with SQLITE_TEST_DATABASE.
    import hashlib
    import tempfile

    _checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
    DATABASES["default"].setdefault(
        "TEST",
        {
            "NAME": env.str(
                "SQLITE_TEST_DATABASE",
                default=str(Path(tempfile.gettempdir()) / f"chargecars-test-{_checkout}.sqlite3"),
            )
        },
    )
