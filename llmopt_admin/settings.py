"""Django settings for the llmopt admin, read from the environment with safe local defaults.

Production needs DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, DATABASE_URL and REDIS_URL; nothing else
is required. See README.md, "Production settings".
"""

from __future__ import annotations

import math
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LLMOPT_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value!r}")
    return number


def _env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < minimum:
        raise ImproperlyConfigured(
            f"{name} must be a number of at least {minimum:g}, not {value!r}"
        )
    return number


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _local_secret_key() -> str:
    """A per-checkout key kept in var/, so a local run needs no setup and never shares a key."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = _env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _local_secret_key()
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # throttles failed sign-ins
    "ninja",  # its Swagger UI files, served from our static files instead of a CDN
    "llmopt_admin.accounts",
    "llmopt_admin.configs",
    "llmopt_admin.batches",
    "llmopt_admin.savings",
    "llmopt_admin.demo",
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
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "llmopt_admin.urls"
WSGI_APPLICATION = "llmopt_admin.wsgi.application"

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

# Persistent connections (CONN_MAX_AGE) are health-checked before a request reuses them, so a
# connection the database dropped (restart, failover, idle timeout, pg_terminate_backend) is
# replaced instead of failing that worker's next request with a 500.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=_env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out sign-in before the password
    "django.contrib.auth.backends.ModelBackend",
]
# LLMOPT_LOGIN_FAILURE_LIMIT failed sign-ins (the /login/ form and /admin/ alike) lock that
# username from that address (REMOTE_ADDR: behind a proxy, the proxy's) for
# LLMOPT_LOGIN_LOCKOUT_MINUTES; a success before the limit starts the count again. The attempts
# live in the database, shared by every web worker; staff clear a lock in /admin/ (Access
# attempts) or with `manage.py axes_reset_username USERNAME`.
AXES_FAILURE_LIMIT = _env_int("LLMOPT_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=_env_int("LLMOPT_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lock lasts its stated time from the failure that set it, however often it is tried.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "llmopt_admin.accounts.lockout.lockout_response"
AXES_VERBOSE = False  # no banner at every start; failures are still logged
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/savings/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic's target (the image sets it); unset, whitenoise serves straight from the finders,
# so a local run needs no collectstatic step.
_static_root = os.environ.get("DJANGO_STATIC_ROOT")
STATIC_ROOT = Path(_static_root) if _static_root else None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_SECURE = _env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS: off by default, as `make run` serves plain HTTP on 127.0.0.1; on in production.
SECURE_SSL_REDIRECT = _env_bool("LLMOPT_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = _env_int("LLMOPT_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("LLMOPT_HSTS_INCLUDE_SUBDOMAINS", False)
# X-Forwarded-Proto says a request came over HTTPS only when a proxy in front sets it (and
# replaces any a client sent); otherwise anyone could send it.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if _env_bool("LLMOPT_TRUST_X_FORWARDED_PROTO", False)
    else None
)
# The largest chunked (length-less) request body read under gunicorn (llmopt_admin.chunked_bodies):
# the largest body an endpoint accepts, a batch job's 256 MB.
LLMOPT_CHUNKED_BODY_MAX_BYTES = _env_int("LLMOPT_CHUNKED_BODY_MAX_MB", 256) * 1024 * 1024

# --- llmopt ---------------------------------------------------------------------------------
# Where the aiconfigs document lives: embedded (this database), arango, pipeshub-redis or
# pipeshub-etcd.
LLMOPT_CONFIG_STORE = os.environ.get("LLMOPT_CONFIG_STORE", "embedded")
ARANGO_URL = os.environ.get("ARANGO_URL", "http://127.0.0.1:8529")
ARANGO_DB_NAME = os.environ.get("ARANGO_DB_NAME", "es")
ARANGO_USERNAME = os.environ.get("ARANGO_USERNAME", "root")
ARANGO_PASSWORD = os.environ.get("ARANGO_PASSWORD", "")
# PipesHub's encrypted key-value store (pipeshub-redis / pipeshub-etcd), under the same variable
# names PipesHub's own services read, so the admin can share PipesHub's environment. SECRET_KEY
# is PipesHub's encryption secret, not Django's (that is DJANGO_SECRET_KEY).
PIPESHUB_SECRET_KEY = os.environ.get("SECRET_KEY", "")
PIPESHUB_KV_STORE_TYPE = os.environ.get("KV_STORE_TYPE", "redis").strip().lower()
PIPESHUB_REDIS_HOST = os.environ.get("REDIS_HOST") or "localhost"
PIPESHUB_REDIS_PORT = _env_int("REDIS_PORT", 6379, minimum=1)
PIPESHUB_REDIS_USERNAME = os.environ.get("REDIS_USERNAME", "")
PIPESHUB_REDIS_PASSWORD = os.environ.get("REDIS_PASSWORD", "")
PIPESHUB_REDIS_DB = _env_int("REDIS_DB", 0)
PIPESHUB_REDIS_TLS = _env_bool("REDIS_TLS", False)
PIPESHUB_REDIS_KV_PREFIX = os.environ.get("REDIS_KV_PREFIX") or "pipeshub:kv:"
PIPESHUB_REDIS_TIMEOUT = _env_float("REDIS_TIMEOUT", 10000, minimum=1) / 1000  # ms, as PipesHub
# PipesHub's Python reads ETCD_URL; its Node.js reads ETCD_HOST and ETCD_PORT.
PIPESHUB_ETCD_URL = os.environ.get("ETCD_URL") or (
    f"{os.environ.get('ETCD_HOST') or 'http://localhost'}:{os.environ.get('ETCD_PORT') or '2379'}"
)
if "://" not in PIPESHUB_ETCD_URL:
    PIPESHUB_ETCD_URL = f"http://{PIPESHUB_ETCD_URL}"
PIPESHUB_ETCD_USERNAME = os.environ.get("ETCD_USERNAME", "")
PIPESHUB_ETCD_PASSWORD = os.environ.get("ETCD_PASSWORD", "")
PIPESHUB_ETCD_TIMEOUT = _env_float("ETCD_TIMEOUT", 5000, minimum=1) / 1000  # ms, as PipesHub
# The Anthropic-compatible endpoint the admin's batch jobs talk to (the local simulator by default).
ANTHROPIC_BASE_URL = os.environ.get("ANTHROPIC_BASE_URL", "http://127.0.0.1:8089")
ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY", "sk-ant-simulator")
# The OpenAI and Azure OpenAI endpoints batch jobs for those providers talk to (the local
# simulator by default, which speaks both: OpenAI under /v1, Azure under /openai/...).
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8089/v1")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "sk-openai-simulator")
AZURE_OPENAI_ENDPOINT = os.environ.get("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:8089")
AZURE_OPENAI_API_KEY = os.environ.get("AZURE_OPENAI_API_KEY", "azure-simulator")
AZURE_OPENAI_API_VERSION = os.environ.get("AZURE_OPENAI_API_VERSION", "2024-10-21")
# Gemini Developer API (google-genai adds the /v1beta version itself).
GEMINI_BASE_URL = os.environ.get("GEMINI_BASE_URL", "http://127.0.0.1:8089")
GEMINI_API_KEY = os.environ.get("GEMINI_API_KEY", "gemini-simulator")
LLMOPT_BACKUP_DIR = Path(os.environ.get("LLMOPT_BACKUP_DIR", VAR_DIR / "backups"))

REDIS_URL = os.environ.get("REDIS_URL", "")
# Celery: Redis in production and tests; without REDIS_URL an embedded broker (kombu's filesystem
# transport under var/celery/) that the web process and a separate worker share, so `make run`
# needs no external service. The database is the source of truth for batch jobs; tasks are nudges.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_DIR = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DIR / "queue"),
        "data_folder_out": str(CELERY_DIR / "queue"),
        "control_folder": str(CELERY_DIR / "control"),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DIR / "beat-schedule")
# How often beat sweeps open batch jobs (each job still waits for its own poll backoff).
LLMOPT_BATCH_SWEEP_SECONDS = _env_float("LLMOPT_BATCH_SWEEP_SECONDS", 5, minimum=0.1)
LLMOPT_BATCH_POLL_INITIAL = _env_float("LLMOPT_BATCH_POLL_INITIAL", 1, minimum=0.1)
LLMOPT_BATCH_POLL_MAX = _env_float("LLMOPT_BATCH_POLL_MAX", 60, minimum=0.1)
# A worker's claim on a job; a killed worker's claim lapses after this many seconds.
LLMOPT_BATCH_LEASE_SECONDS = _env_float("LLMOPT_BATCH_LEASE_SECONDS", 120, minimum=1)
# Results stored per transaction while a batch's results stream in (5,000: a few MB, and about
# a quarter faster than 1,000 per chunk).
LLMOPT_BATCH_INGEST_CHUNK = _env_int("LLMOPT_BATCH_INGEST_CHUNK", 5000, minimum=1)
# How often every provider's SDK retries one call of the worker's. LLMOPT_ANTHROPIC_MAX_RETRIES,
# its name from when Anthropic was the only provider, is still read when the new one is unset.
LLMOPT_PROVIDER_MAX_RETRIES = _env_int(
    "LLMOPT_PROVIDER_MAX_RETRIES", _env_int("LLMOPT_ANTHROPIC_MAX_RETRIES", 4)
)
CELERY_BEAT_SCHEDULE = {
    "batches-sweep-open-jobs": {
        "task": "llmopt_admin.batches.tasks.sweep_open_jobs",
        "schedule": LLMOPT_BATCH_SWEEP_SECONDS,
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
