"""Pages issue a fixed number of queries, however many rows, events or pages they show."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from support import PASSWORD

from tierdesk.lib import clock
from tierdesk.tickets import actions


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


QUEUE = reverse("console:queue")
LIST_PAGES = [
    ("alice", reverse("portal:tickets")),
    ("alice", reverse("portal:tickets") + "?status=active&priority=medium&q=more"),
    ("bob", reverse("portal:tickets")),
    ("tess", QUEUE),
    *[("tess", f"{QUEUE}?queue={q}") for q in ("mine", "team", "unassigned", "at_risk",
                                                 "breached", "waiting", "escalated", "done")],
    ("tess", QUEUE + "?sort=newest"),
    ("tess", QUEUE + "?q=more"),
    ("lea", reverse("console:manager")),
]


@pytest.mark.parametrize("who,url", LIST_PAGES)
def test_list_pages_do_not_grow_with_rows(open_ticket, people, who, url):
    client = Client()
    client.login(email=getattr(people, who).user.email, password=PASSWORD)
    now = clock.now()

    def more(n, start):
        for i in range(start, start + n):
            t = open_ticket(f"more {i}", requester=people.bob if i % 2 else people.alice,
                            at=now - timedelta(hours=2 * i))
            actions.assign(actor=people.tess.user, ticket=t, agent=people.tess, team=people.team)
            if i % 3 == 0:
                actions.escalate_by_customer(actor=t.requester.user, ticket=t, reason="slow")
            if i % 4 == 0:
                actions.change_status(actor=people.tess.user, ticket=t, status="waiting_customer")
            if i % 5 == 0:
                actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="ok")

    more(8, 0)  # a ticket in every queue: at risk, breached, waiting, escalated, resolved
    few = count_queries(client, url)
    more(30, 8)  # more than a page: the second page must cost what the first did
    many = count_queries(client, url)
    assert many == few, f"{url}: {few} queries with 8 tickets, {many} with 38"


@pytest.mark.parametrize("who,view", [("tess", "console:ticket"), ("alice", "portal:ticket")])
def test_ticket_page_queries_are_bounded(open_ticket, people, who, view):
    client = Client()
    client.login(email=getattr(people, who).user.email, password=PASSWORD)
    t = open_ticket(at=clock.now())
    url = reverse(view, args=[t.reference])
    few = count_queries(client, url)
    for i in range(10):
        actions.add_reply(actor=people.tess.user, ticket=t, body=f"reply {i}")
        actions.add_internal_note(actor=people.tess.user, ticket=t, body=f"note {i}")
    actions.commit_timeframe(actor=people.lea.user, ticket=t, note="soon",
                             due_at=clock.now() + timedelta(days=1))
    many = count_queries(client, url)
    assert many == few
