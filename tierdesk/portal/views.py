"""The customer portal: thin views over the loaders and the actions."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tierdesk.accounts.http import AuthedRequest
from tierdesk.accounts.models import Contact, Provider
from tierdesk.lib import clock
from tierdesk.portal.forms import TicketFilterForm
from tierdesk.portal.templatetags.desk import when
from tierdesk.tickets import actions
from tierdesk.tickets.access import access_ticket, timeline_for, visible_tickets
from tierdesk.tickets.errors import ActionError, NotFound
from tierdesk.tickets.forms import EscalateForm, ReasonForm, ReplyForm, TicketForm
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.queries import BY_NEWEST, window
from tierdesk.tickets.views import (
    commitment_in,
    first_due,
    form_error,
    names_for_timeline,
    promise_for,
)

ALWAYS_MANDATORY = ("subject", "description")


def _contact(request: AuthedRequest) -> Contact:
    contact = getattr(request.user, "contact", None)
    if contact is None:
        raise PermissionDenied
    return contact


def sees_organisation(contact: Contact) -> bool:
    return contact.is_org_admin or contact.organisation.members_see_all


@login_required
def ticket_list(request: AuthedRequest) -> HttpResponse:
    """The organisation's tickets (or the member's own), filtered, searched, paged by keyset."""
    contact = _contact(request)
    filters = TicketFilterForm(request.GET or None, contact=contact,
                               org_wide=sees_organisation(contact))
    qs = filters.apply(visible_tickets(request.user))
    page = window(qs, BY_NEWEST, after=request.GET.get("after"), before=request.GET.get("before"),
                  rows=lambda page: page.select_related("requester__user", "priority"))
    return render(request, "portal/ticket_list.html", {
        "page": page, "filters": filters, "contact": contact,
        "org_wide": sees_organisation(contact),
    })


@login_required
def ticket_new(request: AuthedRequest) -> HttpResponse:
    contact = _contact(request)
    mandatory = [*ALWAYS_MANDATORY, *Provider.current().mandatory_intake]
    form = TicketForm(request.POST or None, request.FILES or None, mandatory=mandatory)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = actions.create_ticket(actor=request.user, new=actions.NewTicket(
                requester=contact, subject=data["subject"], description=data["description"],
                category=data["category"], impact=data["impact"], urgency=data["urgency"],
                intake=actions.Intake(**form.intake()), attachments=data["attachments"]))
        except ActionError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _submitted(ticket))
            return redirect("portal:ticket", ref=ticket.reference)
    return render(request, "portal/ticket_new.html", {"form": form},
                  status=400 if form.errors else 200)


def _submitted(ticket: Ticket) -> str:
    """The confirmation: the reference to keep, and when we promise to respond."""
    due = first_due(promise_for(ticket, now=clock.now()))
    if due is None:
        return _("Ticket %(ref)s is open. Keep this reference.") % {"ref": ticket.reference}
    return _("Ticket %(ref)s is open. Keep this reference. We will respond by %(when)s "
             "(your time).") % {"ref": ticket.reference, "when": when(due)}


def _load(request: AuthedRequest, ref: str) -> Ticket:
    _contact(request)
    try:
        return access_ticket(request.user, ref)
    except NotFound:
        raise Http404 from None


@login_required
def ticket_detail(request: AuthedRequest, ref: str) -> HttpResponse:
    ticket = _load(request, ref)
    events = list(timeline_for(request.user, ticket))
    return render(request, "portal/ticket_detail.html", {
        "ticket": ticket, "events": events, "names": names_for_timeline(),
        "promise": promise_for(ticket, now=clock.now()),
        "commitment": commitment_in(events),
        "reply_form": ReplyForm(), "reason_form": ReasonForm(), "escalate_form": EscalateForm(),
        "escalated": any(e.code == "escalated" and (e.payload or {}).get("kind") == "customer"
                         for e in events),
    })


def _post_action(request: AuthedRequest, ref: str, run: Callable[[Ticket], str]) -> HttpResponse:
    ticket = _load(request, ref)
    try:
        done = run(ticket)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("portal:ticket", ref=ticket.reference)


@login_required
@require_POST
def ticket_reply(request: AuthedRequest, ref: str) -> HttpResponse:
    form = ReplyForm(request.POST, request.FILES)

    def run(ticket: Ticket) -> str:
        if not form.is_valid():
            raise ActionError(_("Write a message before sending."), field="body")
        actions.add_reply(actor=request.user, ticket=ticket, body=form.cleaned_data["body"],
                          attachments=form.cleaned_data["attachments"])
        return _("Your reply was added.")

    return _post_action(request, ref, run)


@login_required
@require_POST
def ticket_reopen(request: AuthedRequest, ref: str) -> HttpResponse:
    def run(ticket: Ticket) -> str:
        actions.reopen(actor=request.user, ticket=ticket, reason=request.POST.get("reason", ""))
        return _("The ticket is open again; we are on it.")

    return _post_action(request, ref, run)


@login_required
@require_POST
def ticket_escalate(request: AuthedRequest, ref: str) -> HttpResponse:
    """Seed 001: "if you are not satisfied with the progress of your case, you can escalate"."""
    def run(ticket: Ticket) -> str:
        actions.escalate_by_customer(actor=request.user, ticket=ticket,
                                     reason=request.POST.get("reason", ""), channel="portal")
        return _("Your escalation was received: a support manager is looking at the case.")

    return _post_action(request, ref, run)
