"""The one settings module, driven by the environment (django-environ).

With nothing set it runs on an SQLite file in the project and executes Celery tasks in-process, so a
newcomer's first command works anywhere. DATABASE_URL and REDIS_URL switch it to PostgreSQL, Redis
and separate Celery workers. APP_ENV=production refuses to start without a real SECRET_KEY or with
DEBUG on.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

APP_ENV = env.str("APP_ENV", default="development")
PRODUCTION = APP_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY", default="")
# The development key below is public (it is in the repository): production never runs with it.
DEVELOPMENT_SECRET_KEY = "dev-insecure-key-never-used-in-production-0123456789"
if PRODUCTION:
    if not SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY must be set (at least 32 characters) when APP_ENV=production")
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or "insecure" in SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the development key shipped in the code; set a secret one when APP_ENV=production"
        )
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when APP_ENV=production")
elif not SECRET_KEY:
    # Development only: a fixed key so sessions survive restarts of runserver.
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens that expire and can be revoked (priorauth/api_tokens.py); DRF's own never expired.
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "policies",
    "coverage",
    "priorauth",
    "priorauth.fhir.apps.PasConfig",  # Da Vinci PAS and CDS Hooks (issue 14)
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",
    # Static files (admin, API docs, pages' CSS/JS) served by the app itself under gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the view answers: token use and refused access to PHI objects, to the audit trail.
    "priorauth.access_audit.AccessAuditMiddleware",
    # "Today" and every date shown are the signed-in member's practice's (Practice.time_zone).
    "priorauth.practice_time.PracticeTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A page whose database connection is lost answers a plain 503, not the generic 500.
    "config.exceptions.DatabaseUnavailableMiddleware",
    # A download whose stored file is missing answers 410 saying so, not a 500.
    "config.exceptions.StoredFileMissingMiddleware",
    "priorauth.pages.signin.IdleLogoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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
                "priorauth.pages.views.page_context",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if PRODUCTION else 0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (runserver, the in-process tasks, a management command) share the file.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))
# Outside production WhiteNoise serves straight from the apps' static folders (no collectstatic).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)

STORAGES = {
    "default": {"BACKEND": env.str("FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    # Django's Redis cache, with one client per pool rather than one per operation (config/cache.py).
    CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions: read from Redis when there is one (every signed-in page loads its session), written
# through to the database (a Redis restart signs nobody out). Each session is its own key; a
# sign-out deletes it from both.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

# Celery: a real broker and separate workers when REDIS_URL is set; otherwise tasks run in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Redis may go away (restart, failover): workers keep reconnecting for as long as it takes; a
# connection that hangs instead of closing times out; sending a task gives up within about a second
# (the caller keeps what it owes in the database: see priorauth.letters.services.letter_jobs_resend).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A render needs only PostgreSQL and the file storage: one in progress when Redis goes away finishes.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "priorauth.api_tokens.AuditedTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    # Every API call is throttled per signed-in user (per client address before signing in).
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.UserThrottle", "config.throttling.AnonThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "coverage_check": env.str("THROTTLE_COVERAGE_CHECK", default="120/minute"),
        "user": env.str("THROTTLE_USER", default="600/minute"),
        "anon": env.str("THROTTLE_ANON", default="60/minute"),
    },
    # DRF's own client address for throttles, set to follow TRUST_X_FORWARDED_FOR (below): 0 is
    # REMOTE_ADDR, 1 the address your proxy appended last. config.throttling uses the audit trail's.
    "NUM_PROXIES": 1 if env.bool("TRUST_X_FORWARDED_FOR", default=False) else 0,
}

# Every API body is read by config.parsers.BoundedJSONParser (DRF's own JSON parser ignores
# DATA_UPLOAD_MAX_MEMORY_SIZE): at most API_MAX_BODY_BYTES, a JSON 413 naming the limit beyond it.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "config.parsers.BoundedJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]

SPECTACULAR_SETTINGS = {
    "TITLE": "mild® prior-authorization API",
    "DESCRIPTION": "Coverage checks of mild® (CPT 0275T) cases against payer policies, and prior-authorization requests.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Production: the schema and the docs for signed-in users only (config.security.SchemaAccess).
    "SERVE_PERMISSIONS": ["config.security.SchemaAccess"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from the project's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that several components share get one name.
    "ENUM_NAME_OVERRIDES": {
        "CaseSexEnum": ["F", "M", "X", "U"],
        "PatientSexEnum": "priorauth.models.Patient.Sex",
        "CheckerDecisionEnum": ["meets_criteria", "incomplete", "not_met"],
        "RequestDecisionEnum": "priorauth.models.Decision",
        "RequestStatusEnum": "priorauth.models.Status",
        "PayerDecisionEnum": "priorauth.models.PayerDecision.Kind",
        "AttachmentKindEnum": "priorauth.models.Attachment.Kind",
        "LetterKindEnum": "priorauth.models.LetterKind",
    },
}

# Sign-in (the pages' form; the admin keeps its own), idle log-off, throttled failed logins (django-axes).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "pages:home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username/address before any password is checked.
    "priorauth.pages.signin.ThrottledLoginBackend",
    # Django's ModelBackend, loading a session's user with their membership (one query, not two).
    "priorauth.pages.signin.PasswordBackend",
]
# Signed out after this many seconds without a request (HIPAA automatic logoff), and in any case
# SESSION_COOKIE_AGE after signing in or when the browser closes.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=10 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# API tokens end the same way (django-rest-knox): idle time-out renewed on use, absolute limit.
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=SESSION_IDLE_TIMEOUT),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(seconds=SESSION_COOKIE_AGE),
    "MIN_REFRESH_INTERVAL": 60,
}
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# A practice shares one address behind its router: lock the username at that address, not the office.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind the TLS proxy every request comes from the proxy's address. TRUST_X_FORWARDED_FOR=true (only
# when a proxy you run appends the client's address to X-Forwarded-For) makes the audit trail and the
# sign-in throttle see the client's own address: the one the proxy appended last.
AUDIT_TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
AXES_CLIENT_IP_CALLABLE = "priorauth.services.client_address_for_throttle"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the pages' own scripts read the CSRF token for fetch/htmx posts
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default="default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Letters (priorauth/letters/pdf.py): WeasyPrint's own PDF variant, pdf/ua-1 (tagged, for screen readers)
# or pdf/a-3u (archival). The render delay is for tests only: it holds a render open so that a test
# can kill the worker in the middle of one.
LETTER_PDF_VARIANT = env.str("LETTER_PDF_VARIANT", default="pdf/ua-1")
LETTER_RENDER_DELAY_SECONDS = env.float("LETTER_RENDER_DELAY_SECONDS", default=0.0)
if PRODUCTION and LETTER_RENDER_DELAY_SECONDS:
    raise ImproperlyConfigured("LETTER_RENDER_DELAY_SECONDS is for tests only")

# Bounds on a letter's editable parts (a 400 names the part beyond one): paragraphs, sentences and
# items per paragraph, characters of each, enclosures, and the narrative's characters in total.
LETTER_MAX_PARAGRAPHS = env.int("LETTER_MAX_PARAGRAPHS", default=30)
LETTER_MAX_SENTENCES = env.int("LETTER_MAX_SENTENCES", default=30)
LETTER_MAX_SENTENCE_CHARS = env.int("LETTER_MAX_SENTENCE_CHARS", default=2000)
LETTER_MAX_ITEMS = env.int("LETTER_MAX_ITEMS", default=30)
LETTER_MAX_ITEM_CHARS = env.int("LETTER_MAX_ITEM_CHARS", default=500)
LETTER_MAX_ENCLOSURES = env.int("LETTER_MAX_ENCLOSURES", default=30)
LETTER_MAX_ENCLOSURE_CHARS = env.int("LETTER_MAX_ENCLOSURE_CHARS", default=200)
LETTER_MAX_TEXT_CHARS = env.int("LETTER_MAX_TEXT_CHARS", default=40_000)
# Celery time limits of a render: past the soft one the render stops and its job is marked failed
# with the reason (the physician sees it on the letter); the hard one kills a render stuck in C code.
LETTER_RENDER_SOFT_TIME_LIMIT = env.int("LETTER_RENDER_SOFT_TIME_LIMIT", default=120)
LETTER_RENDER_TIME_LIMIT = env.int("LETTER_RENDER_TIME_LIMIT", default=150)
if not 0 < LETTER_RENDER_SOFT_TIME_LIMIT <= LETTER_RENDER_TIME_LIMIT:
    raise ImproperlyConfigured("LETTER_RENDER_SOFT_TIME_LIMIT must be positive and at most LETTER_RENDER_TIME_LIMIT")

# Redis keeps nothing across a restart, so the LetterJob rows are the record of the renders owed: beat
# sends again, every LETTER_RESEND_INTERVAL_SECONDS, those queued (or started by a worker that died)
# more than LETTER_RESEND_AFTER_SECONDS ago. Where there is no beat, cron runs
# `manage.py resend_letter_jobs` instead.
LETTER_RESEND_AFTER_SECONDS = env.float("LETTER_RESEND_AFTER_SECONDS", default=300)
LETTER_RESEND_INTERVAL_SECONDS = env.float("LETTER_RESEND_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "resend-letter-jobs": {
        "task": "priorauth.resend_letter_jobs",
        "schedule": LETTER_RESEND_INTERVAL_SECONDS,
        # A sweep that waited longer than the next one's turn is of no use.
        "options": {"expires": LETTER_RESEND_INTERVAL_SECONDS},
    },
    # The same for the re-check a published policy version owes its payer's open requests.
    "resend-rechecks": {
        "task": "priorauth.resend_rechecks",
        "schedule": LETTER_RESEND_INTERVAL_SECONDS,
        "options": {"expires": LETTER_RESEND_INTERVAL_SECONDS},
    },
}

# Reminders (priorauth/notifications.py, issue 13). E-mail: the console in development, SMTP from
# EMAIL_URL (django-environ's email_url, e.g. smtp+tls://user:password@mail.example.com:587) in
# production. The digest goes out daily at DIGEST_HOUR (the practice's time zone); its e-mail body
# is a count and a link ("count"), or with the requests' reference numbers ("references"), never PHI.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="prior-auth@localhost")
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
DIGEST_EMAIL_DETAIL = env.str("DIGEST_EMAIL_DETAIL", default="count")
if DIGEST_EMAIL_DETAIL not in ("count", "references"):
    raise ImproperlyConfigured("DIGEST_EMAIL_DETAIL must be 'count' or 'references'")
DIGEST_HOUR = env.int("DIGEST_HOUR", default=7)

CELERY_BEAT_SCHEDULE["daily-digest"] = {
    "task": "priorauth.send_daily_digests",
    "schedule": crontab(hour=DIGEST_HOUR, minute=0),
    "options": {"expires": 6 * 3600},
}
