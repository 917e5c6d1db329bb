"""One settings module, driven by environment variables (documented in .env.example).

Embedded defaults need nothing installed: SQLite under var/ (WAL journal, IMMEDIATE transactions so
the queue engine takes the write lock up front), kombu's filesystem transport as the Celery broker,
local files for media. Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.queues import QUEUE_DEFAULT, QUEUE_GPU

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and (VAR_DIR / "secret_key").is_file():
    # The installation's own key, written by ./scripts/run beside the database, so that manage.py
    # commands run after it (the README's demos) need no environment set up by hand.
    SECRET_KEY = (VAR_DIR / "secret_key").read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from /static/, not a CDN
    "labeling",
    "evaluation",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
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

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: take SQLite's write lock when the transaction starts, the SQLite stand-in for
    # select_for_update (which SQLite ignores). WAL lets readers run beside the one writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# Web processes keep a connection for DB_CONN_MAX_AGE seconds; Celery workers and beat set it to 0
# when they start (config/celery.py), so a worker holds no connection between tasks.
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if IS_POSTGRES and env_bool("DB_PREPARED_STATEMENTS", True):
    # Server-side parameters, and a statement sent DB_PREPARE_THRESHOLD times on a connection is
    # prepared there: PostgreSQL stops parsing and planning the work queue's few hot statements on
    # every claim and submit (a third of its CPU per annotation; benchmarks/RESULTS_queue.md). Turn
    # it off (DB_PREPARED_STATEMENTS=0) behind a connection pooler that cannot keep prepared
    # statements, such as PgBouncer in transaction mode before 1.21 (docs/deploy.md).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=int(os.environ.get("DB_PREPARE_THRESHOLD", "5")))

AUTH_USER_MODEL = "labeling.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# -- Sign-in throttling and API tokens (issue 6) -------------------------------------------------
# Rules in labeling/services/signin.py and labeling/services/tokens.py; each documented in .env.example.
# Failed sign-ins count per user name and per client address. From SLOWDOWN_AFTER failures on, each
# attempt waits BASE_DELAY * 2**(failures - SLOWDOWN_AFTER) seconds; at LOCKOUT_AFTER every attempt is
# refused for LOCKOUT_SECONDS. A count is forgotten WINDOW seconds after its first failure, or after
# the last wait it imposed. An address gets more room than a user name because a whole office may
# sign in from behind one NAT address.
SIGNIN_WINDOW_SECONDS = int(os.environ.get("SIGNIN_WINDOW_SECONDS", "900"))
SIGNIN_USER_SLOWDOWN_AFTER = int(os.environ.get("SIGNIN_USER_SLOWDOWN_AFTER", "5"))
SIGNIN_USER_LOCKOUT_AFTER = int(os.environ.get("SIGNIN_USER_LOCKOUT_AFTER", "10"))
SIGNIN_IP_SLOWDOWN_AFTER = int(os.environ.get("SIGNIN_IP_SLOWDOWN_AFTER", "20"))
SIGNIN_IP_LOCKOUT_AFTER = int(os.environ.get("SIGNIN_IP_LOCKOUT_AFTER", "50"))
SIGNIN_BASE_DELAY_SECONDS = int(os.environ.get("SIGNIN_BASE_DELAY_SECONDS", "1"))
SIGNIN_LOCKOUT_SECONDS = int(os.environ.get("SIGNIN_LOCKOUT_SECONDS", "900"))
# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the default): the
# header is ignored and REMOTE_ADDR is the client, since anyone can write the header.
SIGNIN_TRUSTED_PROXY_COUNT = int(os.environ.get("SIGNIN_TRUSTED_PROXY_COUNT", "0"))
# API tokens stop working this long after they are issued (default 7 days).
API_TOKEN_TTL_SECONDS = int(os.environ.get("API_TOKEN_TTL_SECONDS", str(7 * 24 * 3600)))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without it
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"

# -- Private storage and media access (issue 6) -------------------------------------------------
# PRIVATE_ROOT holds what must never be served (each synthetic scene's ground truth, from which
# golden grades are computed). It must lie outside MEDIA_ROOT and STATIC_ROOT: system check
# labeling.E010 stops migrate/runserver otherwise, and labeling.storage refuses to write there.
PRIVATE_ROOT = Path(os.environ.get("PRIVATE_ROOT", VAR_DIR / "private"))
# How /media/ files reach the browser once the view has checked who may see them:
# "django" streams them from Django (the embedded default), "x-accel-redirect" hands them to nginx
# (an internal location at MEDIA_ACCEL_PREFIX, see .env.example), "x-sendfile" to Apache/lighttpd.
MEDIA_SERVE_MODES = ("django", "x-accel-redirect", "x-sendfile")
MEDIA_SERVE_MODE = os.environ.get("MEDIA_SERVE_MODE", "django").strip().lower()
if MEDIA_SERVE_MODE not in MEDIA_SERVE_MODES:
    raise ImproperlyConfigured(f"MEDIA_SERVE_MODE must be one of {', '.join(MEDIA_SERVE_MODES)}; "
                               f"got {MEDIA_SERVE_MODE!r}.")
MEDIA_ACCEL_PREFIX = "/" + os.environ.get("MEDIA_ACCEL_PREFIX", "/protected-media/").strip("/") + "/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labeling.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # ?page must be a whole number from 1 up: a malformed page is a 400, one past the end a 404.
    "DEFAULT_PAGINATION_CLASS": "labeling.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "labeling.api_errors.json_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shop-the-look labeling and relevance evaluation API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # One name per choice set in the schema (several models have a `status` or `kind`).
    "ENUM_NAME_OVERRIDES": {
        "ModelKindEnum": "evaluation.models.ModelKind.choices",
        "EvalRunStatusEnum": "evaluation.models.EvalRunStatus.choices",
        "BoxQueueJobStatusEnum": "evaluation.models.BoxQueueJobStatus.choices",
        # Pair imports and offline evaluations share one set: pending, running, done, failed.
        "JobStatusEnum": "labeling.models.PairImportStatus.choices",
        "UserRoleEnum": "labeling.models.Role.choices",
    },
}

# Celery: an embedded filesystem broker by default, so one machine needs no Redis.
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("in", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "in"),
        "data_folder_out": str(CELERY_BROKER_DIR / "in"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # kombu otherwise writes its broadcast exchange files into the working directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = QUEUE_DEFAULT
CELERY_TASK_ROUTES = {
    "evaluation.tasks.eval_run_generate_scenes": {"queue": QUEUE_GPU},
    "evaluation.tasks.box_queue_preannotate_scenes": {"queue": QUEUE_GPU},
    "evaluation.tasks.offline_evaluation_run": {"queue": QUEUE_GPU},
    "evaluation.tasks.training_job_run": {"queue": QUEUE_GPU},
    "evaluation.tasks.*": {"queue": QUEUE_DEFAULT},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Time limits of the evaluation tasks, in seconds (evaluation/PIPELINE.md, "Workers"). A chunk of 16
# scenes took 1.5-2.5 s on two busy CPU cores with the default models, and 14 s as a worker's first
# chunk, which also loads the models and embeds the catalogue into its index (2,000 products there;
# about a second per 1,000 products on CPU). The soft limit leaves room for a catalogue of a million
# products on a GPU; a chunk that passes it is abandoned (each scene is its own transaction) and
# retried; the hard limit kills the process running it a little later. Limits need the prefork
# pool (./scripts/run's); the solo pool ignores them.
EVAL_CHUNK_SOFT_TIME_LIMIT = int(os.environ.get("EVAL_CHUNK_SOFT_TIME_LIMIT", "1200"))
EVAL_CHUNK_TIME_LIMIT = int(os.environ.get("EVAL_CHUNK_TIME_LIMIT", str(EVAL_CHUNK_SOFT_TIME_LIMIT + 120)))
# Coordinators and the sweep only read and write a few rows and publish messages.
EVAL_COORDINATOR_SOFT_TIME_LIMIT = int(os.environ.get("EVAL_COORDINATOR_SOFT_TIME_LIMIT", "120"))
EVAL_COORDINATOR_TIME_LIMIT = int(os.environ.get("EVAL_COORDINATOR_TIME_LIMIT",
                                                 str(EVAL_COORDINATOR_SOFT_TIME_LIMIT + 60)))
# A training job (evaluation/TRAINING.md) runs its whole fine-tune in one task: about 0.25 s per
# embedder step and 1 s per detector step on two CPU cores, so the default limit leaves room for
# tens of thousands of steps; a job that passes it fails with the limit in its error text.
TRAINING_SOFT_TIME_LIMIT = int(os.environ.get("TRAINING_SOFT_TIME_LIMIT", str(6 * 3600)))
TRAINING_TIME_LIMIT = int(os.environ.get("TRAINING_TIME_LIMIT", str(TRAINING_SOFT_TIME_LIMIT + 300)))
# The stalled-generation sweep (evaluation/recovery.py): a run or box queue job still pending or
# generating whose last progress is older than this has no live chunk, since a running chunk writes
# a scene at least once per chunk time limit (and the sweep waits while messages still queue); the
# sweep re-sends its coordinator, and fails it once it has been resumed EVAL_MAX_RESUMES times and
# stalled again.
EVAL_STALE_AFTER_SECONDS = int(os.environ.get("EVAL_STALE_AFTER_SECONDS", str(EVAL_CHUNK_TIME_LIMIT + 300)))
EVAL_MAX_RESUMES = int(os.environ.get("EVAL_MAX_RESUMES", "3"))
EVAL_SWEEP_INTERVAL_SECONDS = float(os.environ.get("EVAL_SWEEP_INTERVAL_SECONDS", "300"))
CELERY_BEAT_SCHEDULE = {
    "evaluation-stalled-generations-resume": {
        "task": "evaluation.tasks.stalled_generations_resume",
        "schedule": EVAL_SWEEP_INTERVAL_SECONDS,
        # A sweep nobody ran in time is dropped: the next one does the same work.
        "options": {"expires": EVAL_SWEEP_INTERVAL_SECONDS},
    },
    # Exports whose worker was lost are sent again, and orphan .part files removed (labeling/exports/EXPORTS.md).
    "labeling-export-jobs-stalled-resume": {
        "task": "labeling.tasks.export_jobs_stalled_resume",
        "schedule": EVAL_SWEEP_INTERVAL_SECONDS,
        "options": {"expires": EVAL_SWEEP_INTERVAL_SECONDS},
    },
}
# Beat (`celery worker -B` in ./scripts/run, or `celery beat`) keeps its schedule state under var/.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Model runtime: where trained default checkpoints live (shipped in fixtures/).
MODELS_FIXTURES_DIR = BASE_DIR / "fixtures" / "models"

# -- Upload and input limits (issue 6: safe loading, validated uploads) -------------------------
# A model version upload larger than this is refused with 413 before its checkpoint is read. The
# largest supported architecture (ResNeXt-101-FPN) is about 420 MB in float32.
MODEL_UPLOAD_MAX_BYTES = int(os.environ.get("MODEL_UPLOAD_MAX_BYTES", str(600 * 1024 * 1024)))
# JSON request bodies (and JSON inside form fields) nested deeper than this are a 400
# (labeling/parsers.py); Python's decoder would otherwise recurse until it overflows.
API_JSON_MAX_DEPTH = int(os.environ.get("API_JSON_MAX_DEPTH", "64"))
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "labeling.parsers.BoundedJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]
# Images with more pixels than this (width x height) are refused before they are decoded: a
# decompression bomb claims huge dimensions in a tiny file. Also Pillow's own limit.
IMAGE_MAX_PIXELS = int(os.environ.get("IMAGE_MAX_PIXELS", str(40_000_000)))
# The largest image file a person may upload (the admin's image form).
IMAGE_UPLOAD_MAX_BYTES = int(os.environ.get("IMAGE_UPLOAD_MAX_BYTES", str(20 * 1024 * 1024)))
# Creator-pair imports read their images from folders under this one (<id>.jpg or <id>.png); an
# import names a folder inside it and is refused one anywhere else (labeling/imports/PAIRS.md).
PAIR_IMAGE_ROOT = Path(os.environ.get("PAIR_IMAGE_ROOT", VAR_DIR / "pair_images"))

# -- Security headers and production HTTPS (issue 6) ----------------------------------------------
# The defaults serve the embedded set-up on plain http://127.0.0.1:8000 (./scripts/run). Behind a
# TLS-terminating proxy, set the production values documented in .env.example: with them,
# `manage.py check --deploy` is clean (tests/security/test_security_headers.py checks it).
# Content-Security-Policy (config/middleware.py) on every response. No page has an inline script or
# <style> element; style="" attributes (progress bars, Swagger UI) are the one inline allowance.
CSP_POLICY = os.environ.get("CSP_POLICY", "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
]))
# Send the policy as Content-Security-Policy-Report-Only instead (to try a changed policy).
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)
# SecurityMiddleware's headers (these are Django's defaults, kept explicit and settable).
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("SECURE_CONTENT_TYPE_NOSNIFF", True)
SECURE_REFERRER_POLICY = os.environ.get("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = os.environ.get("SECURE_CROSS_ORIGIN_OPENER_POLICY", "same-origin")
X_FRAME_OPTIONS = "DENY"
# HTTPS: HSTS is sent only on secure requests; 0 sends none. Start low (3600) and raise it once
# HTTPS is known to work: browsers remember the header for this long.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# "HEADER,value": the proxy sets HEADER to value on requests that reached it over HTTPS, e.g.
# HTTP_X_FORWARDED_PROTO,https. Set it only behind a proxy that overwrites the header.
_proxy_ssl_header = [part.strip() for part in os.environ.get("SECURE_PROXY_SSL_HEADER", "").split(",") if part.strip()]
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https.")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SESSION_COOKIE_HTTPONLY = env_bool("SESSION_COOKIE_HTTPONLY", True)
SESSION_COOKIE_SAMESITE = os.environ.get("SESSION_COOKIE_SAMESITE", "Lax")
CSRF_COOKIE_SAMESITE = os.environ.get("CSRF_COOKIE_SAMESITE", "Lax")
# A CSRF refusal is JSON under /api/ and the site's own page elsewhere (Django's has inline CSS).
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
# Swagger UI from drf-spectacular-sidecar's static files; no validator badge (it calls a public host).
SPECTACULAR_SETTINGS.update({
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
})

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
