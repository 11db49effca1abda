"""Settings for mdserver, read from environment variables only.

Unset variables give the embedded default (SQLite, in-memory channel layer,
in-process jobs); see README.md for the list.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from mdserver.env import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("MDSERVER_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded SQLite file and uploads live here

DEBUG = env.bool("DJANGO_DEBUG", True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
    SECRET_KEY = "insecure-embedded-default-only-for-local-development"
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "mdserver",
    "accounts",
    "marketdata",
    "backtests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mdserver.middleware.RejectNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mdserver.middleware.SynchronousChainMiddleware",  # innermost: see its docstring
]

ROOT_URLCONF = "mdserver.urls"
WSGI_APPLICATION = "mdserver.wsgi.application"
ASGI_APPLICATION = "mdserver.asgi.application"

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
                "accounts.context_processors.theme",
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL", VAR_DIR / "db.sqlite3")}
# PostgreSQL connections come from a pool per process (psycopg_pool), as Django advises
# under ASGI instead of persistent connections: a request no longer opens its own
# connection. A connection is checked when taken; the wait for a free one is bounded.
DB_POOL_MAX = env.int("MDSERVER_DB_POOL_MAX", 20, minimum=0)
if DB_POOL_MAX and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_MAX, "timeout": 10}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/lightweight-charts", BASE_DIR / "node_modules" / "lightweight-charts" / "dist"),
]
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
MEDIA_ROOT = VAR_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mdserver.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "mdserver.api.CursorPage",
    "DEFAULT_PARSER_CLASSES": [
        "mdserver.parsers.JSONBodyParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "mdserver.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `format=json|csv|parquet` is a data-endpoint parameter, not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mdserver API",
    "DESCRIPTION": "Market data, calendars, analytics, replays and backtests. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# Redis: channel layer and (unless CELERY_BROKER_URL says otherwise) the job broker.
REDIS_URL = env.redis_url("REDIS_URL")
CELERY_BROKER_URL = env.redis_url("CELERY_BROKER_URL") or REDIS_URL
if REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2000}}}

# Jobs: "celery" when a broker is configured, else "inprocess" (see mdserver/jobs.py).
JOBS_BACKEND = env.str("MDSERVER_JOBS_BACKEND", "celery" if CELERY_BROKER_URL else "inprocess")
if JOBS_BACKEND not in {"celery", "inprocess"}:
    raise ImproperlyConfigured(f"MDSERVER_JOBS_BACKEND must be 'celery' or 'inprocess', got {JOBS_BACKEND!r}")
if JOBS_BACKEND == "celery" and not CELERY_BROKER_URL:
    raise ImproperlyConfigured("MDSERVER_JOBS_BACKEND=celery needs REDIS_URL or CELERY_BROKER_URL")
JOBS_INPROCESS_WORKERS = env.int("MDSERVER_JOBS_WORKERS", 2, minimum=1)
JOBS_INPROCESS_SYNC = False
# Replays and live sessions run long: they get their own Celery queue (`make worker` listens to it).
SESSIONS_QUEUE = env.str("MDSERVER_SESSIONS_QUEUE", "sessions")

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A job whose worker died unacknowledged is redelivered after this many seconds.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
    "socket_connect_timeout": 3,
    "max_retries": 1,
}
CELERY_TASK_ROUTES = {"mdserver.run_job": {"queue": "default"}}

DATABENTO_API_KEY = env.str("DATABENTO_API_KEY", "")
SCHWAB_API_KEY = env.str("SCHWAB_API_KEY", "")
SCHWAB_APP_SECRET = env.str("SCHWAB_APP_SECRET", "")
SCHWAB_TOKEN_PATH = env.str("SCHWAB_TOKEN_PATH", str(VAR_DIR / "schwab-token.json"))
# Cached provider ranges older than this many seconds count as expired and are fetched
# again; 0 (the default) keeps them forever (paid data is not bought twice).
FETCH_CACHE_MAX_AGE_S = env.int("MDSERVER_FETCH_CACHE_MAX_AGE", 0, minimum=0)
# Bar chunks (a month of one symbol's bars, the PostgreSQL read cache) this process keeps
# decoded in memory, checked against the database's chunk version on every read.
BAR_CHUNK_MEMORY_MB = env.int("MDSERVER_BAR_CHUNK_MEMORY_MB", 256, minimum=0)
# Freed heap memory (glibc) kept for reuse per malloc arena rather than returned to the
# system, so large responses do not page-fault their buffers in anew each time; arenas are
# capped at the usable cores, so a process keeps at most cores x this; 0 = C defaults.
MALLOC_RETAIN_MB = env.int("MDSERVER_MALLOC_RETAIN_MB", 64, minimum=0)
# Celery beat: poll these crypto symbols' 1m bars every minute, e.g. "binance:BTC/USDT,okx:ETH/USDT".
# Off (empty) by default; run `make beat` next to a worker to use it.
CRYPTO_POLL = [tuple(item.split(":", 1)) for item in env.list("MDSERVER_CRYPTO_POLL", []) if ":" in item]
if len(CRYPTO_POLL) != len(env.list("MDSERVER_CRYPTO_POLL", [])):
    raise ImproperlyConfigured("MDSERVER_CRYPTO_POLL must look like binance:BTC/USDT,okx:ETH/USDT")
CELERY_BEAT_SCHEDULE = (
    {"poll-crypto-every-minute": {"task": "marketdata.poll_crypto", "schedule": 60.0}} if CRYPTO_POLL else {}
)
DEMO_PASSWORD = env.str("MDSERVER_DEMO_PASSWORD", "demo-trader-2024")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", "INFO")},
}
