"""Django settings, every value read from the environment through `samembed.conf`.

The read path (`/e/`, `/s/`, `/api/`) does not use sessions, cookies or the SQL
database; the studio and the admin do. Content lives in MongoDB
(`samembed.mongo`), accounts in the SQL database named by DATABASE_URL.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from samembed.conf import env

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (make run generates one "
            "under var/ for development)."
        )
    SECRET_KEY = "insecure-development-only-key"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env("ALLOWED_HOSTS")

MONGODB_URI = env("MONGODB_URI")
MONGODB_READ_TIMEOUT_MS = env("MONGODB_READ_TIMEOUT_MS")
MONGODB_TIMEOUT_MS = env("MONGODB_TIMEOUT_MS")

EMBED_CACHE_TTL = env("EMBED_CACHE_TTL")
EMBED_CACHE_MAX_BYTES = env("EMBED_CACHE_MAX_BYTES")
EMBED_STALE_IF_ERROR = env("EMBED_STALE_IF_ERROR")
EMBED_SNAPSHOT_DIR = env("EMBED_SNAPSHOT_DIR")
EMBED_SNAPSHOT_MAX_BYTES = env("EMBED_SNAPSHOT_MAX_BYTES")
EMBED_REVALIDATE_WAIT = env("EMBED_REVALIDATE_WAIT")
LIVE_POLL_INTERVAL = env("LIVE_POLL_INTERVAL")
PUBLIC_ORIGIN = env("PUBLIC_ORIGIN")

MEDIA_SIGNING_KEY = env("MEDIA_SIGNING_KEY")
MEDIA_SIGNING_OLD_KEYS = env("MEDIA_SIGNING_OLD_KEYS")
SOURCE_SECRETS_KEY = env("SOURCE_SECRETS_KEY")
SOURCE_SECRETS_OLD_KEYS = env("SOURCE_SECRETS_OLD_KEYS")
MEDIA_CACHE_DIR = BASE_DIR / env("MEDIA_CACHE_DIR")
MEDIA_CACHE_MAX_BYTES = env("MEDIA_CACHE_MAX_BYTES")
OUTBOUND_RESOLVE = env("OUTBOUND_RESOLVE")
MEDIA_ACCEL_REDIRECT = env("MEDIA_ACCEL_REDIRECT")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # /sitemap.xml (samembed.embed.sitemap); its one template.
    "django.contrib.sitemaps",
    "samembed",
]

MIDDLEWARE = [
    # First, so its request id and timing cover everything below it.
    "samembed.observability.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees the views' own exceptions (process_exception runs bottom-up).
    "samembed.unavailable.UnavailableMiddleware",
]

ROOT_URLCONF = "samembed.urls"
# The public URLs decide about slashes themselves (a trailing slash is accepted,
# not redirected), so CommonMiddleware must not append or redirect.
APPEND_SLASH = False

JINJA_BYTECODE_DIR = BASE_DIR / env("JINJA_BYTECODE_DIR")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "samembed.jinja.environment",
            "auto_reload": DEBUG,
            "autoescape": True,
        },
    },
    {
        # The Django admin ships Django templates.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

ASGI_APPLICATION = "samembed.asgi.application"
WSGI_APPLICATION = "samembed.wsgi.application"


def database_config(url: str) -> dict[str, object]:
    """Django's DATABASES entry for DATABASE_URL: dj-database-url's parse, so query
    options (`?sslmode=verify-full&sslrootcert=...`) reach the driver; a relative
    SQLite path is relative to the checkout."""
    scheme = url.partition("://")[0]
    if scheme not in ("sqlite", "postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite:/// or postgres://")
    try:
        config = dict(dj_database_url.parse(url))
    except ValueError as e:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {e}") from e
    if scheme == "sqlite":
        name = Path(str(config["NAME"]))
        config["NAME"] = str(name if name.is_absolute() else BASE_DIR / name)
    else:
        config["PORT"] = str(config.get("PORT") or "")
    return config


DATABASES = {"default": database_config(env("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / env("STATIC_ROOT")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Hashed names are immutable for a year; unhashed ones (demo media) get a short max-age.
WHITENOISE_MAX_AGE = 600

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True

# Behind TLS (HTTPS=true, as deploy/ runs it): the proxy in front says which scheme
# the client used (uvicorn reads X-Forwarded-Proto from FORWARDED_ALLOW_IPS).
HTTPS = env("HTTPS")
SECURE_SSL_REDIRECT = HTTPS
# Probes and the scraper speak plain HTTP to the pod or the VM directly.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/db$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = False
# Preloading binds the whole registrable domain (and every subdomain) into browsers
# for months: a decision for the domain's owner, not a default of this service.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS

METRICS_DIR = env("METRICS_DIR")
METRICS_ALLOW_FROM = env("METRICS_ALLOW_FROM")
# Read by gunicorn itself (deploy/gunicorn.conf.py); declared here for the checks.
FORWARDED_ALLOW_IPS = env("FORWARDED_ALLOW_IPS")

ANALYTICS_FLUSH_INTERVAL = env("ANALYTICS_FLUSH_INTERVAL")
FLAGS_FLUSH_INTERVAL = env("FLAGS_FLUSH_INTERVAL")
ANALYTICS_RATE = env("ANALYTICS_RATE")
ANALYTICS_BURST = env("ANALYTICS_BURST")
ANALYTICS_RETENTION_DAYS = env("ANALYTICS_RETENTION_DAYS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "samembed.observability.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": env("LOG_FORMAT")}},
    "loggers": {
        "samembed": {"handlers": ["console"], "level": env("LOG_LEVEL"), "propagate": False},
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
