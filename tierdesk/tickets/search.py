"""Full-text search of tickets: words of the subject, the description and the public messages.

What is indexed is what a customer may read of their ticket: the subject, the
description, and the body of every *public* event after the creation (replies,
resolution notes, plans...; the creation's body is the description). Internal notes,
time-log notes and other private events are never indexed, so no search, whoever
makes it, finds a ticket by their words.

- SQLite: one FTS5 document per ticket (rowid = the ticket's id), read from a view over
  the tickets and their public events (so even a rebuild never reads a private body).
  Writes only mark the ticket's document stale (triggers: one row in
  `tickets_search_stale`, whatever the size of the ticket); the documents are
  (re)indexed by `catch_up`, which the worker runs after every batch of hook work and
  which every search runs first if anything is stale, so a search always reads an index
  that is up to date. The index keeps its own copy of each document (FTS5 content), so a
  stale document is taken out by its rowid alone, without the words it held.
- PostgreSQL: GIN indexes on `to_tsvector('simple', …)` expressions (the 'simple'
  configuration: no stemming nor stop words, so Spanish and English alike), the
  events' one partial to the public bodies.

Words match whole words and prefixes ("config" finds "configuration"), every word
must occur somewhere in the ticket, and accents are ignored (Spanish is typed without
them as often as with)."""

# ruff: noqa: S608 - every statement here is built from this module's constants; the words
# of a search are always parameters.
from __future__ import annotations

import re

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, BooleanField, ExpressionWrapper, F, Func, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.lookups import In

MAX_WORDS = 10
FEW = 1000  # SQLite: up to this many matches are looked up by their ids (_sqlite_matching)
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

# One document per ticket (rowid = the ticket's id): its subject, its description and its
# public messages, oldest first. A search reads ticket ids straight from the index, and
# the words of a search may come from any of the three.
_MESSAGES = ("(SELECT group_concat(body, char(10)) FROM (SELECT body FROM tickets_ticketevent "
             "WHERE ticket_id = {ticket} AND " + PUBLIC_BODY + " ORDER BY id))")
_DOC = ("SELECT id, subject, description, " + _MESSAGES.format(ticket="tickets_ticket.id")
        + " AS messages FROM tickets_ticket")


_STALE = "tickets_search_stale"


def _mark(ticket: str) -> str:
    """Mark ticket `ticket`'s document stale (cheap: one row, whatever the ticket's size).
    Not `INSERT OR IGNORE`: a trigger's conflict policy gives way to its statement's."""
    return (f"INSERT INTO {_STALE}(ticket_id) SELECT {ticket} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {_STALE} WHERE ticket_id = {ticket});")


# Prefix indexes of 2 to 8 characters: without them, a prefix query ("bench"*) merges the
# lists of every word it starts, in memory, before an AND can skip anything (30 ms for
# "bench ticket 12345" at 100,000 tickets; 0.3 ms with them, for 13% more index).
SQLITE_INDEX = ("CREATE VIRTUAL TABLE IF NOT EXISTS tickets_search USING fts5(subject, description, "
                "messages, tokenize='unicode61 remove_diacritics 2', prefix='2 3 4 5 6 7 8')")
