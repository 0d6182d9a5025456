"""hwfit settings, read from the environment.

Development defaults are safe and need nothing running: SQLite and in-process Celery tasks.
`DATABASE_URL` selects PostgreSQL (psycopg 3), `CELERY_BROKER_URL` selects Redis. Production mode
(`HWFIT_ENV=production`) refuses to start without `SECRET_KEY` and `ALLOWED_HOSTS`.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


HWFIT_ENV = env_str("HWFIT_ENV", "development")
if HWFIT_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"HWFIT_ENV must be 'development' or 'production', got {HWFIT_ENV!r}")
PRODUCTION = HWFIT_ENV == "production"

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when HWFIT_ENV=production")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when HWFIT_ENV=production")
    DEBUG = env_bool("DEBUG", False)
else:
    # A development key: never used in production because production refuses to start without one.
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-hwfit-do-not-use-in-production")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
    DEBUG = env_bool("DEBUG", True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "models_catalog",
    "devices",
    "estimator",
    # The model and device pages' shared parts: page services, template tags.
    "hwfit.pages",
    # The calculator, compare, search and detect-my-device pages (hwfit/tools).
    "hwfit.tools",
]

MIDDLEWARE = [
    # Outermost: shared-cache writes a request defers run once its response is closed (sent).
    "hwfit.deferred.DeferredWorkMiddleware",
    "hwfit.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "hwfit.middleware.ContentSecurityPolicyMiddleware",
    "hwfit.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's, making the message storage on first use (hwfit/middleware.py).
    "hwfit.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hwfit.middleware.RejectNulQueryMiddleware",
    "hwfit.middleware.AdminLoginThrottleMiddleware",
    # Last, so that a kept page is served after the checks above (see hwfit/page_cache.py).
    "hwfit.page_cache.PageCacheMiddleware",
]

if PRODUCTION:
    # Serves the collected static/ (the API docs' assets) in production; development uses
    # runserver's own static serving and has no STATIC_ROOT to scan.
    MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                      "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "hwfit.urls"

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

WSGI_APPLICATION = "hwfit.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(env_float("DATABASE_CONN_MAX_AGE", 60)),
        # A persistent connection that PostgreSQL dropped (a restart, a failover, an idle timeout)
        # is checked before a request reuses it and replaced, instead of failing that request.
        conn_health_checks=True,
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production serves hashed, compressed copies made by `manage.py collectstatic`.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if PRODUCTION
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The sourced CSVs the catalog and the priors are built from: a snapshot of the public sources kept in
# the repository so that a fresh clone imports, fits and tests without anything beside it.
HWFIT_SHARED_DATA = Path(env_str("HWFIT_SHARED_DATA", str(BASE_DIR / "fixtures" / "sources")))
# A batch of 1,000 estimate scenarios that paste whole catalog objects inline is a few MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env_float("DATA_UPLOAD_MAX_MEMORY_SIZE", 16 * 1024 * 1024))
# Energy price used for $/1M-token energy cost unless a request gives its own.
HWFIT_USD_PER_KWH = env_float("HWFIT_USD_PER_KWH", 0.12)
# --- calibration (estimator/calibration): a running run without a heartbeat for this long has
# lost its worker and is retried or failed when a worker starts.
HWFIT_CALIBRATION_STALE_S = env_float("HWFIT_CALIBRATION_STALE_S", 300)

# --- Bring your own model (models_catalog/importers) ----------------------------------------
# Largest config.json the import page and API read (real ones are a few KB).
HWFIT_CONFIG_MAX_BYTES = int(env_float("HWFIT_CONFIG_MAX_BYTES", 1024 * 1024))
# Largest GGUF upload: only the header is needed, so `head -c 32M model.gguf` is enough to upload.
HWFIT_GGUF_UPLOAD_MAX_BYTES = int(env_float("HWFIT_GGUF_UPLOAD_MAX_BYTES", 64 * 1024 * 1024))
# Largest catalog CSV the admin imports.
HWFIT_CSV_MAX_BYTES = int(env_float("HWFIT_CSV_MAX_BYTES", 8 * 1024 * 1024))

# Seconds a process reuses the catalog version it read (estimator/services/catalog_cache.py): an
# edit saved by another process is seen within this time. Development reads it on every request.
HWFIT_CATALOG_CHECK_S = env_float("HWFIT_CATALOG_CHECK_S", 1.0 if PRODUCTION else 0.0)

# --- Cache ----------------------------------------------------------------------------------
# Throttle counts and computed compatibility tables. With CACHE_URL (Redis) they are shared by
# every worker process; while Redis is down each process falls back to its own memory.
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {
        "BACKEND": "hwfit.cache.ResilientRedisCache", "LOCATION": CACHE_URL,
        "KEY_PREFIX": "hwfit", "OPTIONS": {"RETRY_AFTER": env_float("CACHE_RETRY_AFTER", 5.0)},
    } if CACHE_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hwfit"},
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
# No broker: run tasks in-process so the embedded default works alone.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_TIME_LIMIT = int(env_float("CELERY_TASK_TIME_LIMIT", 3600))
CELERY_TASK_SOFT_TIME_LIMIT = int(env_float("CELERY_TASK_SOFT_TIME_LIMIT", 3300))
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis re-delivers unacknowledged tasks after the visibility timeout: keep it above the hard
# time limit, or a long calibration would run twice at once.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous write is then answered 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["hwfit.permissions.ModelPermissionsOrReadOnly"],
    # DRF's parsers, with JSON's too-deep nesting and lone surrogates answered as 400s.
    "DEFAULT_PARSER_CLASSES": [
        "hwfit.api_base.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "hwfit.api_base.NamedSearchFilter",
        "hwfit.api_base.StableOrderingFilter",
    ],
    # DRF's JSON, encoded with orjson (hwfit/api_json.py); the browsable API as DRF's.
    "DEFAULT_RENDERER_CLASSES": [
        "hwfit.api_json.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "hwfit.api_base.CatalogPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "hwfit.api_schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["hwfit.throttling.AnonThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("HWFIT_ANON_THROTTLE", "120/minute")},
    # The client address is REMOTE_ADDR unless this many proxies in front add X-Forwarded-For:
    # trusting that header with no proxy lets a client pick a new address per request.
    "NUM_PROXIES": int(env_float("NUM_PROXIES", 0)),
    "EXCEPTION_HANDLER": "hwfit.api_errors.exception_handler",
}

# Admin login attempts per client address (hwfit.middleware.AdminLoginThrottleMiddleware).
HWFIT_LOGIN_THROTTLE = env_str("HWFIT_LOGIN_THROTTLE", "10/minute")

SPECTACULAR_SETTINGS = {
    "TITLE": "hwfit API",
    "DESCRIPTION": "Does model M at quantization Q fit on device D, how fast, at what cost.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets are served from static/ (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env_float("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
