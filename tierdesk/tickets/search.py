"""Full-text search of tickets: words of the subject, the description and the public messages.

What is indexed is what a customer may read of their ticket: the subject and the
description (one document per ticket, so words may come from either), and the body of
every *public* event after the creation (replies, resolution notes, plans...; the
creation's body is the description). Internal notes, time-log notes and other private
events are never indexed, so no search, whoever makes it, finds a ticket by them.

- SQLite: two FTS5 tables with external content (the index only, the text stays in
  the tickets and events tables), kept in step by triggers. The events' content is a
  view of the public ones, so even a `rebuild` never reads a private body.
- PostgreSQL: GIN indexes on `to_tsvector('simple', …)` expressions (the 'simple'
  configuration: no stemming nor stop words, so Spanish and English alike), the
  events' one partial to the public bodies.

Words match whole words and prefixes ("config" finds "configuration"), every word
must occur, and accents are ignored (Spanish is typed without them as often as with).
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.db.models.expressions import RawSQL

MAX_WORDS = 10
_WORD = re.compile(r"[^\W_]+")

# PostgreSQL's 'simple' configuration keeps accents (unaccent is an extension the
# application's role may not install); translate() is immutable, so the index can hold it.
ACCENTED = "áàâäãåéèêëíìîïóòôöõúùûüýÿñçÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÝŸÑÇ"
PLAIN = "aaaaaaeeeeiiiiooooouuuuyyncAAAAAAEEEEIIIIOOOOOUUUUYYNC"
_PLAIN = str.maketrans(ACCENTED, PLAIN)

# Which events are public messages (the events index's condition, for both backends).
PUBLIC_BODY = "is_public AND body <> '' AND code <> 'created'"


def _public(row: str) -> str:
    """PUBLIC_BODY of a trigger's `new` or `old` row."""
    return f"{row}.is_public AND {row}.body <> '' AND {row}.code <> 'created'"

# Long bodies (a forwarded log file) are indexed by their first 100,000 characters:
# a tsvector holds 1 MB at most, and an insert must never fail on it.
LIMIT = 100_000
PG_TICKET_VECTOR = (f"to_tsvector('simple'::regconfig, translate(left(subject || ' ' || "
                    f"description, {LIMIT}), '{ACCENTED}', '{PLAIN}'))")
PG_EVENT_VECTOR = (f"to_tsvector('simple'::regconfig, translate(left(body, {LIMIT}), "
                   f"'{ACCENTED}', '{PLAIN}'))")

SQLITE_SETUP = [
    "CREATE VIEW IF NOT EXISTS tickets_public_message AS SELECT id, ticket_id, body "  # noqa: S608 - constants
    f"FROM tickets_ticketevent WHERE {PUBLIC_BODY}",
    "CREATE VIRTUAL TABLE IF NOT EXISTS tickets_ticket_fts USING fts5(subject, description, "
    "content='tickets_ticket', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS tickets_message_fts USING fts5(body, "
    "ticket_id UNINDEXED, content='tickets_public_message', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS tickets_ticket_fts_insert AFTER INSERT ON tickets_ticket "
    "BEGIN INSERT INTO tickets_ticket_fts(rowid, subject, description) "
    "VALUES (new.id, new.subject, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_ticket_fts_delete AFTER DELETE ON tickets_ticket "
    "BEGIN INSERT INTO tickets_ticket_fts(tickets_ticket_fts, rowid, subject, description) "
    "VALUES ('delete', old.id, old.subject, old.description); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_ticket_fts_update "
    "AFTER UPDATE OF subject, description ON tickets_ticket "
    "WHEN old.subject IS NOT new.subject OR old.description IS NOT new.description "
    "BEGIN INSERT INTO tickets_ticket_fts(tickets_ticket_fts, rowid, subject, description) "
    "VALUES ('delete', old.id, old.subject, old.description); "
    "INSERT INTO tickets_ticket_fts(rowid, subject, description) "
    "VALUES (new.id, new.subject, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_message_fts_insert AFTER INSERT ON tickets_ticketevent "  # noqa: S608
    f"WHEN {_public('new')} "
    "BEGIN INSERT INTO tickets_message_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_message_fts_delete AFTER DELETE ON tickets_ticketevent "  # noqa: S608
    f"WHEN {_public('old')} "
    "BEGIN INSERT INTO tickets_message_fts(tickets_message_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    # Events are append-only; should one ever be changed, the index follows it.
    "CREATE TRIGGER IF NOT EXISTS tickets_message_fts_update AFTER UPDATE ON tickets_ticketevent "
    "BEGIN "
    "INSERT INTO tickets_message_fts(tickets_message_fts, rowid, body) "
    "SELECT 'delete', old.id, old.body "
    f"WHERE {_public('old')}; "
    "INSERT INTO tickets_message_fts(rowid, body) SELECT new.id, new.body "
    f"WHERE {_public('new')}; "
    "END",
]
SQLITE_TRIGGERS = ("tickets_ticket_fts_insert", "tickets_ticket_fts_delete",
                   "tickets_ticket_fts_update", "tickets_message_fts_insert",
                   "tickets_message_fts_delete", "tickets_message_fts_update")