SQLITE_STALE = f"CREATE TABLE IF NOT EXISTS {_STALE} (ticket_id INTEGER PRIMARY KEY)"
SQLITE_SETUP = [
    f"CREATE VIEW IF NOT EXISTS tickets_search_doc AS {_DOC}",
    SQLITE_INDEX,
    SQLITE_STALE,
    # A ticket: in, out, or its words changed.
    "CREATE TRIGGER IF NOT EXISTS tickets_search_stale_ticket_insert AFTER INSERT ON "
    f"tickets_ticket BEGIN {_mark('new.id')} END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_stale_ticket_delete AFTER DELETE ON "
    f"tickets_ticket BEGIN {_mark('old.id')} END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_stale_ticket_update "
    "AFTER UPDATE OF subject, description ON tickets_ticket "
    "WHEN old.subject IS NOT new.subject OR old.description IS NOT new.description "
    f"BEGIN {_mark('new.id')} END",
    # A public message in or out.
    "CREATE TRIGGER IF NOT EXISTS tickets_search_stale_message_insert "
    f"AFTER INSERT ON tickets_ticketevent WHEN {_public('new')} "
    f"BEGIN {_mark('new.ticket_id')} END",
    "CREATE TRIGGER IF NOT EXISTS tickets_search_stale_message_delete "
    f"AFTER DELETE ON tickets_ticketevent WHEN {_public('old')} "
    f"BEGIN {_mark('old.ticket_id')} END",
    # Events are append-only; should one ever be changed, the index follows it.
    "CREATE TRIGGER IF NOT EXISTS tickets_search_stale_message_update "
    "AFTER UPDATE ON tickets_ticketevent "
    f"BEGIN {_mark('old.ticket_id')} {_mark('new.ticket_id')} END",
]
SQLITE_TRIGGERS = ("tickets_search_stale_ticket_insert", "tickets_search_stale_ticket_delete",
                   "tickets_search_stale_ticket_update", "tickets_search_stale_message_insert",
                   "tickets_search_stale_message_delete", "tickets_search_stale_message_update")
# The triggers of migration 0004's index (external content, written by every write).
OLD_TRIGGERS = ("tickets_search_ticket_insert", "tickets_search_ticket_delete",
                "tickets_search_ticket_update", "tickets_search_message_before_insert",
                "tickets_search_message_after_insert", "tickets_search_message_before_delete",
                "tickets_search_message_after_delete", "tickets_search_message_before_update",
                "tickets_search_message_after_update")
# Every document indexed again, from the view (into an empty index: dropping it is
# quicker than taking every document out).
SQLITE_REBUILD = [
    "DROP TABLE IF EXISTS tickets_search",
    SQLITE_INDEX,
    "INSERT INTO tickets_search(rowid, subject, description, messages) "
    "SELECT id, subject, description, messages FROM tickets_search_doc",
    f"DELETE FROM {_STALE}",
]
# The stale documents out, then in again as the view gives them now (a deleted ticket:
# out only). In one write transaction, so no write can come between.
SQLITE_CATCH_UP = [
    f"DELETE FROM tickets_search WHERE rowid IN (SELECT ticket_id FROM {_STALE})",
    "INSERT INTO tickets_search(rowid, subject, description, messages) "
    "SELECT id, subject, description, messages FROM tickets_search_doc "
    f"WHERE id IN (SELECT ticket_id FROM {_STALE})",
    f"DELETE FROM {_STALE}",
]
# What names the tickets and events tables (see `suspend`), then the index.
SQLITE_SUSPEND = [*(f"DROP TRIGGER IF EXISTS {name}" for name in (*SQLITE_TRIGGERS, *OLD_TRIGGERS)),
                  "DROP VIEW IF EXISTS tickets_search_doc"]
SQLITE_TEARDOWN = [*SQLITE_SUSPEND, "DROP TABLE IF EXISTS tickets_search",
                   f"DROP TABLE IF EXISTS {_STALE}"]
PG_SETUP = [
    f"CREATE INDEX IF NOT EXISTS tickets_ticket_words ON tickets_ticket USING gin "
    f"(({PG_TICKET_VECTOR}))",
    f"CREATE INDEX IF NOT EXISTS tickets_message_words ON tickets_ticketevent USING gin "
    f"(({PG_EVENT_VECTOR})) WHERE {PUBLIC_BODY}",
]
PG_TEARDOWN = ["DROP INDEX IF EXISTS tickets_message_words",
               "DROP INDEX IF EXISTS tickets_ticket_words"]


def create(conn: BaseDatabaseWrapper) -> None:
    """The migrations' part. PostgreSQL: the indexes (built from the rows there are).
    SQLite: the index table and the stale list only; `repair`, after the migrations
    (post_migrate), adds the view and the triggers and fills the index, so that no
    migration after this one finds them in its way (see `suspend`)."""
    if conn.vendor == "sqlite":
        with conn.cursor() as cursor:
            cursor.execute(SQLITE_INDEX)
            cursor.execute(SQLITE_STALE)
    else:
        install(conn)


