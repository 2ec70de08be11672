"""prefapp settings: everything that differs between machines comes from the environment.

With no environment at all this runs for development: SQLite in ./var, a Celery broker
on the local filesystem, DEBUG on and a secret key generated once and kept in ./var.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.environ.get(name, default).lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.environ.get(name, default))


def envfloat(name: str, default: str) -> float:
    return float(os.environ.get(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envmap(name: str, default: str) -> dict[str, str]:
    """ "a=b,c=d" -> {"a": "b", "c": "d"}."""
    pairs = (item.partition("=") for item in envlist(name, default))
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


VAR_DIR = Path(os.environ.get("PREFAPP_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", "true")


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment when DEBUG is off; make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    # Development only: generate once and keep it, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "axes",
    "labeling",
    "training",
    # The JSON API (django-ninja, whose static files are the docs page's Swagger UI).
    "ninja",
    "api",
    # The wiring layer: the demo command (load_demo), which uses both apps.
    "prefapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "prefapp.urls"
WSGI_APPLICATION = "prefapp.wsgi.application"

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


def database_from_url(url: str) -> dict:
    """postgres://user:pass@host:port/name?sslmode=... or sqlite:///path."""
    parts = urlparse(url)
    if parts.scheme in ("postgres", "postgresql"):
        options: dict = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        # Parameters are bound on the server, so psycopg prepares a statement once per
        # connection after this many runs (the labelling path's, labeling/sql.py, and the ORM's)
        # and PostgreSQL stops planning it every time (bench/README.md). Behind PgBouncer in
        # transaction mode older than 1.21, set `?prepare_threshold=` (empty: never prepare);
        # `?server_side_binding=false` returns to Django's default client-side binding.
        threshold = options.pop("prepare_threshold", os.environ.get("DB_PREPARE_THRESHOLD", "2"))
        options["prepare_threshold"] = int(threshold) if threshold not in ("", "none") else None
        binding = options.pop("server_side_binding", "true").lower()
        options["server_side_binding"] = binding in ("1", "true", "yes", "on")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": (parts.path or "/").lstrip("/") or "postgres",
            "USER": parts.username or "",
            "PASSWORD": parts.password or "",
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", "60"),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            "TEST": {"NAME": os.environ.get("PREFAPP_TEST_DB", "test_prefapp")},
        }
    if parts.scheme == "sqlite":
        return sqlite_database(parts.path.lstrip("/") if parts.netloc == "" else parts.path)
    raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")


def sqlite_database(path: str) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        # Reusing connections skips reopening the file, the PRAGMAs below and SQLite's parse of
        # the whole schema, which cost more than the queries of a request.
        "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", "60"),
        "OPTIONS": {
            # IMMEDIATE takes the write lock when a transaction starts, so two writers never
            # both read and then both write: SQLite's stand-in for row locks.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": os.environ.get("PREFAPP_SQLITE_TEST_DB") or None},
    }


