"""imflow in a Django project: its tables as Django migrations, a read-only admin of case
histories, and a store that writes through Django's database connection.

Add the app and (optionally) configure it::

    INSTALLED_APPS = [..., "django.contrib.admin", "imflow.contrib.django"]
    IMFLOW = {
        "DATABASE": "default",          # the Django database alias (SQLite or PostgreSQL)
        "ENGINE": "imflow.Engine",      # dotted path: a callable returning the Engine
        "HOOKS": None,                  # dotted path: a Hooks registry, or a callable making one
        "SNAPSHOT_EVERY": 50,
        "CACHE_SIZE": 256,
        "RETRIES": 2,                   # CaseService retries after a ConcurrencyConflict
        "DELIVER": True,                # deliver hooks after each command's commit
    }

``manage.py migrate`` creates imflow's tables, the same schema as ``imflow migrate``.
Then :func:`get_service` and :func:`get_store` give the process's service and store;
every write runs in ``transaction.atomic()`` on Django's connection, so a host's
``with transaction.atomic():`` block covers its models and imflow's events, outbox
included, and hooks run only after Django committed.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imflow.contrib.django._store import DjangoCaseService
    from imflow.store import PostgresStore, SQLiteStore

__all__ = ["DEFAULTS", "get_service", "get_store", "imflow_settings"]

DEFAULTS: dict[str, Any] = {
    "DATABASE": "default",
    "ENGINE": "imflow.Engine",
    "HOOKS": None,
    "SNAPSHOT_EVERY": 50,
    "CACHE_SIZE": 256,
    "RETRIES": 2,
    "DELIVER": True,
}
"""The ``IMFLOW`` setting's keys and their defaults."""


def imflow_settings() -> dict[str, Any]:
    """``settings.IMFLOW`` over :data:`DEFAULTS`; an unknown key is an error."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    given = dict(getattr(settings, "IMFLOW", {}) or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(f"unknown IMFLOW settings: {', '.join(unknown)}")
    return {**DEFAULTS, **given}


def _made(value: Any) -> Any:
    from django.utils.module_loading import import_string

    found = import_string(value) if isinstance(value, str) else value
    return found() if callable(found) and not hasattr(found, "callbacks") else found


def _built() -> dict[str, Any]:
    from django.apps import apps

    config: Any = apps.get_app_config("imflow")
    built: dict[str, Any] = config.built
    return built


def get_store() -> SQLiteStore | PostgresStore:
    """The process's store on the ``IMFLOW["DATABASE"]`` connection, built on first use."""
    built = _built()
    if "store" not in built:
        from imflow.contrib.django._store import django_store

        options = imflow_settings()
        built["store"] = django_store(
            options["DATABASE"],
            engine=_made(options["ENGINE"]),
            snapshot_every=options["SNAPSHOT_EVERY"],
            cache_size=options["CACHE_SIZE"],
        )
    store: SQLiteStore | PostgresStore = built["store"]
    return store


def get_service() -> DjangoCaseService:
    """The process's :class:`~imflow.outbox.CaseService` over :func:`get_store`, whose
    hooks run after Django's commit."""
    built = _built()
    if "service" not in built:
        from imflow.contrib.django._store import DjangoCaseService

        options = imflow_settings()
        hooks = options["HOOKS"]
        built["service"] = DjangoCaseService(
            get_store(),
            alias=options["DATABASE"],
            hooks=None if hooks is None else _made(hooks),
            retries=options["RETRIES"],
            deliver=options["DELIVER"],
        )
    service: DjangoCaseService = built["service"]
    return service
