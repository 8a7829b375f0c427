"""Keyset paging: every row once, in order, both ways, NULLs last, whatever the cursor."""

from datetime import timedelta

import pytest
from support import T0

from tierdesk.tickets.models import Ticket
from tierdesk.tickets.queries import BY_DUE, BY_NEWEST, window


@pytest.fixture
def tickets(open_ticket):
    made = [open_ticket(f"t{i}", at=T0 + timedelta(minutes=i)) for i in range(11)]
    # Ties and NULLs, the hard cases: three share a due instant, four have none.
    for i, t in enumerate(made):
        due = None if i % 3 == 0 else T0 + timedelta(hours=i % 4)
        Ticket.objects.filter(pk=t.pk).update(next_due_at=due)
    return Ticket.objects.all()


def walk(qs, keys, size):
    pages, page = [], window(qs, keys, size=size)
    while True:
        pages.append([t.pk for t in page])
        if not page.next_cursor:
            return pages, page
        page = window(qs, keys, after=page.next_cursor, size=size)


@pytest.fixture(params=["ordered here", "ordered in SQL"])
def path(request, monkeypatch):
    """Few matches are ordered in Python, many in SQL: both must give the same pages."""
    from tierdesk.tickets import queries

    if request.param == "ordered in SQL":
        monkeypatch.setattr(queries, "COUNT_CAP", 2)
    return request.param


@pytest.mark.parametrize("keys", [BY_DUE, BY_NEWEST])
@pytest.mark.parametrize("size", [1, 3, 4, 11, 20])
def test_forwards_then_backwards(tickets, keys, size, path):
    expected = list(tickets.order_by(*[k.order() for k in keys]).values_list("pk", flat=True))
    pages, last = walk(tickets, keys, size)
    assert [pk for p in pages for pk in p] == expected
    back = [[t.pk for t in last]]
    page = last
    while page.prev_cursor:
        page = window(tickets, keys, before=page.prev_cursor, size=size)
        back.insert(0, [t.pk for t in page])
    assert back == pages
    assert page.is_first


def test_nulls_come_last(tickets, path):
    rows = list(window(tickets, BY_DUE, size=20))
    dues = [t.next_due_at for t in rows]
    assert dues.index(None) == len([d for d in dues if d is not None])
    assert all(d is None for d in dues[dues.index(None):])


@pytest.mark.parametrize("cursor", ["", "x", "W10", "WyJhIl0", "eyJhIjogMX0", "WzEsMiwzXQ"])
def test_a_foreign_cursor_is_the_first_page(tickets, cursor, path):
    assert [t.pk for t in window(tickets, BY_DUE, after=cursor, size=4)] == \
        [t.pk for t in window(tickets, BY_DUE, size=4)]


def test_the_count_is_capped(tickets, monkeypatch):
    from tierdesk.tickets import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 5)
    page = window(tickets, BY_DUE, size=3)
    assert (page.count, page.count_capped) == (5, True)
