"""Views and helpers shared by the portal and the console."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation

from tierdesk.accounts.http import AuthedRequest
from tierdesk.sla.models import TARGET_LABELS, TARGET_NAMES
from tierdesk.tickets.access import access_attachment
from tierdesk.tickets.errors import ActionError, NotFound
from tierdesk.tickets.models import Category, Priority, Ticket, TicketEvent
from tierdesk.tickets.permissions import is_agent


def form_error(form: forms.Form, exc: ActionError) -> None:
    """Show an action's refusal on the field it names, else at the top of the form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


@dataclass(frozen=True)
class Promise:
    target: str
    label: str
    state: str
    due_at: datetime | None
    met_at: datetime | None
    remaining: timedelta | None
    elapsed: timedelta
    allowed: timedelta


def promise_for(ticket: Ticket, *, now: datetime) -> list[Promise]:
    """The SLA promises of a ticket in the order a customer reads them."""
    rows = {row.target: row for row in ticket.sla_rows.all()}
    promises = []
    for name in TARGET_NAMES:
        row = rows.get(name)
        if row is None:
            continue
        promises.append(Promise(
            target=name, label=str(TARGET_LABELS[name]), state=row.state, due_at=row.due_at,
            met_at=row.met_at or row.breached_at,
            remaining=(row.due_at - now) if row.due_at else None,
            elapsed=timedelta(seconds=row.elapsed_seconds),
            allowed=timedelta(seconds=row.target_seconds)))
    return promises


def first_due(promise: list[Promise], target: str = "first_response") -> datetime | None:
    """When a running target is due (the instant the customer is promised), else None."""
    return next((p.due_at for p in promise if p.target == target and p.state == "running"), None)


@dataclass(frozen=True)
class Commitment:
    """A time-frame an engineer committed to the customer (seed 000: tier 2 gives a new one)."""

    due_at: datetime
    note: str
    at: datetime
    by: str


def commitment_in(events: Iterable[TicketEvent]) -> Commitment | None:
    """The latest committed time-frame on a timeline already loaded (no query of its own)."""
    latest = None
    for ev in events:
        if ev.code == "timeframe_committed" and ev.payload.get("due_at"):
            latest = ev
    if latest is None:
        return None
    due = latest.payload["due_at"]
    return Commitment(due_at=datetime.fromisoformat(due) if isinstance(due, str) else due,
                      note=latest.body, at=latest.at, by=str(latest.actor or ""))


def names_for_timeline() -> dict[str, dict[str, str]]:
    """Codes -> names in the reader's language, for the lines of a timeline (two small queries)."""
    es = translation.get_language() == "es"
    return {
        "priority": {p.code: (p.name_es if es and p.name_es else p.name)
                     for p in Priority.objects.all()},
        "category": {c.code: (c.name_es if es and c.name_es else c.name)
                     for c in Category.objects.all()},
    }


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    if is_agent(request.user):
        return redirect("console:queue")
    if getattr(request.user, "contact", None) is not None:
        return redirect("portal:tickets")
    if request.user.is_staff:
        return redirect("admin:index")
    raise Http404


@login_required
def attachment(request: AuthedRequest, token: str) -> FileResponse:
    try:
        att = access_attachment(request.user, token)
    except NotFound:
        raise Http404 from None
    inline = att.is_image
    response = FileResponse(att.file.open("rb"), as_attachment=not inline, filename=att.filename,
                            content_type=att.content_type)
    # Never let an uploaded file run as a page of ours.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response
