"""The list endpoints issue a fixed number of queries, however many rows they return."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tierdesk.tickets.search import catch_up

# The token; the page's keys, its rows and their SLA rows (tierdesk/api/queries.py). The
# provider's time zone is not read for a token's request (the API answers in UTC).
TICKET_LIST_QUERIES = 4


def count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
        assert r.status_code == 200, r.json()
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who,url", [
    ("tess", "/api/v1/tickets/"),
    ("tess", "/api/v1/tickets/?status=active&assignee=none&ordering=created_at"),
    ("alice", "/api/v1/tickets/"),
    ("bob", "/api/v1/tickets/?q=VPN"),
    ("tess", "/api/v1/organisations/"),
    ("tess", "/api/v1/contacts/"),
    ("tess", "/api/v1/categories/"),
])
def test_lists_do_not_grow_with_rows(api, people, open_ticket, who, url):
    client = api(who)
    open_ticket("VPN first", requester=people.bob)
    client.get(url)  # the first call writes the token's last use
    few = count(client, url)
    for i in range(12):
        open_ticket(f"VPN more {i}", requester=people.bob if i % 2 else people.alice,
                    category=None)
    catch_up()  # the worker's, after the actions' hook work (a search's own otherwise)
    many = count(client, url)
    assert many == few, f"{url}: {few} queries with 1 row, {many} with 13"


def test_ticket_list_query_budget(api, open_ticket):
    client = api("tess")
    for i in range(5):
        open_ticket(f"ticket {i}")
    client.get("/api/v1/tickets/")
    assert count(client, "/api/v1/tickets/") == TICKET_LIST_QUERIES
