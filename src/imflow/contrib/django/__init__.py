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
        "MASTER_KEY": None,             # the master key as text (base64), or a MasterKey
        "MASTER_KEY_FILE": None,        # or the path of a file holding it
        "KEY_STORE": None,              # dotted path: a KeyStore, or a callable making one
        "ENCRYPT": True,                # False: personal fields in clear (as imflow 0.1)
    }

``manage.py migrate`` creates imflow's tables, the same schema as ``imflow migrate``.
Then :func:`get_service` and :func:`get_store` give the process's service and store;
every write runs in ``transaction.atomic()`` on Django's connection, so a host's
``with transaction.atomic():`` block covers its models and imflow's events, outbox
included, and hooks run only after Django committed.

Personal fields are encrypted as in the plain stores. Without ``MASTER_KEY`` or
``MASTER_KEY_FILE`` the master key comes from ``IMFLOW_MASTER_KEY`` or
``IMFLOW_MASTER_KEY_FILE`` in the environment; with neither, a SQLite database gets the
file ``<NAME>.master-key`` beside it (convenient, not protection: production hosts
configure their own key) and PostgreSQL raises :class:`~imflow.MasterKeyMissing`.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imflow.contrib.django._store import DjangoCaseService
    from imflow.engine import Engine
    from imflow.keys import KeyStore, MasterKeySource
    from imflow.store import PostgresStore, SQLiteStore

__all__ = [
    "DEFAULTS",
    "close_store",
    "django_store",
    "get_service",
    "get_store",
    "imflow_settings",
    "store_from_settings",
]

DEFAULTS: dict[str, Any] = {
    "DATABASE": "default",
    "ENGINE": "imflow.Engine",
    "HOOKS": None,
    "SNAPSHOT_EVERY": 50,
    "CACHE_SIZE": 256,
    "RETRIES": 2,
    "DELIVER": True,
    "MASTER_KEY": None,
    "MASTER_KEY_FILE": None,
    "KEY_STORE": None,
    "ENCRYPT": True,
}
"""The ``IMFLOW`` setting's keys and their defaults.

.. versionchanged:: 0.2.0 ``MASTER_KEY``, ``MASTER_KEY_FILE``, ``KEY_STORE``, ``ENCRYPT``.
"""


def imflow_settings() -> dict[str, Any]:
    """``settings.IMFLOW`` over :data:`DEFAULTS`; an unknown key is an error."""
    from django.conf import settings

    return _merged(dict(getattr(settings, "IMFLOW", {}) or {}))


def _merged(given: dict[str, Any]) -> dict[str, Any]:
    from django.core.exceptions import ImproperlyConfigured

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


def _master_key(options: dict[str, Any]) -> MasterKeySource:
    """The master key ``MASTER_KEY`` or ``MASTER_KEY_FILE`` names (``None``: neither)."""
    from django.core.exceptions import ImproperlyConfigured

    from imflow.keys import MasterKey

    text, path = options["MASTER_KEY"], options["MASTER_KEY_FILE"]
    if text is not None and path is not None:
        raise ImproperlyConfigured("set IMFLOW MASTER_KEY or MASTER_KEY_FILE, not both")
    if path is not None:
        return MasterKey.from_file(path)
    if text is None or isinstance(text, MasterKey):
        return text
    if isinstance(text, bytes):
        return MasterKey(text)
    if isinstance(text, str):
        try:
            return MasterKey.from_text(text)
        except ValueError:
            raise ImproperlyConfigured(
                "IMFLOW MASTER_KEY is not a master key (32 bytes as base64 or 64 hex digits)"
            ) from None
    raise ImproperlyConfigured(
        f"IMFLOW MASTER_KEY must be text, bytes or a MasterKey, not {type(text).__name__}"
    )


def _key_store(value: Any) -> KeyStore | None:
    """The key store ``KEY_STORE`` names: an instance, or a callable making one."""
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    from imflow.keys import KeyStore

    if value is None:
        return None
    found = import_string(value) if isinstance(value, str) else value
    if isinstance(found, type) or (callable(found) and not isinstance(found, KeyStore)):
        found = found()
    if not isinstance(found, KeyStore):
        raise ImproperlyConfigured(
            f"IMFLOW KEY_STORE must name a key store or a callable making one,"
            f" not {type(found).__name__}"
        )
    return found


def django_store(
    alias: str = "default",
    *,
    engine: Engine | None = None,
    snapshot_every: int = 50,
    cache_size: int = 256,
    key_store: KeyStore | None = None,
    master_key: MasterKeySource = None,
    encrypt: bool = True,
) -> SQLiteStore | PostgresStore:
    """A store on the Django database *alias* (SQLite or PostgreSQL); its schema comes
    from ``manage.py migrate`` (or ``imflow migrate``).

    Personal fields are encrypted as in :class:`~imflow.store.SQLiteStore` and
    :class:`~imflow.store.PostgresStore`. *key_store* is where the data keys live
    (yours is never closed by the store); by default a
    :class:`~imflow.keys.SQLiteKeyStore` in the file ``<NAME>.keys`` beside a SQLite
    database (in memory for an in-memory one), or a :class:`~imflow.keys.PostgresKeyStore`
    in the schema ``imflow_keys`` of the PostgreSQL database, on a connection of its own
    built from the database's settings; the store closes the key store it made.
    *master_key* (a :class:`~imflow.keys.MasterKey`, its bytes or a key file's path)
    wraps the default key store's keys; default: ``IMFLOW_MASTER_KEY`` or
    ``IMFLOW_MASTER_KEY_FILE`` from the environment, else on SQLite the file
    ``<NAME>.master-key``, created beside the database, and on PostgreSQL
    :class:`~imflow.MasterKeyMissing`. ``encrypt=False`` stores personal fields in clear.

    .. versionadded:: 0.2.0
    """
    from imflow.contrib.django._store import django_store as made

    return made(
        alias,
        engine=engine,
        snapshot_every=snapshot_every,
        cache_size=cache_size,
        key_store=key_store,
        master_key=master_key,
        encrypt=encrypt,
    )


def store_from_settings(options: dict[str, Any] | None = None) -> SQLiteStore | PostgresStore:
    """A new store as the ``IMFLOW`` setting describes it (*options*: the settings of
    :func:`imflow_settings`); :func:`get_store` keeps one per process.

    .. versionadded:: 0.2.0
    """
    found = imflow_settings() if options is None else _merged(options)
    encrypt = bool(found["ENCRYPT"])
    return django_store(
        found["DATABASE"],
        engine=_made(found["ENGINE"]),
        snapshot_every=found["SNAPSHOT_EVERY"],
        cache_size=found["CACHE_SIZE"],
        key_store=_key_store(found["KEY_STORE"]) if encrypt else None,
        master_key=_master_key(found) if encrypt else None,
        encrypt=encrypt,
    )


def get_store() -> SQLiteStore | PostgresStore:
    """The process's store on the ``IMFLOW["DATABASE"]`` connection, built on first use."""
    built = _built()
    if "store" not in built:
        built["store"] = store_from_settings()
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


def close_store() -> None:
    """Close the process's store (and with it the key store it made, whose connection
    is its own, not Django's) and forget the service; the next :func:`get_store` builds
    new ones. Call it at shutdown, and in tests before the test database is dropped.

    .. versionadded:: 0.2.0
    """
    built = _built()
    built.pop("service", None)
    store = built.pop("store", None)
    if store is not None:
        store.close()