SQLITE_REBUILD = [
    "INSERT INTO tickets_ticket_fts(tickets_ticket_fts) VALUES ('rebuild')",
    "INSERT INTO tickets_message_fts(tickets_message_fts) VALUES ('rebuild')",
]
SQLITE_TEARDOWN = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
    "DROP TABLE IF EXISTS tickets_message_fts",
    "DROP TABLE IF EXISTS tickets_ticket_fts",
    "DROP VIEW IF EXISTS tickets_public_message",
]
PG_SETUP = [
    f"CREATE INDEX IF NOT EXISTS tickets_ticket_words ON tickets_ticket USING gin "
    f"(({PG_TICKET_VECTOR}))",
    f"CREATE INDEX IF NOT EXISTS tickets_message_words ON tickets_ticketevent USING gin "
    f"(({PG_EVENT_VECTOR})) WHERE {PUBLIC_BODY}",
]
PG_TEARDOWN = ["DROP INDEX IF EXISTS tickets_message_words",
               "DROP INDEX IF EXISTS tickets_ticket_words"]


def install(conn: BaseDatabaseWrapper) -> None:
    """Create the index (and, on SQLite, fill it from the rows there are)."""
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            for sql in [*SQLITE_SETUP, *SQLITE_REBUILD]:
                cursor.execute(sql)
        elif conn.vendor == "postgresql":
            for sql in PG_SETUP:  # a CREATE INDEX reads the rows there are
                cursor.execute(sql)


def uninstall(conn: BaseDatabaseWrapper) -> None:
    with conn.cursor() as cursor:
        for sql in {"sqlite": SQLITE_TEARDOWN, "postgresql": PG_TEARDOWN}.get(conn.vendor, []):
            cursor.execute(sql)


def repair(conn: BaseDatabaseWrapper) -> bool:
    """SQLite drops a table's triggers with it, and a migration that changes a column of
    tickets on SQLite copies the table into a new one: put the triggers back and rebuild
    the index from the rows (after `migrate`). True if something was missing."""
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'tickets_ticket_fts'")
        if not cursor.fetchone()[0]:
            return False  # not installed (before the migration, or after reversing it)
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        if set(SQLITE_TRIGGERS) <= {name for (name,) in cursor.fetchall()}:
            return False
    install(conn)
    return True


def words_of(text: str) -> list[str]:
    """The words of a search, as the indexes cut them (letters and digits)."""
    return _WORD.findall(text)[:MAX_WORDS]


def matching(text: str) -> Q | None:
    """Tickets whose subject and description, or one of whose public messages, hold every
    word of `text` (each as a whole word or the start of one). None: no word to look for."""
    words = words_of(text)
    if not words:
        return None
    if connection.vendor == "postgresql":
        query = " & ".join(f"{w.translate(_PLAIN).lower()}:*" for w in words)
        # The SQL is constants; the words are a parameter.
        tickets = RawSQL(f"SELECT id FROM tickets_ticket WHERE {PG_TICKET_VECTOR} @@ "  # noqa: S608, S611
                         "to_tsquery('simple'::regconfig, %s)", [query])
        messages = RawSQL(f"SELECT ticket_id FROM tickets_ticketevent WHERE {PUBLIC_BODY} AND "  # noqa: S608, S611
                          f"{PG_EVENT_VECTOR} @@ to_tsquery('simple'::regconfig, %s)", [query])
    elif connection.vendor == "sqlite":
        query = " AND ".join(f'"{w}"*' for w in words)
        tickets = RawSQL("SELECT rowid FROM tickets_ticket_fts WHERE tickets_ticket_fts "
                         "MATCH %s", [query])
        messages = RawSQL("SELECT ticket_id FROM tickets_message_fts WHERE tickets_message_fts "
                          "MATCH %s", [query])
    else:  # another backend: no index, the words in the subject
        q = Q()
        for word in words:
            q &= Q(subject__icontains=word)
        return q
    return Q(pk__in=tickets) | Q(pk__in=messages)


def repair_after_migrate(sender, *, using: str, **kwargs) -> None:
    """post_migrate: see `repair`."""
    from django.db import connections

    repair(connections[using])
