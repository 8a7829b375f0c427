"""Tierdesk settings.

Server settings come from the environment (12-factor, through django-environ);
business policy (plans, calendars, targets, rules) lives in the database and in
policy files, never here.
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("TIERDESK_VAR_DIR", default=str(BASE_DIR / "var")))

VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-only-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "tierdesk.accounts",
    "tierdesk.sla",
    "tierdesk.tickets",
    "tierdesk.automation",
    "tierdesk.notifications",
    "tierdesk.mail",
    "tierdesk.portal",
    "tierdesk.console",
    "tierdesk.reports",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc assets, served as our own static files
    "tierdesk.api",
]

# --- REST API (tierdesk.api, docs/API.md) ---------------------------------------
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=600)  # per token, per process
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tierdesk.api.auth.TokenAuthentication",
                                       "rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tierdesk.api.auth.ScopedAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["tierdesk.api.throttles.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "tierdesk.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "tierdesk.api.problems.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tierdesk API",
    "DESCRIPTION": "Tickets, their timeline and SLA, reference data and webhooks. "
                   "Errors are RFC 9457 problem details. See docs/API.md.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Sessions, CSRF, authentication and messages are Django's, let through untouched by an
# API request with a bearer token (accounts/middleware.py says why).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tierdesk.accounts.middleware.SessionMiddleware",
    "tierdesk.accounts.middleware.UserLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "tierdesk.accounts.middleware.CsrfViewMiddleware",
    "tierdesk.accounts.middleware.AuthenticationMiddleware",
    "tierdesk.accounts.middleware.UserTimezoneMiddleware",
    "tierdesk.accounts.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tierdesk.urls"
WSGI_APPLICATION = "tierdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "tierdesk" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# SQLite is the embedded default; PostgreSQL is the production database.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tierdesk.sqlite3'}"),
}
# Keep each web thread's connection between requests: opening one costs about 5 ms of CPU
# a request on SQLite (the schema read again, the functions registered, the PRAGMAs) and
# a round of authentication on PostgreSQL. Checked before reuse; 0 closes after each request.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue instead of failing mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file (so tests can start real worker processes on it), one per test run, so
    # that runs side by side never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    # Likewise one test database per run, so that runs side by side never share it.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Language and time ----------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "tierdesk" / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "tierdesk" / "static"]  # our CSS and JS (tierdesk is not an app)
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Attachments: per-file and per-ticket limits, and types we never accept.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
ATTACHMENT_MAX_TICKET_BYTES = env.int("ATTACHMENT_MAX_TICKET_BYTES", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Email ----------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="support@tierdesk.localhost")
# Inbound mail (docs/EMAIL.md): IMAP mailboxes the worker polls, e.g.
# imap://support%40desk.example:secret@mail.example:143/INBOX?starttls=1&after=move
MAIL_IMAP_URLS = env.list("MAIL_IMAP_URLS", default=[])
MAIL_MAX_BYTES = env.int("MAIL_MAX_BYTES", default=25 * 1024 * 1024)  # larger: held, not parsed
MAIL_NEW_TICKETS_PER_SENDER_HOUR = env.int("MAIL_NEW_TICKETS_PER_SENDER_HOUR", default=20)
MAIL_MESSAGES_PER_SENDER_HOUR = env.int("MAIL_MESSAGES_PER_SENDER_HOUR", default=60)
MAIL_OWN_ADDRESSES = env.list("MAIL_OWN_ADDRESSES", default=[])  # mail from these is ignored
MAIL_MESSAGE_ID_DOMAIN = env.str("MAIL_MESSAGE_ID_DOMAIN", default="")  # default: DEFAULT_FROM_EMAIL's

# --- Task queue -----------------------------------------------------------------
# SQLite queue in a file of its own by default; Redis when REDIS_URL is set.
# Only one consumer should run periodic tasks: `tierdesk worker --no-periodic`
# for the others.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "tierdesk",
        "url": REDIS_URL,
        "immediate": env.bool("HUEY_IMMEDIATE", default=False),
        "consumer": {"workers": env.int("WORKER_THREADS", default=2), "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "tierdesk",
        "filename": str(VAR_DIR / "queue.sqlite3"),
        "immediate": env.bool("HUEY_IMMEDIATE", default=False),
        "consumer": {"workers": env.int("WORKER_THREADS", default=2), "worker_type": "thread"},
    }

# --- Automation and notifications (docs/AUTOMATION.md) ----------------------------
SLA_WARNING_SHARE = env.float("SLA_WARNING_SHARE", default=0.75)  # warn at 75% of a target
CUSTOMER_ESCALATION_COOLDOWN_HOURS = env.float("CUSTOMER_ESCALATION_COOLDOWN_HOURS", default=24)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=12)  # then the message is "dead"

# What the subscribers of tickets.hooks do because of an action (routing, notices, webhooks,
# measures) runs after its commit on the worker, in batches; True runs it inside the action's
# transaction instead (the ordinary tests do, to see it right away).
TICKET_HOOKS_INLINE = env.bool("TICKET_HOOKS_INLINE", default=False)
# `tierdesk worker` hears that work on a thread of its own (tickets.hooks.Drainer), not
# behind mail delivery in the task queue; false: the queue's task hears it.
HOOKS_DRAINER = env.bool("HOOKS_DRAINER", default=True)
# Seconds the drainer lets work gather after a batch that was not full (tickets.hooks.GATHER).
HOOKS_GATHER = env.float("HOOKS_GATHER", default=1.0)
# `tierdesk worker` lowers the OS scheduling priority of the queue's threads (mail delivery,
# sweeps, reports) by this much (nice(2)): on shared cores the web's requests come first and
# they use what is left. Not the drainer's: it holds SQLite's write lock while it works, and
# a lock holder put behind the web makes the web wait (measured, session 9). 0: as is.
WORKER_NICE = env.int("WORKER_NICE", default=10)

# --- Ticket references ----------------------------------------------------------
TICKET_PREFIX = env.str("TICKET_PREFIX", default="TD")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
