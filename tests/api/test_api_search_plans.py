"""SQLite asks its search index in three ways (tierdesk.tickets.search._sqlite_matching):
the ids of a few matches, a look-up per row tested, or every match read once into a
temporary table. Whichever it chooses, the list's answer is the same: the tickets a plain
reference finds (every word the start of a word of the subject, the description or a
public message; accents and case ignored), of those its user may see, in the list's order.

The thresholds (FEW, SMALL, PROBE_COST) are set small here so that a desk of a few dozen
tickets takes every way; each test checks the way taken, so that it can fail.

Personas: alice owns the tickets (Acme's admin), bob is her colleague (a member: his own
and CC'd tickets), charlie an outsider (Globex, sees none of Acme's), tess an agent.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from support import T0

from tierdesk.tickets import actions
from tierdesk.tickets import search as search_module
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.queries import search
from tierdesk.tickets.search import catch_up, words_of

pytestmark = pytest.mark.skipif("connection.vendor != 'sqlite'")

PROBE = "EXISTS (SELECT 1 FROM tickets_search"
MEMBERS = '"id" + 0) IN (SELECT rowid FROM tickets_search'

# (subject, description, public reply or "", internal note or ""). "looking" in most
# tickets; "configuration" (13 letters: no prefix index) in many; accented words; a rare one.
SUBJECTS = ["VPN drops", "Printer jam", "Configuración del túnel", "Mail bounces",
            "Laptop slow", "Portal login", "Backup failed", "Scanner dead"]


_TOKEN = re.compile(r"[^\W_]+")  # the words of a document, all of them (words_of keeps 10)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def reference(tickets: list[Ticket], docs: dict[int, str], text: str) -> list[str]:
    """The plain answer: every word of `text` starts a word of the document; newest first."""
    wanted = [_fold(w) for w in words_of(text)]
    found = [t for t in tickets
             if all(any(token.startswith(w) for token in _TOKEN.findall(_fold(docs[t.pk])))
                    for w in wanted)]
    found.sort(key=lambda t: (t.created_at, t.pk), reverse=True)
    return [t.reference for t in found]


@pytest.fixture
def corpus(people):
    """36 tickets: Acme's (alice's, two of them CC'd to bob, some bob's) and Globex's
    (charlie's), created_at shuffled so that the list's order is not the ids'."""
    tickets, docs = [], {}
    for i in range(36):
        requester = (people.charlie if i % 6 == 5 else people.bob if i % 6 == 4
                     else people.alice)
        subject = f"{SUBJECTS[i % len(SUBJECTS)]} {i}"
        description = ("The configuration changed yesterday." if i % 3 else
                       "Nothing changed; it just stopped.")
        if i == 7:
            description += " Zanzibar firmware."
        cc = [people.bob] if i in (2, 9) else []
        t = actions.create_ticket(actor=requester.user, at=T0, new=actions.NewTicket(
            requester=requester, subject=subject, description=description, cc=cc))
        reply = "Looking into it." if i % 5 else ""
        if reply:
            actions.add_reply(actor=people.tess.user, ticket=t, body=reply)
        actions.add_internal_note(actor=people.tess.user, ticket=t,
                                  body="Looking glass escalation, secret.")
        Ticket.objects.filter(pk=t.pk).update(created_at=T0 + timedelta(minutes=(i * 17) % 36))
        tickets.append(Ticket.objects.get(pk=t.pk))
        docs[t.pk] = f"{subject} {description} {reply}"
    catch_up()
    return tickets, docs


def visible(tickets: list[Ticket], who: str, people) -> list[Ticket]:
    if who == "tess":
        return tickets
    contact = getattr(people, who)
    mine = [t for t in tickets if t.organisation_id == contact.organisation_id]
    if contact.is_org_admin:
        return mine
    return [t for t in mine if t.requester_id == contact.pk or t.cc.filter(pk=contact.pk).exists()]


def warm(api, who: str):
    """A persona's client whose token's last use is written (once a minute at most)."""
    client = api(who)
    client.get("/api/v1/tickets/")
    return client


def listed(client, text: str, *, page_size: int = 4, extra: str = "") -> tuple[list[str], list[str]]:
    """Every page of the list for `text` (by its cursors), and the keys queries' SQL."""
    url = f"/api/v1/tickets/?{urlencode({'q': text})}&page_size={page_size}{extra}"
    found: list[str] = []
    keys: list[str] = []
    counts: set[int] = set()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    while True:
        assert response.status_code == 200, response.json()
        rows = [t["reference"] for t in response.json()["results"]]
        found += rows
        keys += [q["sql"] for q in ctx.captured_queries if "tickets_search" in q["sql"]]
        if rows:
            counts.add(len(ctx.captured_queries))
        nxt = response.json()["next"]
        if not nxt:
            break
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(nxt)
    assert len(counts) <= 1, counts  # the same number of queries on every page
    return found, keys


@pytest.fixture
def thresholds(monkeypatch):
    """Few matches are more than 3; a filtered list is small up to 20 rows."""
    monkeypatch.setattr(search_module, "FEW", 3)
    monkeypatch.setattr(search_module, "SMALL", 20)

    def cost(value: int) -> None:
        monkeypatch.setattr(search_module, "PROBE_COST", value)

    return cost


WORDS = ["looking", "look", "LOOKING into", "configuration", "configur", "configuracion",
         "túnel", "tunel del", "zanzibar", "printer", "it", "escalation", "secret"]


@pytest.mark.parametrize("who", ["tess", "alice", "bob", "charlie"])
@pytest.mark.parametrize("text", WORDS)
def test_every_way_gives_the_reference_answer(api, people, corpus, thresholds, who, text):
    tickets, docs = corpus
    client = warm(api, who)
    expected = reference(visible(tickets, who, people), docs, text)
    answers = {}
    for cost in (0, 10**9):  # a look-up per row wherever allowed; never
        thresholds(cost)
        answers[cost], keys = listed(client, text)
        sql = " ".join(keys)
        long_or_short = any(len(w) not in search_module.PREFIXES for w in words_of(text))
        many = len(reference(tickets, docs, text)) > 3
        if cost == 0 and many and not long_or_short and who != "alice":
            # tess's list walks the desk; bob's and charlie's are small (SMALL), alice's not
            assert PROBE in sql, (text, who)
        if cost == 10**9 and many:
            assert MEMBERS in sql and PROBE not in sql, (text, who)
    assert answers[0] == answers[10**9] == expected, (text, who)


def test_the_outsider_finds_none_of_acmes(api, people, corpus, thresholds):
    tickets, _ = corpus
    theirs = {t.reference for t in tickets if t.requester_id == people.charlie.pk}
    for cost in (0, 10**9):
        thresholds(cost)
        found, _ = listed(warm(api, "charlie"), "looking")
        assert found and set(found) <= theirs


def test_internal_notes_are_never_found(api, corpus, thresholds):
    for cost in (0, 10**9):
        thresholds(cost)
        for who in ("tess", "alice", "bob", "charlie"):
            assert listed(warm(api, who), "glass")[0] == []


@pytest.mark.parametrize("extra", ["&ordering=created_at", "&status=new,open", "&requester={bob}",
                                   "&organisation={acme}"])
def test_filters_and_orders_give_the_reference_answer(api, people, corpus, thresholds, extra):
    tickets, docs = corpus
    extra = extra.format(bob=people.bob.pk, acme=people.alice.organisation_id)
    client = warm(api, "tess")
    answers = []
    for cost in (0, 10**9):
        thresholds(cost)
        answers.append(listed(client, "looking", page_size=3, extra=extra)[0])
    plain = listed(client, "", page_size=100, extra=extra)[0]
    expected = set(reference(tickets, docs, "looking"))
    assert answers[0] == answers[1] == [ref for ref in plain if ref in expected]


def test_a_large_filtered_list_is_not_tested_row_by_row(api, people, corpus, thresholds):
    """More rows than SMALL in a filtered list: each would be looked up before the sort."""
    thresholds(0)
    assert Ticket.objects.filter(organisation=people.alice.organisation).count() > 20
    found, keys = listed(warm(api, "alice"), "looking")
    assert found and all(PROBE not in sql for sql in keys) and any(MEMBERS in sql for sql in keys)


def test_a_list_read_by_its_positions_takes_no_walk(corpus, thresholds):
    """The portal's and the console's lists read up to 1,000 positions of their matches
    first (tickets.queries.window), in no order: the whole desk, not walked, is never
    tested row by row; the same answer."""
    tickets, docs = corpus
    thresholds(0)
    everyone = Ticket.objects.all()
    with CaptureQueriesContext(connection) as ctx:
        found = search(everyone, "looking").order_by("-created_at", "-id")
        refs = [t.reference for t in found]
    assert all(PROBE not in q["sql"] for q in ctx.captured_queries)
    assert any(MEMBERS in q["sql"] for q in ctx.captured_queries)
    assert refs == reference(tickets, docs, "looking")
    walked = [t.reference for t in search(everyone, "looking", walked="-created_at")
              .order_by("-created_at", "-id")]
    assert walked == refs




def test_nothing_visible_is_nothing_found(corpus, thresholds):
    """A user who may see nothing (Ticket.objects.none()) finds nothing, whatever the way."""
    thresholds(0)
    assert list(search(Ticket.objects.none(), "looking", walked="-created_at")) == []
    assert list(search(Ticket.objects.none(), "looking")) == []


@pytest.mark.parametrize("few", [3, 1])
def test_the_requesters_found_by_name_or_address(api, people, corpus, monkeypatch, few):
    """The requesters whose name or address holds the text are read with the index's first
    read, as ids (up to FEW), else asked in the list's query: the same answer."""
    tickets, _ = corpus
    monkeypatch.setattr(search_module, "FEW", few)
    client = warm(api, "tess")
    with CaptureQueriesContext(connection) as ctx:
        found, _ = listed(client, "acme.test", page_size=100)
    keys = [q["sql"] for q in ctx.captured_queries if "ORDER BY" in q["sql"]
            and '"tickets_ticket"."created_at" DESC' in q["sql"]]
    assert keys and all(("accounts_contact" in sql) == (few == 1) for sql in keys), keys
    acme = {people.alice.pk, people.bob.pk}
    expected = sorted((t for t in tickets if t.requester_id in acme),
                      key=lambda t: (t.created_at, t.pk), reverse=True)
    assert found == [t.reference for t in expected]
