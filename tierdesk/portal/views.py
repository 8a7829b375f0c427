"""The customer portal: thin views over the loaders and the actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tierdesk.accounts.http import AuthedRequest
from tierdesk.lib import clock
from tierdesk.tickets import actions
from tierdesk.tickets.access import access_ticket, timeline_for, visible_tickets
from tierdesk.tickets.errors import ActionError, NotFound
from tierdesk.tickets.forms import ReasonForm, ReplyForm, TicketForm
from tierdesk.tickets.lifecycle import Status
from tierdesk.tickets.models import Priority
from tierdesk.tickets.queries import for_list, paginate, search
from tierdesk.tickets.views import form_error, promise_for

MANDATORY = ("subject", "description")


def _contact(request: AuthedRequest):
    contact = getattr(request.user, "contact", None)
    if contact is None:
        raise PermissionDenied
    return contact


@login_required
def ticket_list(request: AuthedRequest) -> HttpResponse:
    contact = _contact(request)
    qs = visible_tickets(request.user)
    status = request.GET.get("status", "")
    if status == "active":
        qs = qs.exclude(status__in=[Status.RESOLVED, Status.CLOSED])
    elif status in Status.values:
        qs = qs.filter(status=status)
    priority = request.GET.get("priority", "")
    if priority:
        qs = qs.filter(priority__code=priority)
    mine = request.GET.get("mine") == "1"
    if mine:
        qs = qs.filter(requester=contact)
    qs = search(qs, request.GET.get("q", ""))
    page = paginate(for_list(qs.order_by("-created_at", "-id")), request.GET.get("page"))
    return render(request, "portal/ticket_list.html", {
        "page": page, "statuses": Status.choices, "status": status, "mine": mine,
        "priorities": Priority.objects.filter(is_active=True), "priority": priority,
        "q": request.GET.get("q", ""), "contact": contact,
    })


@login_required
def ticket_new(request: AuthedRequest) -> HttpResponse:
    contact = _contact(request)
    form = TicketForm(request.POST or None, request.FILES or None, mandatory=MANDATORY)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = actions.create_ticket(actor=request.user, new=actions.NewTicket(
                requester=contact, subject=data["subject"], description=data["description"],
                category=data["category"], impact=data["impact"], urgency=data["urgency"],
                intake=actions.Intake(**{k: data[k] for k in (
                    "started_at", "users_affected", "machines_affected", "location",
                    "troubleshooting_done", "business_impact", "business_stopped",
                    "affected_accounts", "environment", "product_build", "callback_phone")
                    if data.get(k) not in (None, "")}),
                attachments=data["attachments"]))
        except ActionError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Ticket %(ref)s is open. Keep this reference.") % {
                "ref": ticket.reference})
            return redirect("portal:ticket", ref=ticket.reference)
    return render(request, "portal/ticket_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def ticket_detail(request: AuthedRequest, ref: str) -> HttpResponse:
    _contact(request)
    try:
        ticket = access_ticket(request.user, ref)
    except NotFound:
        raise Http404 from None
    return render(request, "portal/ticket_detail.html", {
        "ticket": ticket,
        "events": timeline_for(request.user, ticket),
        "promise": promise_for(ticket, now=clock.now()),
        "reply_form": ReplyForm(), "reason_form": ReasonForm(),
    })


def _post_action(request: AuthedRequest, ref: str, run) -> HttpResponse:
    _contact(request)
    try:
        ticket = access_ticket(request.user, ref)
    except NotFound:
        raise Http404 from None
    try:
        run(ticket)
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("portal:ticket", ref=ticket.reference)


@login_required
@require_POST
def ticket_reply(request: AuthedRequest, ref: str) -> HttpResponse:
    form = ReplyForm(request.POST, request.FILES)

    def run(ticket):
        if not form.is_valid():
            raise ActionError(_("Write a message before sending."), field="body")
        actions.add_reply(actor=request.user, ticket=ticket, body=form.cleaned_data["body"],
                          attachments=form.cleaned_data["attachments"])
        messages.success(request, _("Your reply was added."))

    return _post_action(request, ref, run)


@login_required
@require_POST
def ticket_reopen(request: AuthedRequest, ref: str) -> HttpResponse:
    def run(ticket):
        actions.reopen(actor=request.user, ticket=ticket, reason=request.POST.get("reason", ""))
        messages.success(request, _("The ticket is open again; we are on it."))

    return _post_action(request, ref, run)
