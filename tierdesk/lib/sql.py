"""One prepared statement run the cheapest safe way (the actions' and the mail door's).

On SQLite, when nothing watches the queries (no DEBUG, no query capture as the tests'
query counts use, no execute wrapper), a statement goes straight to the driver's
connection: Django's cursor wrapper (a new cursor, and the placeholders rewritten by a
regular expression at every call) costs as much as SQLite's own work on these one-row
statements, 0.03–0.06 ms a statement here. It is the same connection, so the same
transaction, and errors are turned into Django's as its cursor does. Elsewhere, and on
PostgreSQL, through Django's cursor.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections


@functools.cache
def _qmark(sql: str) -> str | None:
    """The statement in SQLite's own placeholders, or None if it holds a literal %."""
    converted = sql.replace("%s", "?")
    return None if "%" in converted else converted


def run(conn: Any, sql: str, params: Sequence[Any], *, fetch_all: bool = False
        ) -> tuple[Any, int]:
    """(the first row — every row with `fetch_all` — or None, the rows changed) of one
    statement on `conn` (a Django connection)."""
    if conn is connection:
        # django.db.connection is a proxy that looks the wrapper up again at every
        # attribute read (~2 µs each here, seven a statement): once, the same wrapper.
        conn = connections[DEFAULT_DB_ALIAS]
    converted = _qmark(sql) if conn.vendor == "sqlite" else None
    if converted is not None and not conn.queries_logged and not conn.execute_wrappers:
        conn.ensure_connection()
        conn.validate_no_broken_transaction()
        with conn.wrap_database_errors:
            cursor = conn.connection.execute(converted, params)
            try:
                return (cursor.fetchall() if fetch_all else cursor.fetchone()), cursor.rowcount
            finally:
                cursor.close()
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.description is None:
            return None, cursor.rowcount
        return (cursor.fetchall() if fetch_all else cursor.fetchone()), cursor.rowcount
