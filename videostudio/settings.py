"""Settings for Video Studio, read from the environment.

Safe embedded defaults for a laptop (SQLite in WAL mode, django-q2's ORM broker, the
local Veo emulator); production hardening switches on with DEBUG=false. Every value is
validated here so that a typo fails at start-up with ImproperlyConfigured, not later.
"""

import base64
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name, default=""):
    """Return the variable stripped of surrounding white space, or the default."""
    value = os.environ.get(name)
    return default if value is None or not value.strip() else value.strip()


def env_bool(name, default):
    """Return a boolean variable; anything but a yes/no spelling is an error."""
    value = env_str(name).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def env_int(name, default, *, minimum=None, maximum=None):
    """Return an integer variable bounded by minimum and maximum."""
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, not {value}.")
    return value


def env_float(name, default, *, minimum=0.0):
    """Return a non-negative decimal variable."""
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name, default=()):
    """Return a comma-separated variable as a list of non-empty items."""
    raw = env_str(name)
    if not raw:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name, default, choices):
    """Return a variable that must be one of choices."""
    value = env_str(name, default).lower()
    if value not in choices:
        allowed = ", ".join(choices)
        raise ImproperlyConfigured(f"{name} must be one of {allowed}, not {value!r}.")
    return value


def env_secret(name, *, required):
    """Return a secret; refuse an empty one when it is required."""
    value = env_str(name)
    if required and not value:
        raise ImproperlyConfigured(f"{name} must be set.")
    return value


# --- Core -------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", True)

# The embedded run uses a fixed development key so that django-q2's signed task
# payloads survive restarts; a real deployment (DEBUG=false) must bring its own.
SECRET_KEY = env_secret("SECRET_KEY", required=not DEBUG) or (
    "django-insecure-videostudio-embedded-development-key-not-for-production"
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is false.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

DATA_DIR = Path(env_str("VIDEOSTUDIO_DATA_DIR", str(BASE_DIR / "user-data"))).expanduser()
DATA_DIR = DATA_DIR if DATA_DIR.is_absolute() else (Path.cwd() / DATA_DIR)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",  # its widget templates, for FORM_RENDERER's loader
    "django_htmx",
    # The JSON API (videostudio.api); listed for its vendored Swagger UI files, so the
    # docs page loads nothing from a CDN.
    "ninja",
    # Before django_q, so that jobs' `qcluster` command (with its watchdog) wins.
    "jobs",
    "drafts",
    "django_q",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a body: job creation may send frames, nothing else may.
    "videostudio.bodies.BodySizeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "videostudio.urls"
WSGI_APPLICATION = "videostudio.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

# Fields render through templates/forms/field.html, so that the help and error ids the
# widgets' aria-describedby names exist on the page.
FORM_RENDERER = "videostudio.forms.FormRenderer"

# --- Database ---------------------------------------------------------------------------

# IMMEDIATE transactions wait for the write lock instead of failing at once with
# "database is locked" when a read is upgraded to a write; WAL lets the web and the
# worker read while one writes. No mmap: the WAL-reset bug in SQLite < 3.51.3.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
    ),
}

# Each process keeps its connection between requests (seconds; 0 closes it after each).
# Opening one is a PostgreSQL handshake, or a new SQLite connection and its PRAGMAs: a
# quarter of a poll's time in bench/poll.py. A connection holds no lock between requests.
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60, minimum=0)

_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        _default_db = dj_database_url.parse(
            _database_url, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    if _default_db["ENGINE"] == "django.db.backends.sqlite3":
        _default_db["OPTIONS"] = {**SQLITE_OPTIONS, **_default_db.get("OPTIONS", {})}
else:
    _default_db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "videostudio.sqlite3",
        "OPTIONS": SQLITE_OPTIONS,
        "CONN_MAX_AGE": DB_CONN_MAX_AGE,
    }
DATABASES = {"default": _default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Caches -----------------------------------------------------------------------------

# "fragments" holds rendered rows of the long lists (finished job cards, draft rows), keyed
# by their row's updated_at, so an entry is never stale. Each process keeps its own: a
# shared cache would cost a network round trip per row, about what rendering one costs.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments",
        "OPTIONS": {"MAX_ENTRIES": 5000},  # then the least recently used third goes
    },
}

