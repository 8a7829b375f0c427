"""Read-side helpers: list querysets with a fixed number of queries, whatever the table size.

Two things make a list slow on a large table, and both are avoided here:

- Django's Paginator counts every matching row (COUNT over 100,000 tickets) and
  pages with OFFSET, which reads and throws away every row before the page. A
  `Window` pages by keyset instead (WHERE the sort key is past the last row
  shown, LIMIT n+1), so page 400 costs what page 1 does, and counts at most
  `COUNT_CAP` rows ("1,000+").
- Related rows are fetched with select_related and one prefetch per page.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tierdesk.accounts.models import Contact
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets.access import parse_reference
from tierdesk.tickets.lifecycle import ACTIVE, DONE, WAITING
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.search import matching

PAGE_SIZE = 25
COUNT_CAP = 1000

ACTIVE_STATUSES = sorted(s.value for s in ACTIVE)
WAITING_STATUSES = sorted(s.value for s in WAITING)
DONE_STATUSES = sorted(s.value for s in DONE)


def for_list(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """What a list row shows: the related names and the three SLA targets, prefetched."""
    return qs.select_related(
        "organisation", "requester__user", "priority", "category__parent", "assignee__user",
        "team",
    ).prefetch_related(Prefetch("sla_rows", queryset=TicketSLA.objects.order_by("target")))


def search(qs: QuerySet[Ticket], text: str, *, walked: str = "") -> QuerySet[Ticket]:
    """By reference or case number, else by words (whole words or their start) of the
    subject, the description and the public messages (`tickets.search`), or of the
    requester's name or address. Never widens `qs`: it narrows what its user may see.

    `walked`: the order's first key ("-created_at") when the caller pages `qs` by ORDER BY
    … LIMIT in the order of an index of the ticket table (the API's list), not by reading
    its positions first (`window`); with `qs`, it chooses how the words are looked up
    (`tickets.search.matching`), never what they find."""
    text = text.strip()
    if not text:
        return qs
    number = parse_reference(text)
    if number is not None:
        return qs.filter(number=number)
    # The requesters are looked up apart (a small table), not joined: joined, the planner
    # may drive the whole query from the contacts and sort every ticket they opened.
    requesters = Contact.objects.filter(
        Q(user__email__icontains=text) | Q(user__full_name__icontains=text)).values("pk")
    found = matching(text, within=qs, walked=walked, or_requesters=requesters)
    return qs.filter(Q(requester_id__in=requesters) if found is None else found)


# --------------------------------------------------------------------------- keyset paging


@dataclass(frozen=True)
class Key:
    """One column of a sort order. Nullable columns sort their NULLs last."""

    field: str
    descending: bool = False
    nullable: bool = False

    def order(self, *, backwards: bool = False) -> OrderBy:
        """The ORDER BY term; backwards everything flips, NULLs included."""
        expr = F(self.field)
        descending = self.descending != backwards
        nulls = ({"nulls_first": True} if backwards else {"nulls_last": True}) if self.nullable else {}
        return expr.desc(**nulls) if descending else expr.asc(**nulls)


# The orders lists use. The last key of each is the primary key: a position is exact,
# and `window` finds the rows of a page by it.
BY_DUE = (Key("next_due_at", nullable=True), Key("id"))
BY_NEWEST = (Key("created_at", descending=True), Key("id", descending=True))
BY_OLDEST = (Key("created_at"), Key("id"))


def _past(keys: tuple[Key, ...], values: list[Any], *, backwards: bool) -> Q:
    """Rows strictly after (or, backwards, before) the position `values` in the order `keys`.

    The lexicographic rule: past on the first key, or equal on it and past on
    the rest. With NULLs last, every non-NULL value comes before NULL.
    """
    if not keys:
        return Q(pk__in=[])  # equal on every key: the row itself, not past it
    key, value = keys[0], values[0]
    later = key.descending != backwards  # does "past" mean a smaller value?
    if value is None:
        # NULL is the end of the order: forwards nothing is past it but other NULLs;
        # backwards every non-NULL value is before it.
        past_here = Q() if not backwards else Q(**{f"{key.field}__isnull": False})
        equal = Q(**{f"{key.field}__isnull": True})
        rest = _past(keys[1:], values[1:], backwards=backwards)
        return (equal & rest) if not backwards else (past_here | (equal & rest))
    past_here = Q(**{f"{key.field}__{'lt' if later else 'gt'}": value})
    if key.nullable and not backwards:
        past_here |= Q(**{f"{key.field}__isnull": True})
    equal = Q(**{key.field: value})
    return past_here | (equal & _past(keys[1:], values[1:], backwards=backwards))


def _encode(values: list[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, keys: tuple[Key, ...]) -> list[Any] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(keys):
            return None
        decoded = [datetime.fromisoformat(v) if isinstance(v, str) else v for v in values]
    except (ValueError, TypeError):
        return None
    if not all(v is None or type(v) in (int, datetime) for v in decoded):
        return None
    return decoded


@dataclass
class Window:
    """One page of a list, with cursors to the pages either side and a capped count."""

    rows: list[Ticket]
    next_cursor: str | None
    prev_cursor: str | None
    count: int
    count_capped: bool
    is_first: bool

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def window(qs: QuerySet[Ticket], keys: tuple[Key, ...], *, after: str | None = None,
           before: str | None = None, size: int = PAGE_SIZE,
           rows: Callable[[QuerySet[Ticket]], QuerySet[Ticket]] = for_list) -> Window:
    """The page of `qs` (in the order `keys`) just after `after`, or just before `before`.

    At most four queries whatever the table size:

    1. the positions (sort keys and primary key) of up to COUNT_CAP + 1 matches, in
       no order, from the ticket table alone: the database filters by its best
       index. It is also the count, capped ("more than 1,000").
    2. Only if there were more: the page's positions past the cursor, ordered in
       SQL. Matches are then dense, so walking the sort index stops soon. With
       fewer, they are ordered here, and the planner cannot be tempted to walk the
       sort index past rows that never match.
    3. The page's rows with what `rows` joins to them, by primary key (with those
       joins in the queries above, SQLite may start from a small joined table and
       sort the whole ticket table).
    4. The SLA rows that `rows` prefetches.
    """
    assert keys[-1].field == "id", "the last key must be the primary key"
    fields = [k.field for k in keys]
    first = _positions(qs.order_by(), fields, COUNT_CAP + 1)
    count = len(first)
    position = _decode(after or before or "", keys)
    backwards = position is not None and not after
    if count <= COUNT_CAP:
        every = sorted(first, key=functools.cmp_to_key(functools.partial(_compare, keys)))
        if position is None:
            past = every
        else:
            stored = _as_stored(position, qs.db)
            if backwards:
                past = [v for v in every if _compare(keys, v, stored) < 0][::-1]
            else:
                past = [v for v in every if _compare(keys, v, stored) > 0]
        values = [_as_read(v, qs.db) for v in past[:size + 1]]
    else:
        page = qs if position is None else qs.filter(_past(keys, position, backwards=backwards))
        values = [list(v) for v in page.order_by(*[k.order(backwards=backwards) for k in keys])
                  .values_list(*fields)[:size + 1]]
    more = len(values) > size
    values = values[:size]
    if backwards:
        values.reverse()
    found = {t.pk: t for t in rows(Ticket.objects.filter(pk__in=[v[-1] for v in values]))}
    tickets = [found[v[-1]] for v in values if v[-1] in found]
    has_next = more if not backwards else True
    has_prev = (position is not None) if not backwards else more
    return Window(
        rows=tickets,
        next_cursor=_encode(values[-1]) if values and has_next else None,
        prev_cursor=_encode(values[0]) if values and has_prev else None,
        count=min(count, COUNT_CAP), count_capped=count > COUNT_CAP,
        is_first=not has_prev,
    )


def _positions(qs: QuerySet[Ticket], fields: list[str], limit: int) -> list[list[Any]]:
    """The sort keys and primary keys of up to `limit` rows, as the driver reads them.

    Without Django's converters: a thousand datetimes through them cost more than the
    query (about 8 ms against 1.5 ms on SQLite). The driver's values compare as the
    instants do (SQLite's naive instants are all in the connection's zone, UTC); the
    page's few rows are made aware by `_as_read`, and a cursor is compared in the
    driver's form (`_as_stored`).
    """
    try:
        sql, params = qs.values_list(*fields)[:limit].query.sql_with_params()
    except EmptyResultSet:  # nothing can match (`none()`, a search whose lists are empty)
        return []
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        return [list(row) for row in cursor.fetchall()]


def _as_stored(values: list[Any], db: str) -> list[Any]:
    connection = connections[db]
    if connection.features.supports_timezones:
        return values
    return [timezone.make_naive(v, connection.timezone)
            if isinstance(v, datetime) and timezone.is_aware(v) else v for v in values]


def _as_read(values: list[Any], db: str) -> list[Any]:
    zone = connections[db].timezone
    out = []
    for v in values:
        if isinstance(v, str):  # a driver without the datetime converter
            v = parse_datetime(v) or v
        if isinstance(v, datetime) and timezone.is_naive(v):
            v = timezone.make_aware(v, zone)
        out.append(v)
    return out


def _compare(keys: tuple[Key, ...], a: list[Any], b: list[Any]) -> int:
    """The order of `keys` in Python, as the SQL one: NULLs last, descending keys reversed."""
    for key, x, y in zip(keys, a, b, strict=True):
        if x == y:
            continue
        if x is None or y is None:
            return 1 if x is None else -1
        before = x < y
        return (1 if before else -1) if key.descending else (-1 if before else 1)
    return 0