def recreate(conn: BaseDatabaseWrapper) -> None:
    """Migration 0006 (SQLite): migration 0004's index, written by its triggers at every
    write, replaced by this module's (the triggers only mark a document stale); filled
    by `repair` after the migrations."""
    if conn.vendor == "sqlite":
        with conn.cursor() as cursor:
            for sql in SQLITE_TEARDOWN:
                cursor.execute(sql)
        create(conn)


def install(conn: BaseDatabaseWrapper) -> None:
    """Create the index (and, on SQLite, fill it from the rows there are)."""
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            for sql in [*SQLITE_SUSPEND, *SQLITE_SETUP, *SQLITE_REBUILD]:
                cursor.execute(sql)
        elif conn.vendor == "postgresql":
            for sql in PG_SETUP:  # a CREATE INDEX reads the rows there are
                cursor.execute(sql)


def uninstall(conn: BaseDatabaseWrapper) -> None:
    with conn.cursor() as cursor:
        for sql in {"sqlite": SQLITE_TEARDOWN, "postgresql": PG_TEARDOWN}.get(conn.vendor, []):
            cursor.execute(sql)


def installed(conn: BaseDatabaseWrapper) -> bool:
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'tickets_search'")
        return bool(cursor.fetchone()[0])


def suspend(conn: BaseDatabaseWrapper) -> None:
    """SQLite: take the view and the triggers away (the index stays), before a migration.

    A migration that changes a column of tickets or events on SQLite copies the table
    into a new one and renames it; SQLite then refuses the rename while a view or a
    trigger names the table, and drops the table's own triggers with it. `repair` puts
    everything back and rebuilds the index once the migrations have run.
    """
    if installed(conn):
        with conn.cursor() as cursor:
            for sql in SQLITE_SUSPEND:
                cursor.execute(sql)


def repair(conn: BaseDatabaseWrapper) -> bool:
    """SQLite: if the index is there but its view or a trigger is missing, put them back
    and rebuild the index from the rows. True if something was missing."""
    if not installed(conn):
        return False  # not installed (before the migration, or after reversing it)
    with conn.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('trigger', 'view', 'table')")
        if set(SQLITE_TRIGGERS) | {"tickets_search_doc", _STALE} <= {
                name for (name,) in cursor.fetchall()}:
            return False
    install(conn)
    return True


def catch_up(conn: BaseDatabaseWrapper | None = None) -> int:
    """SQLite: index again the documents marked stale since the last catch-up (the
    worker's, after each batch of hook work; and every search's, first). How many
    tickets were stale; 0 elsewhere.

    What any write paid for the index before (its ticket's whole document taken out and
    put in again, every word with its seven prefixes, in the writer's transaction) is
    paid here, once for all the writes to a ticket since the last catch-up."""
    conn = conn or connection
    if conn.vendor != "sqlite":
        return 0
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {_STALE}")
        if not cursor.fetchone()[0]:
            return 0
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        # Counted again inside the write transaction: nothing can be marked in between.
        cursor.execute(f"SELECT count(*) FROM {_STALE}")
        stale = cursor.fetchone()[0]
        for sql in SQLITE_CATCH_UP:
            cursor.execute(sql)
    return int(stale)


def words_of(text: str) -> list[str]:
    """The words of a search, as the indexes cut them (letters and digits)."""
    return _WORD.findall(text)[:MAX_WORDS]