REDIS_URL = env_str("REDIS_URL")
# With Redis, sessions are read from it and written through to the database
# (videostudio/sessions.py): a poll then reads no session row. Without it, database
# sessions, as Django's default.
if REDIS_URL:
    CACHES["sessions"] = {
        "BACKEND": "videostudio.cache.RedisCache",  # Django's, reusing its Redis clients
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "videostudio",
        # A Redis that does not answer must not hold a request: the session falls back
        # to the database.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    SESSION_ENGINE = "videostudio.sessions"
    SESSION_CACHE_ALIAS = "sessions"

# --- Background work --------------------------------------------------------------------

Q_WORKERS = env_int("Q_WORKERS", 2, minimum=1, maximum=64)

# A pipeline task runs one step (a submit, a poll, or a download and the finish) and
# never sleeps; `timeout` bounds that, and `retry` is longer so a healthy task is never
# handed to a second worker while the first still runs.
Q_TASK_TIMEOUT = env_int("Q_TASK_TIMEOUT", 300, minimum=30)
# Restart the cluster if tasks wait but none has started for this long: longer than any
# task may run, so only wedged workers (see jobs/watchdog.py) trip it.
Q_WATCHDOG_SECONDS = env_int("Q_WATCHDOG_SECONDS", Q_TASK_TIMEOUT + 60, minimum=5)
# /readyz counts a cluster alive if its ticker touched its heartbeat row this recently (it
# does every 10 s).
READY_HEARTBEAT_SECONDS = env_int("READY_HEARTBEAT_SECONDS", 60, minimum=15)
# The bearer token Prometheus sends for /metrics (jobs/health/metrics.py); empty switches
# /metrics off (404).
METRICS_TOKEN = env_secret("METRICS_TOKEN", required=False)
Q_CLUSTER = {
    "name": "videostudio",
    "workers": Q_WORKERS,
    "timeout": Q_TASK_TIMEOUT,
    "retry": Q_TASK_TIMEOUT + 60,
    "max_attempts": 3,
    "ack_failures": True,
    "queue_limit": Q_WORKERS,
    "bulk": 1,
    "catch_up": False,
    "save_limit": 200,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Veo --------------------------------------------------------------------------------

# The local emulator until credentials are configured: a Gemini API key alone means the
# Gemini API, a Vertex project alone Vertex AI; VEO_PROVIDER says so when it is otherwise.
VEO_PROVIDER = env_choice(
    "VEO_PROVIDER",
    "gemini"
    if env_str("GEMINI_API_KEY")
    else "vertex"
    if env_str("VERTEX_PROJECT")
    else "emulator",
    ("emulator", "gemini", "vertex"),
)
VEO_EMULATOR_PORT = env_int("VEO_EMULATOR_PORT", 8765, minimum=1, maximum=65535)
VEO_EMULATOR_LATENCY = env_float("VEO_EMULATOR_LATENCY", 4.0)
_emulator_url = f"http://127.0.0.1:{VEO_EMULATOR_PORT}"
if VEO_PROVIDER == "emulator":
    # The emulator speaks the Gemini API's wire format, so the real Gemini client
    # talks to it; only the address and the key differ.
    VEO_API_BASE_URL = env_str("VEO_API_BASE_URL", _emulator_url)
    GEMINI_API_KEY = env_str("GEMINI_API_KEY", "emulator-key")
else:
    VEO_API_BASE_URL = env_str("VEO_API_BASE_URL", "https://generativelanguage.googleapis.com")
    GEMINI_API_KEY = env_secret("GEMINI_API_KEY", required=VEO_PROVIDER == "gemini")
if not VEO_API_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        f"VEO_API_BASE_URL must be an http(s) URL, not {VEO_API_BASE_URL!r}."
    )
VEO_API_BASE_URL = VEO_API_BASE_URL.rstrip("/")
# The Interactions API's version on the Gemini API: v1 as google-genai sends it;
# Google's REST samples use v1beta.
GEMINI_API_VERSION = env_choice("GEMINI_API_VERSION", "v1", ("v1", "v1beta"))

# Vertex AI: OAuth tokens from GOOGLE_APPLICATION_CREDENTIALS (a service-account JSON
# file) or application default credentials; VERTEX_API_BASE_URL and
# VERTEX_STORAGE_BASE_URL point elsewhere only for an emulator.
VERTEX_PROJECT = env_str("VERTEX_PROJECT")
VERTEX_LOCATION = env_str("VERTEX_LOCATION", "us-central1")
VERTEX_API_BASE_URL = env_str("VERTEX_API_BASE_URL")
VERTEX_STORAGE_BASE_URL = env_str("VERTEX_STORAGE_BASE_URL", "https://storage.googleapis.com")
VERTEX_STORAGE_URI = env_str("VERTEX_STORAGE_URI")
GOOGLE_APPLICATION_CREDENTIALS = env_str("GOOGLE_APPLICATION_CREDENTIALS")
if VEO_PROVIDER == "vertex" and not VERTEX_PROJECT:
    raise ImproperlyConfigured("VERTEX_PROJECT must be set when VEO_PROVIDER is vertex.")
if VERTEX_STORAGE_URI and not VERTEX_STORAGE_URI.startswith("gs://"):
    raise ImproperlyConfigured(
        f"VERTEX_STORAGE_URI must start with gs://, not {VERTEX_STORAGE_URI!r}."
    )

# The model preselected for new jobs: Gemini Omni on the Gemini API (the emulator speaks
# it too), Veo 3.1 Fast on Vertex. One the catalog does not know, or a retired one,
# stops start-up (jobs.checks.check_model_setting) instead of running jobs on another.
VEO_MODEL = env_str(
    "VEO_MODEL",
    "veo-3.1-fast-generate-001" if VEO_PROVIDER == "vertex" else "gemini-omni-1.2-flash",
)
# A JSON file in the shape of jobs/catalog.json whose models replace or extend the
# built-in ones (a model set to null is removed), so new and retired models and new
# prices need no code change.
VEO_CATALOG_FILE = env_str("VEO_CATALOG_FILE")
# The model that transcribes a finished video's audio track; empty turns transcripts off.
TRANSCRIBE_MODEL = env_str("TRANSCRIBE_MODEL", "gemini-3.5-transcribe")
# The most jobs one batch run of a draft may start (prompts x rows of values).
BATCH_MAX_JOBS = env_int("BATCH_MAX_JOBS", 200, minimum=1)
VEO_IMAGE_MAX_BYTES = env_int("VEO_IMAGE_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
# Hosts (host or host:port) a video may be downloaded from besides the API's own,
# including loopback or private addresses that are otherwise refused.
VEO_DOWNLOAD_HOSTS = env_list("VEO_DOWNLOAD_HOSTS")
VEO_DOWNLOAD_MAX_BYTES = env_int("VEO_DOWNLOAD_MAX_BYTES", 2 * 1024**3, minimum=1024)
VEO_HTTP_TIMEOUT = env_float("VEO_HTTP_TIMEOUT", 30.0, minimum=1.0)
VEO_POLL_INTERVAL = env_float("VEO_POLL_INTERVAL", 5.0, minimum=0.0)
# Polls back off from VEO_POLL_INTERVAL by half again each time, up to this.
VEO_POLL_INTERVAL_MAX = env_float("VEO_POLL_INTERVAL_MAX", 30.0, minimum=0.0)
# Jobs in flight at the provider at once; the rest wait, queued, in order.
VEO_MAX_IN_FLIGHT = env_int("VEO_MAX_IN_FLIGHT", 10, minimum=1)
# First wait before retrying a rate-limited submit, a failed poll or a download;
# doubled on each further attempt, with jitter, unless Google names the wait.
VEO_RETRY_BASE_SECONDS = env_float("VEO_RETRY_BASE_SECONDS", 1.0, minimum=0.0)
# The longest a run's step goes between lease renewals (a submit, a download); a run
# never waits for a poll: the due time is on the row, and the ticker (every
# VEO_TICK_SECONDS, in the qcluster process) enqueues the next step.
VEO_TASK_SLICE_SECONDS = env_float("VEO_TASK_SLICE_SECONDS", 60.0, minimum=1.0)
VEO_TICK_SECONDS = env_float("VEO_TICK_SECONDS", 0.5, minimum=0.05)
VEO_JOB_DEADLINE_MINUTES = env_int("VEO_JOB_DEADLINE_MINUTES", 30, minimum=1)
# A run's lease lasts a slice plus two HTTP timeouts plus this margin; after that, a
# silent run is presumed dead and another may take the job.
VEO_LEASE_GRACE_SECONDS = env_float("VEO_LEASE_GRACE_SECONDS", 30.0, minimum=0.0)
# Characters, not tokens: Veo takes up to 1,024 tokens, and ~4 characters a token
# for English keeps a 4,000-character prompt safely inside the limit.
VEO_PROMPT_MAX_CHARS = env_int("VEO_PROMPT_MAX_CHARS", 4000, minimum=1)

# --- Retention ----------------------------------------------------------------------------

# Days after which the recovery sweep deletes a finished job and its files; 0 keeps them
# forever. What is never deleted (running jobs, a chain's sources, ...) is one predicate,
# jobs.retention.protected. Failed jobs include cancelled ones; completed takes go only
# when RETENTION_UNREVIEWED_DAYS is set.
RETENTION_FAILED_DAYS = env_int("RETENTION_FAILED_DAYS", 30, minimum=0)
RETENTION_UNREVIEWED_DAYS = env_int("RETENTION_UNREVIEWED_DAYS", 0, minimum=0)

# --- Files, auth, i18n ------------------------------------------------------------------

MEDIA_ROOT = DATA_DIR
# Where videos and their resources live (jobs/storage.py): "local", the data dir, written
# by atomic renames; or "s3", an S3-compatible bucket (AWS, R2, MinIO, GCS's S3
# interface), for web and worker processes on hosts that share no disk. Credentials come
# from boto3's usual chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the
# instance's role. The data dir then holds only the database (SQLite) and this
# process's scratch files.
MEDIA_STORAGE = env_choice("MEDIA_STORAGE", "local", ("local", "s3"))
S3_BUCKET = env_str("S3_BUCKET")
# A folder in the bucket for this studio's keys (several studios may share a bucket).
S3_PREFIX = env_str("S3_PREFIX").strip("/")
# Empty for AWS; R2, MinIO and GCS (https://storage.googleapis.com) need theirs.
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
S3_REGION = env_str("S3_REGION")
# "path" for MinIO and most self-hosted servers; "virtual" or empty (boto3 decides).
S3_ADDRESSING_STYLE = env_choice("S3_ADDRESSING_STYLE", "", ("", "path", "virtual"))
# A video is served by a redirect to a presigned URL that lives this long...
S3_URL_SECONDS = env_int("S3_URL_SECONDS", 300, minimum=10, maximum=7 * 24 * 3600)
# ...or, for a bucket browsers cannot reach, streamed through the studio with Range.
S3_PROXY = env_bool("S3_PROXY", False)
if MEDIA_STORAGE == "s3" and not S3_BUCKET:
    raise ImproperlyConfigured("S3_BUCKET must be set when MEDIA_STORAGE is s3.")


def _bucket_origin():
    """Return the origin presigned URLs point at, which the pages' CSP must allow."""
    if S3_ENDPOINT_URL:
        parts = urlsplit(S3_ENDPOINT_URL)
        if S3_ADDRESSING_STYLE == "virtual":
            return f"{parts.scheme}://{S3_BUCKET}.{parts.netloc}"
        return f"{parts.scheme}://{parts.netloc}"
    region = f".{S3_REGION}" if S3_REGION else ""
    if S3_ADDRESSING_STYLE == "path":
        return f"https://s3{region}.amazonaws.com"
    return f"https://{S3_BUCKET}.s3{region}.amazonaws.com"


# Browsers fetch videos and posters from the bucket itself unless the studio proxies them.
MEDIA_ORIGINS = (
    [env_str("S3_MEDIA_ORIGIN") or _bucket_origin()]
    if MEDIA_STORAGE == "s3" and not S3_PROXY
    else []
)
STORAGES = {
    "default": {
        "BACKEND": (
            "jobs.storage.BucketStorage" if MEDIA_STORAGE == "s3" else "jobs.storage.VideoStorage"
        )
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
STATIC_URL = "static/"
# The embedded run serves static files straight from static/ (WhiteNoise's finders);
# a deployment collects them into STATIC_ROOT, compressed and hashed.
STATIC_ROOT = None if DEBUG else BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

AUTHENTICATION_BACKENDS = [
    # Throttles logins before the password is checked (django-axes).
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend that a polled partial can hand the user row it read with the job.
    "videostudio.auth.StudioBackend",
]
# Failed logins are counted per username *and* address, so one office address cannot
# lock out a whole team and one guessed username cannot be hammered from anywhere.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A lockout lasts the cool-off from the failure that caused it: failures while locked
# out are not counted, or an attacker could keep a pair locked for ever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# The client's address, for django-axes (videostudio.auth.client_address). X-Forwarded-For
# is believed only on a request whose peer (REMOTE_ADDR) is a trusted proxy: by default
# the loopback addresses, where the documented nginx reaches gunicorn (bound to
# 127.0.0.1). Each of the TRUSTED_PROXY_COUNT proxies appends the address it was reached
# from, so the client is that many entries from the right; anything further left is
# whatever the client wrote. 0 believes no header.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1, minimum=0)
TRUSTED_PROXY_ADDRESSES = env_list("TRUSTED_PROXY_ADDRESSES", ["127.0.0.1", "::1"])
AXES_CLIENT_IP_CALLABLE = "videostudio.auth.client_address"
# Failures for one username from every address together: past this many within the
# cool-off, each login as that user waits LOGIN_SLOWDOWN_SECONDS first. A delay, not a
# lockout, so no attacker can keep the owner out (videostudio/auth.py).
LOGIN_USERNAME_SLOWDOWN_AFTER = env_int("LOGIN_USERNAME_SLOWDOWN_AFTER", 20, minimum=1)
LOGIN_SLOWDOWN_SECONDS = env_float("LOGIN_SLOWDOWN_SECONDS", 2.0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:index"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Validates nothing: revokes the person's API tokens once a new password is saved.
    {"NAME": "jobs.api.tokens.RevokeApiTokensOnPasswordChange"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Content-Security-Policy (Django 6's own): nothing inline, nothing from elsewhere.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *MEDIA_ORIGINS],
    "media-src": [CSP.SELF, *MEDIA_ORIGINS],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Media can be handed to a front proxy after the permission check: "nginx" answers with
# X-Accel-Redirect to MEDIA_ACCEL_PREFIX + path (an `internal;` location aliased to the
# data dir), "sendfile" with X-Sendfile (Apache mod_xsendfile); empty: Django streams it.
MEDIA_OFFLOAD = env_choice("MEDIA_OFFLOAD", "", ("", "nginx", "sendfile"))
MEDIA_ACCEL_PREFIX = env_str("MEDIA_ACCEL_PREFIX", "/protected-media/")

# The seed's index names are the contract; idx_video_creation_jobs_created_at is longer
# than the 30 characters Django keeps for Oracle, which this project does not support.
SILENCED_SYSTEM_CHECKS = ["models.E034"]

if not DEBUG:
    # Production: HTTPS everywhere (a TLS-terminating proxy sets X-Forwarded-Proto).
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            "SECRET_KEY must be at least 50 random characters when DEBUG is false; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    # Subdomain-wide and preload HSTS commit the whole parent domain, which is its
    # owner's call, not the studio's: opt in with the two settings above.
    SILENCED_SYSTEM_CHECKS += [
        *(["security.W005"] if not SECURE_HSTS_INCLUDE_SUBDOMAINS else []),
        *(["security.W021"] if not SECURE_HSTS_PRELOAD else []),
    ]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Mail for "email me when the batch finishes": SMTP (EMAIL_HOST, or a local mail
# server on localhost:25 in production); the embedded run prints messages instead.
_email_host = env_str("EMAIL_HOST", "" if DEBUG else "localhost")
MAILERS = {
    "default": (
        {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": env_int(
                    "EMAIL_PORT",
                    25 if _email_host == "localhost" else 587,
                    minimum=1,
                    maximum=65535,
                ),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_secret("EMAIL_HOST_PASSWORD", required=False),
                "use_tls": env_bool("EMAIL_USE_TLS", _email_host != "localhost"),
                "timeout": 20,
            },
        }
        if _email_host
        else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    )
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Video Studio <studio@localhost>")
# Where emails link to (a batch's page): the address people open the studio at.
STUDIO_URL = env_str(
    "STUDIO_URL",
    f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1, maximum=65535)}"
    if DEBUG
    else f"https://{ALLOWED_HOSTS[0].lstrip('.')}",
).rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django_q": {"level": "WARNING"}},
}

# --- JSON API ---------------------------------------------------------------------------

# Jobs one person may create per window, through the form, a draft's run, a retry or the
# API alike (the name is older than that). A request counts for every job it would
# create, so the default fits one batch of BATCH_MAX_JOBS; the API answers 429 past it.
API_JOB_CREATE_LIMIT = env_int("API_JOB_CREATE_LIMIT", 200, minimum=1)
API_JOB_CREATE_WINDOW_SECONDS = env_int("API_JOB_CREATE_WINDOW_SECONDS", 3600, minimum=1)
# A repeat of a create request with the same Idempotency-Key within this many hours gets
# the first answer again; after that the key is forgotten and may be reused.
API_IDEMPOTENCY_KEY_HOURS = env_int("API_IDEMPOTENCY_KEY_HOURS", 24, minimum=1)
# The largest JSON body the API reads to create a job: room for a first and a last
# frame, base64-encoded. Only job creation gets this allowance.
API_MAX_BODY_BYTES = env_int(
    "API_MAX_BODY_BYTES", 2 * (VEO_IMAGE_MAX_BYTES * 4 // 3 + 4) + 1024 * 1024, minimum=1024
)
# Every other body, files included (videostudio.bodies refuses it by its length):
# drafts, runs, imports, the admin; Django's own limit covers a body with no length.
MAX_BODY_BYTES = env_int("MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# --- Outgoing webhooks --------------------------------------------------------------------

# (connect, read) seconds for one delivery; a receiver should answer quickly and work later.
WEBHOOK_TIMEOUT = (
    env_float("WEBHOOK_CONNECT_TIMEOUT", 5.0, minimum=0.1),
    env_float("WEBHOOK_READ_TIMEOUT", 10.0, minimum=0.1),
)
# A failed delivery is tried again after 30 s, 1 min, 2 min, … (doubling, at most 6 h
# apart) until this many hours after the event, then given up.
WEBHOOK_RETRY_HOURS = env_int("WEBHOOK_RETRY_HOURS", 24, minimum=1)
WEBHOOK_BACKOFF_BASE_SECONDS = env_int("WEBHOOK_BACKOFF_BASE_SECONDS", 30, minimum=1)
WEBHOOK_BACKOFF_MAX_SECONDS = env_int("WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600, minimum=1)

# --- Incoming webhooks --------------------------------------------------------------------

# The signing secret (whsec_…) Google showed once when the studio's static webhook was
# registered (README, "Told instead of polling"). Empty switches /hooks/gemini/ off
# (404): jobs then finish by polling alone, as they also do whenever a webhook is lost.
GEMINI_WEBHOOK_SECRET = env_secret("GEMINI_WEBHOOK_SECRET", required=False)
if GEMINI_WEBHOOK_SECRET:
    try:
        _key = GEMINI_WEBHOOK_SECRET.removeprefix("whsec_")
        if not base64.b64decode(_key + "=" * (-len(_key) % 4), validate=True):
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            "GEMINI_WEBHOOK_SECRET must be the whsec_… signing secret Google returned "
            "(whsec_ and base64), as it was shown."
        ) from None
