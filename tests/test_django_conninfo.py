"""The key store's connection string from Django's PostgreSQL settings.

The Django PostgreSQL store's default key store opens a connection of its own, so it
needs the libpq connection string of the host's ``DATABASES`` entry: every value comes
through unchanged (quotes, spaces, backslashes), and Django's own ``OPTIONS`` stay out.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from imflow.contrib.django._store import postgres_conninfo

# libpq values: any text without NUL; empty ones mean "not set" to Django
VALUE = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1)


def settings(**given: Any) -> dict[str, Any]:
    return {"NAME": "", "USER": "", "PASSWORD": "", "HOST": "", "PORT": "", "OPTIONS": {}, **given}


@given(name=VALUE, user=VALUE, password=VALUE, host=VALUE, port=st.integers(1, 65535))
def test_every_setting_reaches_libpq_unchanged(
    name: str, user: str, password: str, host: str, port: int
) -> None:
    conninfo = postgres_conninfo(
        settings(NAME=name, USER=user, PASSWORD=password, HOST=host, PORT=port)
    )
    assert conninfo_to_dict(conninfo) == {
        "dbname": name,
        "user": user,
        "password": password,
        "host": host,
        "port": str(port),
    }


def test_django_s_own_options_stay_out_and_libpq_s_come_through() -> None:
    options = {
        "sslmode": "require",
        "options": "-c search_path=imflow,public",
        "application_name": "host",
        "isolation_level": 1,
        "pool": {"min_size": 2},
        "server_side_binding": True,
        "assume_role": "app",
        "prepare_threshold": 5,
    }
    found = conninfo_to_dict(postgres_conninfo(settings(NAME="host", OPTIONS=options)))
    assert found == {
        "dbname": "host",
        "sslmode": "require",
        "options": "-c search_path=imflow,public",
        "application_name": "host",
    }


def test_empty_settings_are_left_to_libpq_and_no_name_is_the_postgres_database() -> None:
    assert conninfo_to_dict(postgres_conninfo(settings(NAME="cases"))) == {"dbname": "cases"}
    assert conninfo_to_dict(postgres_conninfo(settings(NAME=None))) == {"dbname": "postgres"}
    by_service = settings(OPTIONS={"service": "imflow"})
    assert conninfo_to_dict(postgres_conninfo(by_service)) == {"service": "imflow"}
