"""Searching tickets by words (tierdesk.tickets.search): the full-text index on SQLite (FTS5)
and PostgreSQL (GIN on tsvector), through the API, the portal and the console alike.

Personas: alice owns the ticket (Acme's admin), bob is her colleague (a member, who sees
his own and CC'd tickets), charlie is an outsider (Globex), tess an agent.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from tierdesk.tickets import actions
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.queries import search


def check_index() -> None:
    """SQLite: once caught up, the index holds exactly the documents the view gives, and
    its words are those of its documents (else an error)."""
    if connection.vendor == "sqlite":
        from tierdesk.tickets.search import catch_up

        catch_up(connection)
        with connection.cursor() as cur:
            cur.execute("INSERT INTO tickets_search(tickets_search, rank) "
                        "VALUES ('integrity-check', 1)")
            cur.execute("SELECT rowid, subject, description, messages FROM tickets_search "
                        "ORDER BY rowid")
            indexed = cur.fetchall()
            cur.execute("SELECT id, subject, description, messages FROM tickets_search_doc "
                        "ORDER BY id")
            assert indexed == cur.fetchall()
            cur.execute("SELECT count(*) FROM tickets_search_stale")
            assert cur.fetchone()[0] == 0


def refs(client, q: str) -> list[str]:
    r = client.get("/api/v1/tickets/", {"q": q})
    assert r.status_code == 200, r.json()
    return [t["reference"] for t in r.json()["results"]]


def opened(requester, subject: str, description: str, **kw) -> Ticket:
    return actions.create_ticket(actor=requester.user, new=actions.NewTicket(
        requester=requester, subject=subject, description=description, **kw))


@pytest.fixture
def printer(people):
    """Alice's ticket, with a public reply and an internal note of its own words."""
    t = opened(people.alice, "Impresora del segundo piso atascada",
               "The Kyocera printer shows error C6000 since Monday.")
    actions.add_reply(actor=people.tess.user, ticket=t,
                      body="Replaced the fuser unit; please try again.")
    actions.add_internal_note(actor=people.tess.user, ticket=t,
                              body="Vendor escalation password is zanzibar42.")
    return t


@pytest.mark.parametrize("q", [
    "impresora",             # a word of the subject
    "IMPRESORA segundo",     # every word, in any case
    "impres",                # the start of a word
    "atascada kyocera",      # subject and description together
    "fuser",                 # a public reply
    "segundo piso",
    "fuser kyocera",         # a reply and the description
])
def test_words_find_the_ticket_for_its_owner_and_an_agent(api, printer, q):
    assert refs(api("alice"), q) == [printer.reference]
    assert refs(api("tess"), q) == [printer.reference]


@pytest.mark.parametrize("q", [
    "mpresora",              # the middle of a word is not a word
    "impresora laser",       # every word must occur
])
def test_what_is_not_a_match(api, printer, q):
    assert refs(api("tess"), q) == []


def test_accents_are_ignored_both_ways(api, people):
    t = opened(people.alice, "Configuración del túnel", "No conecta después de las 9.")
    assert refs(api("tess"), "configuracion tunel") == [t.reference]
    assert refs(api("tess"), "después") == [t.reference]
    assert refs(api("tess"), "Túnel") == [t.reference]


def test_internal_notes_find_nothing_for_anyone(api, printer):
    for who in ("alice", "bob", "charlie", "tess"):
        assert refs(api(who), "zanzibar42") == [], who
        assert refs(api(who), "vendor escalation") == [], who


def test_a_colleague_and_an_outsider_never_find_the_ticket(api, printer, open_ticket, people):
    theirs = open_ticket("Impresora de Globex", requester=people.charlie)
    assert refs(api("alice"), "impresora") == [printer.reference]  # not Globex's
    assert refs(api("bob"), "impresora") == []  # a member: his own and CC'd tickets only
    assert refs(api("charlie"), "impresora") == [theirs.reference]
    assert refs(api("charlie"), "fuser") == []
    assert refs(api("charlie"), printer.reference) == []
    # CC'd on one, bob finds it by its words.
    copied = opened(people.alice, "Impresora de la planta baja", "Toner.", cc=[people.bob])
    assert refs(api("bob"), "impresora") == [copied.reference]


def test_a_reference_or_number_still_finds_its_ticket(api, printer):
    for q in (printer.reference, str(printer.number), f"#{printer.number}"):
        assert refs(api("alice"), q) == [printer.reference]


def test_the_requester_still_matches_by_name_or_address(api, printer, open_ticket, people):
    other = open_ticket("VPN", requester=people.bob)
    assert refs(api("tess"), "alice@acme") == [printer.reference]
    assert refs(api("tess"), "Bob Memb") == [other.reference]


