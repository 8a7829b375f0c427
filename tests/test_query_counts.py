"""List pages issue a fixed number of queries, however many rows they show."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from support import PASSWORD


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who,url", [
    ("alice", reverse("portal:tickets")),
    ("tess", reverse("console:queue")),
    ("tess", reverse("console:queue") + "?queue=unassigned"),
    ("tess", reverse("console:queue") + "?queue=breached"),
])
def test_list_pages_do_not_grow_with_rows(open_ticket, people, who, url):
    client = Client()
    client.login(email=getattr(people, who).user.email, password=PASSWORD)
    open_ticket("first")
    few = count_queries(client, url)
    for i in range(12):
        open_ticket(f"more {i}", category=None)
    many = count_queries(client, url)
    assert many == few, f"{url}: {few} queries with 1 row, {many} with 13"


def test_ticket_page_queries_are_bounded(open_ticket, people):
    from tierdesk.tickets import actions

    client = Client()
    client.login(email=people.tess.user.email, password=PASSWORD)
    t = open_ticket()
    few = count_queries(client, reverse("console:ticket", args=[t.reference]))
    for i in range(10):
        actions.add_reply(actor=people.tess.user, ticket=t, body=f"reply {i}")
    many = count_queries(client, reverse("console:ticket", args=[t.reference]))
    assert many == few
