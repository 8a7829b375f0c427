"""Read-side helpers: list querysets with a fixed number of queries, whatever the page size."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet

from tierdesk.sla.models import TicketSLA
from tierdesk.tickets.access import parse_reference
from tierdesk.tickets.models import Ticket

PAGE_SIZE = 25


def for_list(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """What a list row shows: the related names and the three SLA targets, prefetched."""
    return qs.select_related(
        "organisation", "requester__user", "priority", "category", "assignee__user", "team",
    ).prefetch_related(Prefetch("sla_rows", queryset=TicketSLA.objects.order_by("target")))


def search(qs: QuerySet[Ticket], text: str) -> QuerySet[Ticket]:
    """By reference or case number, else by words in the subject or the requester."""
    text = text.strip()
    if not text:
        return qs
    number = parse_reference(text)
    if number is not None:
        return qs.filter(number=number)
    return qs.filter(
        Q(subject__icontains=text) | Q(requester__user__email__icontains=text)
        | Q(requester__user__full_name__icontains=text)
    )


def paginate(qs: QuerySet[Ticket], page: str | None, *, per_page: int = PAGE_SIZE) -> Page:
    # Counting a large table is the slowest part of a list; the paginator does it once.
    return Paginator(qs, per_page).get_page(page)