def test_the_index_follows_changes_and_deletions(db, printer, people):
    Ticket.objects.filter(pk=printer.pk).update(subject="Router reboot loop")
    everyone = Ticket.objects.all()
    assert list(search(everyone, "router loop")) == [Ticket.objects.get(pk=printer.pk)]
    assert list(search(everyone, "impresora")) == []
    assert list(search(everyone, "fuser")) == [Ticket.objects.get(pk=printer.pk)]
    later = actions.add_reply(actor=people.alice.user, ticket=printer, body="Now it beeps.")
    assert [t.pk for t in search(everyone, "beeps")] == [printer.pk]
    assert later.pk
    check_index()
    printer.events.all().delete()
    Ticket.objects.filter(pk=printer.pk).delete()
    assert list(search(everyone, "router")) == [] and list(search(everyone, "beeps")) == []
    check_index()


def test_the_portal_and_the_console_search_the_same_way(printer, people, client):
    client.force_login(people.alice.user)
    html = client.get(reverse("portal:tickets"), {"q": "fuser"}).content.decode()
    assert printer.reference in html
    html = client.get(reverse("portal:tickets"), {"q": "zanzibar42"}).content.decode()
    assert printer.reference not in html
    client.force_login(people.tess.user)
    html = client.get(reverse("console:queue"), {"queue": "active", "q": "kyocera"}).content.decode()
    assert printer.reference in html


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_sqlite_triggers_come_back_after_a_table_rebuild(db, printer):
    """A migration that alters a column of tickets copies the table on SQLite, and its
    triggers go with the old one: post_migrate's repair puts them back and re-indexes."""
    from tierdesk.tickets.search import SQLITE_TRIGGERS, repair

    check_index()  # caught up: nothing left stale to put the ticket back
    with connection.cursor() as cur:
        for name in SQLITE_TRIGGERS:
            cur.execute(f"DROP TRIGGER {name}")
        cur.execute("DELETE FROM tickets_search")
    assert list(search(Ticket.objects.all(), "impresora")) == []
    assert repair(connection) is True
    assert [t.pk for t in search(Ticket.objects.all(), "impresora")] == [printer.pk]
    assert repair(connection) is False


def indexed(query: str) -> list[int]:
    """SQLite: the tickets the index itself finds, as it is (no catch-up first)."""
    with connection.cursor() as cur:
        cur.execute("SELECT rowid FROM tickets_search WHERE tickets_search MATCH %s "
                    "ORDER BY rowid", [query])
        return [row[0] for row in cur.fetchall()]


def stale() -> list[int]:
    with connection.cursor() as cur:
        cur.execute("SELECT ticket_id FROM tickets_search_stale ORDER BY ticket_id")
        return [row[0] for row in cur.fetchall()]


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_sqlite_writes_mark_the_document_and_the_worker_indexes_it(db, printer, people):
    """A write only marks its ticket's document stale (whatever the ticket's size); the
    worker's task indexes it again after its hook work, and a search before the worker
    has run catches up first, so it finds what the worker would."""
    from tierdesk.tickets.tasks import run_hooks, run_hooks_pending

    check_index()
    assert stale() == []
    actions.add_internal_note(actor=people.tess.user, ticket=printer, body="Glitter inside.")
    assert stale() == []  # a private event is never in a document
    scanner = opened(people.alice, "Escáner sin respuesta", "The scanner ignores the button.")
    actions.add_reply(actor=people.tess.user, ticket=printer, body="Sparkles on the drum.")
    assert stale() == sorted([printer.pk, scanner.pk])
    assert indexed('"escaner"*') == [] and indexed('"sparkles"*') == []
    run_hooks.call_local()
    assert stale() == []
    assert indexed('"escaner"*') == [scanner.pk] and indexed('"sparkles"*') == [printer.pk]
    assert indexed('"glitter"*') == [] and indexed('"fuser"*') == [printer.pk]
    # A search before the worker: the same answer.
    actions.add_reply(actor=people.alice.user, ticket=scanner, body="Still dead, confetti.")
    assert stale() == [scanner.pk]
    assert [t.pk for t in search(Ticket.objects.all(), "confetti scanner")] == [scanner.pk]
    assert stale() == []
    # A deleted ticket leaves the index at the next catch-up (the minute's task too).
    Ticket.objects.filter(pk=scanner.pk).delete()
    assert stale() == [scanner.pk]
    run_hooks_pending.call_local()
    assert indexed('"escaner"*') == [] and stale() == []
    check_index()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_searches_by_its_indexes(db, printer):
    """The query's expressions are the indexes' own (else PostgreSQL reads every row)."""
    qs = search(Ticket.objects.all(), "fuser kyocera").values("id")
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "tickets_ticket_words" in plan and "tickets_message_words" in plan, plan
    assert [row["id"] for row in qs] == [printer.pk]