def matching(text: str, *, within: QuerySet | None = None, walked: str = "",
             or_requesters: QuerySet | None = None) -> Q | None:
    """Tickets that hold every word of `text` (each as a whole word or the start of one) in
    their subject, description or public messages, or (given `or_requesters`, contact ids)
    whose requester is one of those. None: no word to look for.

    `within`: the tickets the caller will narrow with this (what its user may see, and its
    filters); `walked`: the order's first key ("-created_at") when the caller pages
    `within` by ORDER BY … LIMIT in the order of an index of the ticket table. Neither
    changes the answer; on SQLite they choose how the index is asked (`_sqlite_matching`)."""
    words = words_of(text)
    if not words:
        return None
    if connection.vendor == "sqlite":
        catch_up(connection)  # the writes since the worker's last catch-up, first
        return _sqlite_matching(words, within=within, walked=walked, or_requesters=or_requesters)
    by_requester = Q() if or_requesters is None else Q(requester_id__in=or_requesters)
    if connection.vendor == "postgresql":
        # Two indexes (the tickets', the public messages'): each word in either.
        found = Q()
        for word in words:
            term = f"{word.translate(_PLAIN).lower()}:*"
            # The SQL is constants; the word is a parameter.
            in_ticket = RawSQL(f"SELECT id FROM tickets_ticket WHERE {PG_TICKET_VECTOR} @@ "  # noqa: S611
                               "to_tsquery('simple'::regconfig, %s)", [term])
            in_message = RawSQL(f"SELECT ticket_id FROM tickets_ticketevent WHERE {PUBLIC_BODY} "  # noqa: S611
                                f"AND {PG_EVENT_VECTOR} @@ to_tsquery('simple'::regconfig, %s)",
                                [term])
            found &= Q(pk__in=in_ticket) | Q(pk__in=in_message)
        return found | by_requester
    found = Q()  # another backend: no index, the words of the subject
    for word in words:
        found &= Q(subject__icontains=word)
    return found | by_requester


# SQLite, for more than FEW matches: a look-up in the index by rowid per row tested
# (`_Holds`) against every match read once into a temporary table (`id + 0 IN (…)`).
# Measured at 100,000 tickets: a look-up ~18 µs a word, a match read ~0.11 µs; so a look-up
# per row wins when the rows tested, times the words, times PROBE_COST are fewer than the
# matches.
PROBE_COST = 160
# The lengths of the index's prefix indexes (SQLITE_INDEX). A word of another length is
# looked up as a prefix by merging the lists of every word it starts, in memory, at each
# look-up (2.5 ms for "benchmark"* at 100,000 tickets, 0.4 ms for "1"*): never row by row.
PREFIXES = range(2, 9)
# A filtered list (a customer's, an agent's filters) may read and sort all its rows before
# its LIMIT, each row tested first: row by row only when it holds at most SMALL rows.
SMALL = 500
# An unfiltered list walks the desk in the order of an index and stops at a full page: about
# (page + 1) / density rows tested, for pages of up to 100. The density is that of the
# matches at the end of the index the walk starts from (ids and `created_at` go together).
PAGE = 101


class _Holds(Func):
    """The ticket's document (its id is the index's rowid) holds every word of the query:
    one look-up in the index by rowid (FTS5 seeks in its lists to that rowid)."""

    template = ("EXISTS (SELECT 1 FROM tickets_search WHERE tickets_search MATCH %%s "
                "AND rowid = %(expressions)s)")
    output_field = BooleanField()
    conditional = True

    def __init__(self, query: str) -> None:
        super().__init__(F("pk"))
        self.query = query

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        sql, params = super().as_sql(compiler, connection, **extra_context)
        return sql, (self.query, *params)


def _first_rows(qs: QuerySet, n: int) -> tuple[str, tuple] | None:
    """The SQL of up to `n` ids of `qs`, in no order; None if there is none to ask for."""
    if qs.query.is_sliced:
        return None
    try:
        return qs.order_by().values("pk")[:n].query.sql_with_params()
    except EmptyResultSet:  # Ticket.objects.none(): nothing to see
        return None


