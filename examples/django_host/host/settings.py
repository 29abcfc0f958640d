"""Settings of the example host.

The database comes from the environment, as a deployment would set it:
``IMFLOW_DJANGO_DB`` is a ``postgresql://`` URL, or unset for a SQLite file
(``IMFLOW_DJANGO_SQLITE``, default ``db.sqlite3`` beside ``manage.py``).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
USE_TZ = True
TIME_ZONE = "Europe/Berlin"
LANGUAGE_CODE = "de"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "imflow.contrib.django",
    "clients",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "host.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"


def _database() -> dict[str, Any]:
    found = _configured()
    if os.environ.get("IMFLOW_DJANGO_NAME"):  # another process on the test database
        found["NAME"] = os.environ["IMFLOW_DJANGO_NAME"]
    return found


def _configured() -> dict[str, Any]:
    url = os.environ.get("IMFLOW_DJANGO_DB", "")
    if url.startswith(("postgresql://", "postgres://")):
        parts = urllib.parse.urlsplit(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": parts.username or "",
            "PASSWORD": parts.password or "",
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "TEST": {"NAME": os.environ.get("IMFLOW_DJANGO_TEST_DB", "test_imflow_host")},
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("IMFLOW_DJANGO_SQLITE", str(BASE_DIR / "db.sqlite3")),
        "TEST": {"NAME": os.environ.get("IMFLOW_DJANGO_TEST_DB", str(BASE_DIR / "test.sqlite3"))},
        # take the write lock when a transaction begins, and let readers run beside a writer
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
    }


DATABASES = {"default": _database()}

IMFLOW = {
    "DATABASE": "default",
    "ENGINE": "host.imflow_setup.make_engine",
    "HOOKS": "host.imflow_setup.HOOKS",
    "RETRIES": 2,
}

# imflow's records in Django's logging: key-value lines on standard error
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"imflow": {"handlers": ["console"], "level": "WARNING"}},
}
