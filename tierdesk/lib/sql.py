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

import contextlib
import functools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field, Model


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


def insert_many(instances: Sequence[Model]) -> None:
    """INSERT new rows of one model as `bulk_create` would (each field's `pre_save` and
    prepared value; the new keys set on the instances, in order), by one multi-row
    statement per few hundred rows (`insert_statement`): none of the ORM's per-value
    compiler work."""
    if not instances:
        return
    conn = connections[DEFAULT_DB_ALIAS]
    model = type(instances[0])
    fields = insert_statement(model, conn.vendor, 1)[1]
    per = max(1, min(500, 30_000 // len(fields)))  # under SQLite's 32,766 parameters
    for start in range(0, len(instances), per):
        chunk = instances[start:start + per]
        values = [f.get_db_prep_save(f.pre_save(obj, True), conn) for obj in chunk
                  for f in fields]
        found = run(conn, insert_statement(model, conn.vendor, len(chunk))[0], values,
                    fetch_all=True)[0]
        # Keys come from the table's sequence (PostgreSQL) or its largest rowid + 1
        # (SQLite) row after row, so in the order written; RETURNING's order is not
        # promised, the keys' is.
        for obj, pk in zip(chunk, sorted(row[0] for row in found), strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = conn.alias


@functools.cache
def insert_statement(model: type[Model], vendor: str, rows: int, unique: str | None = None
                     ) -> tuple[str, tuple[Field, ...]]:
    """The INSERT of `rows` new rows of the model, returning their keys, and the fields
    whose prepared values it takes, row after row; with `unique`, a row holding the same
    value of that column wins (ON CONFLICT DO NOTHING). Written once per model and count:
    identifiers from the model only, every value a parameter."""
    q = connection.ops.quote_name
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    skip = (f"ON CONFLICT ({q(str(model._meta.get_field(unique).column))}) DO NOTHING "  # type: ignore[union-attr]
            if unique else "")
    return (f"INSERT INTO {q(model._meta.db_table)} "  # noqa: S608 - identifiers only
            f"({', '.join(q(str(f.column)) for f in fields)}) VALUES {', '.join([row] * rows)} "
            f"{skip}RETURNING {q(str(model._meta.pk.column))}"), fields


# ------------------------------------------------------------ the worker's batch loops

# SQLite has one write lock. A writer that finds it taken waits in SQLite's busy handler
# (Python's sqlite3 `timeout`), which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then
# 100 ms between tries: a lock taken again within a few milliseconds of its release is
# never seen free by a writer that has waited a third of a second. The worker's loops of
# batch transactions (a breach wave's sweep, follow-ups and hook work: minutes of them)
# would keep it so, and the web's writes time out ("database is locked") after 20 s.
# So on SQLite the worker's batches take turns: once the worker has held the lock for
# TURN_HOLD seconds in all since it last left it free, it leaves it free for TURN_GAP,
# longer than the busy handler's longest sleep (scheduling adds a few ms on a loaded
# machine), so that every writer waiting then gets in; in one process (the worker's
# threads) one batch at a time, so that one thread's batch does not take the other's gap.
# When nobody wrote during a gap (SQLite's `data_version`, read on a connection of the
# turns' own), the web is idle: the next hold is twice as long, up to TURN_HOLD_IDLE, so
# that a worker alone loses little to gaps nobody uses; back to TURN_HOLD once one is used.
TURN_GAP = 0.125
TURN_HOLD = 0.5
TURN_HOLD_IDLE = 2.0
_turn_lock = threading.RLock()
_turn: dict[str, Any] = {"held": 0.0, "free_at": 0.0, "hold": TURN_HOLD, "version": None,
                         "probe": None}


def _after_fork() -> None:
    """A forked child (`sla rebuild --processes`) starts with its own turn, unheld."""
    global _turn_lock
    _turn_lock = threading.RLock()
    _turn.update(held=0.0, free_at=0.0, hold=TURN_HOLD, version=None, probe=None)


os.register_at_fork(after_in_child=_after_fork)


def _data_version(conn: Any) -> int | None:
    """SQLite's count of commits by other connections, read on the turns' own connection
    (so every connection's commits count, the worker's threads' too). None: unknown."""
    import sqlite3

    try:
        if _turn["probe"] is None:
            _turn["probe"] = sqlite3.connect(conn.settings_dict["NAME"], timeout=0,
                                             check_same_thread=False)
        return int(_turn["probe"].execute("PRAGMA data_version").fetchone()[0])
    except sqlite3.Error:
        return None


@contextlib.contextmanager
def let_writers_in(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Around one batch's write transaction in a loop of them (the worker's): on SQLite,
    wait for this process's turn, leaving the write lock free for TURN_GAP first when
    this process's batches have held it for their hold (TURN_HOLD, longer while nobody
    uses the gaps) since it was last left free. Nothing on PostgreSQL (row locks: the web
    never waits for a batch), nor inside a transaction (the lock is held to its end)."""
    conn = connections[using]
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        yield
        return
    with _turn_lock:
        if _turn["held"] >= _turn["hold"]:
            wait = _turn["free_at"] + TURN_GAP - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            used = _turn["version"] is None or _data_version(conn) != _turn["version"]
            _turn["hold"] = TURN_HOLD if used else min(2 * _turn["hold"], TURN_HOLD_IDLE)
            _turn["held"] = 0.0
        started = time.monotonic()
        if started - _turn["free_at"] >= TURN_GAP:
            _turn["held"] = 0.0  # the lock was left free long enough anyway
        try:
            yield
        finally:
            _turn["free_at"] = time.monotonic()
            _turn["held"] += _turn["free_at"] - started
            if _turn["held"] >= _turn["hold"]:  # a gap comes next: what was written before it
                _turn["version"] = _data_version(conn)