def _sqlite_matching(words: list[str], *, within: QuerySet | None = None, walked: str = "",
                     or_requesters: QuerySet | None = None) -> Q:
    """SQLite's planner cannot tell a rare word from a common one, and each needs another plan.
    One query reads up to FEW + 1 matches from the index, from the end the list walks from
    (the highest ids for a list newest first), with the desk's highest id, for a filtered
    `within` its rows counted up to SMALL + 1, and up to FEW + 1 of `or_requesters` (a
    list of ids, not a subquery, lets the planner read a few matches by id: 0.08 instead
    of 2.5 ms for a customer admin's rare words, where the subquery's OR made it read and
    sort the organisation's 2,000 tickets). Then:

    - up to FEW matches: their ids, by primary key;
    - more, and few rows to test (PROBE_COST): each row the list reads is tested with one
      look-up in the index by its id (`_Holds`): the rows a filtered list reads and sorts,
      at most SMALL; or those an unfiltered list `walked` in its order reads until its page
      is full, PAGE / the density of the matches read (~30 for a page of 25 when 86% of
      the tickets match);
    - else: the list tests each row it reads against every match, read once into a
      temporary table (10 ms for "looking", 86,000 matches at 100,000 tickets). Given the
      index's subquery as `id IN (…)`, SQLite would read every match and then each row by
      its id and sort them all (70 ms); `id + 0` is not an indexed column, so it only
      tests membership, and the list walks its own order (an index) to a full page.

    Words without their prefix index are never looked up row by row (PREFIXES)."""
    query = " AND ".join(f'"{w}"*' for w in words)
    each_looked_up = all(len(w) in PREFIXES for w in words)
    # Newest first only when the density matters: a word without its prefix index has its
    # lists merged in memory first, and read backwards then ("benchmark"*: +2–3 ms).
    direction = "DESC" if each_looked_up and walked.startswith("-") else "ASC"
    sql = ("SELECT 0, rowid FROM (SELECT rowid FROM tickets_search WHERE tickets_search MATCH %s "
           f"ORDER BY rowid {direction} LIMIT %s)")
    params: list = [query, FEW + 1]
    filtered = within is None or bool(within.query.where) or within.query.is_sliced
    if each_looked_up:
        sql += " UNION ALL SELECT 1, max(id) FROM tickets_ticket"
        scope = _first_rows(within, SMALL + 1) if within is not None and filtered else None
        if scope is not None:
            sql += f" UNION ALL SELECT 2, count(*) FROM ({scope[0]})"
            params += scope[1]
    requesters = _first_rows(or_requesters, FEW + 1) if or_requesters is not None else None
    if requesters is not None:
        sql += f" UNION ALL SELECT 3, * FROM ({requesters[0]})"
        params += requesters[1]
    read: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for part, value in cursor.fetchall():
            read[part].append(value)
    ids, highest, counted, contacts = read
    if or_requesters is None:
        by_requester = Q()
    elif requesters is not None and len(contacts) <= FEW:
        by_requester = Q(requester_id__in=contacts)
    else:
        by_requester = Q(requester_id__in=or_requesters)
    return _sqlite_words(words, query, ids, highest, counted, filtered=filtered,
                         walked=walked) | by_requester


def _sqlite_words(words: list[str], query: str, ids: list[int], highest: list[int],
                  counted: list[int], *, filtered: bool, walked: str) -> Q:
    """`_sqlite_matching`'s choice for the words, from what its query read."""
    if len(ids) <= FEW:
        return Q(pk__in=ids)
    if all(len(w) in PREFIXES for w in words):
        density = len(ids) / (abs(ids[-1] - ids[0]) + 1)
        matches = density * (highest[0] or 0)  # about: the highest id is about the desk's size
        tested: float | None = None
        if counted and counted[0] <= SMALL:
            tested = counted[0]
        elif not filtered and walked:
            tested = PAGE / density
        if tested is not None and tested * len(words) * PROBE_COST < matches:
            return Q(_Holds(query))
    return Q(In(ExpressionWrapper(F("pk") + 0, output_field=BigIntegerField()),
                RawSQL("SELECT rowid FROM tickets_search WHERE tickets_search MATCH %s", [query])))


def suspend_before_migrate(sender, *, using: str, plan=None, **kwargs) -> None:
    """pre_migrate: see `suspend`; only when there are migrations to run."""
    from django.db import connections

    if plan:
        suspend(connections[using])


def repair_after_migrate(sender, *, using: str, **kwargs) -> None:
    """post_migrate: see `repair`."""
    from django.db import connections

    repair(connections[using])