DATABASES = {
    "default": database_from_url(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else sqlite_database(str(VAR_DIR / "prefapp.sqlite3"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out username + address before any password is hashed (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is refused for LOGIN_COOLOFF_MINUTES after its last attempt,
# without hashing the password. Attempts are rows in the database, so throttling holds while
# Redis is down. `manage.py axes_reset_username NAME` lifts a lockout early.
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_COOLOFF_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "prefapp.lockout.lockout_response"
# Reverse proxies in front of the app that append to X-Forwarded-For; 0: the connecting address.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", "0")
AXES_CLIENT_IP_CALLABLE = "prefapp.lockout.client_address"
# django-ratelimit counts by the same client address as the login throttle.
RATELIMIT_IP_META_KEY = "prefapp.lockout.client_address"
# Entries through a crowd study link per client address: each can make an account without a
# password, so a script inventing participant ids is slowed; a lab behind one address stays
# well under it.
PREFAPP_STUDY_ENTRY_RATE = os.environ.get("PREFAPP_STUDY_ENTRY_RATE", "300/h")
# Only failures are stored; a row per successful login would keep every user's addresses.
AXES_DISABLE_ACCESS_LOG = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Training runs, snapshots and model artifacts live here (a shared volume in production).
PREFAPP_DATA_DIR = Path(os.environ.get("PREFAPP_DATA_DIR", VAR_DIR / "data"))

# Uploads: imports may be large; Django streams files above this size to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
PREFAPP_MAX_IMPORT_BYTES = envint("PREFAPP_MAX_IMPORT_BYTES", str(200 * 1024 * 1024))
# The dashboard's "try it" loads models in the web process only up to this much weights.
PREFAPP_TRY_MAX_BYTES = envint("PREFAPP_TRY_MAX_BYTES", str(1024 * 1024 * 1024))

# Celery: Redis when REDIS_URL is set, otherwise a broker on the local filesystem that needs
# no server (development and the demo).
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 12 * 3600}
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Exchange tables; kombu's default is ./control in whatever directory the worker runs.
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = "default"
# Only the training run itself goes to the training workers; the light training tasks (dead-run
# detection, schedule checks) must not wait behind an hours-long run.
CELERY_TASK_ROUTES = {"training.tasks.run_training": {"queue": "training"}}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "false")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "labeling-reclaim-expired-leases": {
        "task": "labeling.tasks.reclaim_expired_leases",
        "schedule": 60.0,
    },
    "training-detect-dead-runs": {
        "task": "training.tasks.detect_dead_runs",
        "schedule": 60.0,
    },
    "training-send-waiting-runs": {
        "task": "training.tasks.send_waiting_runs",
        "schedule": 60.0,
    },
    "training-check-schedules": {
        "task": "training.tasks.check_training_schedules",
        "schedule": float(envint("PREFAPP_SCHEDULE_CHECK_SECONDS", "300")),
    },
    # Rounds of the loop: a budget reached starts a round's steps; a finished run whose hook
    # did not run (a dead worker) still moves its round on.
    # The JSON API: webhooks' events (a run ended, N new judgments, a project complete), and
    # the answers to idempotent requests, kept for a day.
    "api-check-webhooks": {
        "task": "api.tasks.check_webhooks",
        "schedule": float(envint("PREFAPP_WEBHOOK_CHECK_SECONDS", "60")),
    },
    "api-purge-idempotency-keys": {"task": "api.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "training-advance-loops": {
        "task": "training.tasks.advance_loops",
        "schedule": float(envint("PREFAPP_LOOP_CHECK_SECONDS", "60")),
    },
}
# A running run whose worker has not reported for this long is marked failed (the worker
# reports every few seconds while the training child runs).
PREFAPP_RUN_HEARTBEAT_TIMEOUT = envint("PREFAPP_RUN_HEARTBEAT_TIMEOUT", "120")
# A queued run whose task was sent this long ago and not picked up, while no training run is
# running or a run sent after it was picked up first, is sent again: its message was lost (a
# duplicate is ignored; later resends wait longer). A run that may be waiting behind others is
# sent again only after PREFAPP_RUN_RESEND_SECONDS.
PREFAPP_RUN_PICKUP_SECONDS = envint("PREFAPP_RUN_PICKUP_SECONDS", "90")
PREFAPP_RUN_RESEND_SECONDS = envint("PREFAPP_RUN_RESEND_SECONDS", "600")
# Directories whose model subdirectories a manager may name as a run's base model (besides the
# project's own artifacts and hub ids); nothing else on the server can be loaded by path.
# Default: where load_demo builds the tiny models.
PREFAPP_MODEL_ROOTS = envlist("PREFAPP_MODEL_ROOTS", str(PREFAPP_DATA_DIR / "tiny-models"))
# The worker pool (Celery queue) a training run is sent to, unless the run names one: its
# project's ("slug=queue,..."), else its kind's ("ppo=training-gpu,dpo=training-gpu"), else
# PREFAPP_TRAINING_QUEUE. A pool is the workers started with `-Q <queue>`.
PREFAPP_TRAINING_QUEUE = os.environ.get("PREFAPP_TRAINING_QUEUE", "training")
PREFAPP_TRAINING_QUEUE_BY_PROJECT = envmap("PREFAPP_TRAINING_QUEUE_BY_PROJECT", "")
PREFAPP_TRAINING_QUEUE_BY_KIND = envmap("PREFAPP_TRAINING_QUEUE_BY_KIND", "")
# A store shared by machines for snapshots, run directories and artifacts (training/storage.py):
# empty = the data directory alone (one machine or a network volume); "s3://bucket/prefix"
# with PREFAPP_STORAGE_ENDPOINT_URL for an S3-compatible server other than AWS (credentials:
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); any fsspec URL works.
PREFAPP_STORAGE_URL = os.environ.get("PREFAPP_STORAGE_URL", "")
PREFAPP_STORAGE_ENDPOINT_URL = os.environ.get("PREFAPP_STORAGE_ENDPOINT_URL", "")
# How long the answer to "which queues have a worker?" (asked of the workers) is reused.
PREFAPP_WORKER_QUEUES_CACHE_SECONDS = envint("PREFAPP_WORKER_QUEUES_CACHE_SECONDS", "15")
# The oracles (module:function) a manager may start simulated annotators with from the
# dashboard; a form names one of these, never a module path of its own.
PREFAPP_SIMULATION_ORACLES = envlist("PREFAPP_SIMULATION_ORACLES", "training.ml.toy:oracle_prefers")

# The cache is optional: Redis holds nothing that cannot be lost, and while it is down or
# restarting every cache call is a miss, logged once per outage (prefapp/cache.py).
CACHES = {
    "default": {
        "BACKEND": "prefapp.cache.OptionalRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {
            # A Redis that hangs instead of refusing must not hold a request for redis-py's
            # default 5 s; while it is down it is asked again every retry_seconds.
            "socket_connect_timeout": envfloat("REDIS_CACHE_TIMEOUT", "0.5"),
            "socket_timeout": envfloat("REDIS_CACHE_TIMEOUT", "0.5"),
            "retry_seconds": envfloat("REDIS_CACHE_RETRY_SECONDS", "5"),
        },
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Sessions live in the database only: logging in, labelling and the manager's pages must keep
# working while Redis is down, and a logout must never be undone by a stale cached copy that
# an unreachable Redis kept. One indexed primary-key read per request (bench/README.md).
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# The JSON API: requests per minute per token (or logged-in user), counted in the cache.
PREFAPP_API_RATE = os.environ.get("PREFAPP_API_RATE", "1200/m")
# Imports sent to the API up to this size run in the request; larger ones become a job on the
# default worker.
PREFAPP_API_IMPORT_INLINE_BYTES = envint("PREFAPP_API_IMPORT_INLINE_BYTES", str(2 * 1024 * 1024))
# Webhook URLs may point at loopback, private or link-local addresses only when this is on: off,
# a manager cannot make the server call its own network (checked at registration and delivery).
PREFAPP_WEBHOOK_PRIVATE_ADDRESSES = envbool("PREFAPP_WEBHOOK_PRIVATE_ADDRESSES", "false")
NINJA_PAGINATION_PER_PAGE = 100
NINJA_PAGINATION_MAX_PER_PAGE_SIZE = 1000

# Production hardening; all on when DEBUG is off, each overridable.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(not DEBUG))
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", str(not DEBUG))
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", str(not DEBUG))
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp), on every page in development too, so that a template
# that brings back an inline script or style shows up at once: the app's own scripts and
# styles only (static files; htmx is told not to inject its indicator styles and not to
# evaluate code, in base.html), no plugins, no framing, forms post to the app only. Model text
# is rendered through nh3 (labeling/rendering.py); this is the second line behind it. (Django's
# DEBUG error pages carry inline styles, so they show unstyled.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
