"""The agent console: queues and the ticket page, thin views over loaders and actions."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tierdesk.accounts.http import AuthedRequest
from tierdesk.accounts.models import Agent, Contact, Team
from tierdesk.lib import clock
from tierdesk.sla.adapter import explain_ticket
from tierdesk.tickets import actions
from tierdesk.tickets.access import access_ticket, timeline_for
from tierdesk.tickets.errors import ActionError, NotFound
from tierdesk.tickets.forms import (
    PhoneTicketForm,
    ReasonForm,
    ReplyForm,
    ResolveForm,
    StatusForm,
    TimeForm,
)
from tierdesk.tickets.lifecycle import ACTIVE, WAITING, Status
from tierdesk.tickets.models import Category, Channel, Priority, Ticket
from tierdesk.tickets.permissions import is_agent
from tierdesk.tickets.queries import for_list, paginate, search
from tierdesk.tickets.views import form_error, promise_for

QUEUES = {
    "mine": gettext_lazy("Mine"),
    "team": gettext_lazy("My teams"),
    "unassigned": gettext_lazy("Unassigned"),
    "at_risk": gettext_lazy("At risk"),
    "breached": gettext_lazy("Breached"),
    "waiting": gettext_lazy("Waiting"),
    "escalated": gettext_lazy("Escalated"),
    "active": gettext_lazy("All open"),
    "done": gettext_lazy("Resolved and closed"),
}


def agent_required(view):
    @login_required
    @wraps(view)
    def wrapper(request: AuthedRequest, *args, **kwargs):
        if not is_agent(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def queue_queryset(agent: Agent, queue: str):
    qs = Ticket.objects.all()
    active = [s.value for s in ACTIVE]
    if queue == "mine":
        return qs.filter(assignee=agent, status__in=active)
    if queue == "team":
        return qs.filter(team__in=agent.teams.all(), status__in=active)
    if queue == "unassigned":
        return qs.filter(assignee__isnull=True, status__in=active)
    if queue == "at_risk":
        return qs.filter(status__in=active, sla_rows__state="running",
                         sla_rows__warn_at__lte=clock.now()).distinct()
    if queue == "breached":
        return qs.filter(status__in=active, sla_rows__state="breached").distinct()
    if queue == "waiting":
        return qs.filter(status__in=[s.value for s in WAITING])
    if queue == "escalated":
        return qs.filter(status__in=active, tier__gt=1)
    if queue == "done":
        return qs.filter(status__in=[Status.RESOLVED, Status.CLOSED])
    return qs.filter(status__in=active)


@agent_required
def queue(request: AuthedRequest) -> HttpResponse:
    agent = request.user.agent
    name = request.GET.get("queue", "active")
    if name not in QUEUES:
        name = "active"
    qs = search(queue_queryset(agent, name), request.GET.get("q", ""))
    # The next deadline first; tickets with no running clock after, newest first.
    qs = qs.order_by(F("next_due_at").asc(nulls_last=True), "-created_at")
    page = paginate(for_list(qs), request.GET.get("page"))
    return render(request, "console/queue.html", {
        "page": page, "queues": QUEUES, "queue": name, "q": request.GET.get("q", ""),
        "now": clock.now(),
    })


@agent_required
def ticket_detail(request: AuthedRequest, ref: str) -> HttpResponse:
    try:
        ticket = access_ticket(request.user, ref)
    except NotFound:
        raise Http404 from None
    now = clock.now()
    others = (Ticket.objects.filter(requester_id=ticket.requester_id).exclude(pk=ticket.pk)
              .select_related("priority").order_by("-created_at")[:10])
    return render(request, "console/ticket_detail.html", {
        "ticket": ticket,
        "events": timeline_for(request.user, ticket),
        "promise": promise_for(ticket, now=now),
        "explanation": explain_ticket(ticket, now=now).render_text(),
        "others": others,
        "reply_form": ReplyForm(), "note_form": ReplyForm(prefix="note"),
        "status_form": StatusForm(initial={"status": ticket.status}),
        "resolve_form": ResolveForm(), "reason_form": ReasonForm(), "time_form": TimeForm(),
        "agents": Agent.objects.select_related("user").filter(user__is_active=True)
                  .order_by("tier", "user__full_name"),
        "teams": Team.objects.all(),
        "priorities": Priority.objects.filter(is_active=True),
        "categories": Category.objects.filter(is_active=True).select_related("parent"),
        "statuses": Status,
    })


def _ticket_post(request: AuthedRequest, ref: str, run) -> HttpResponse:
    try:
        ticket = access_ticket(request.user, ref)
    except NotFound:
        raise Http404 from None
    try:
        done = run(ticket)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        if done:
            messages.success(request, done)
    return redirect("console:ticket", ref=ticket.reference)


def _one(model, pk: str | None, *, field: str):
    if not pk:
        return None
    try:
        return model.objects.get(pk=pk)
    except (model.DoesNotExist, ValueError):
        raise ActionError(_("That choice is not valid."), field=field) from None


@agent_required
@require_POST
def ticket_act(request: AuthedRequest, ref: str, verb: str) -> HttpResponse:
    """One endpoint per verb of the ticket page; each calls exactly one action."""
    user = request.user
    post = request.POST

    def reply(ticket):
        form = ReplyForm(post, request.FILES)
        if not form.is_valid():
            raise ActionError(_("Write a message before sending."), field="body")
        actions.add_reply(actor=user, ticket=ticket, body=form.cleaned_data["body"],
                          attachments=form.cleaned_data["attachments"])
        return _("Reply sent.")

    def note(ticket):
        form = ReplyForm(post, request.FILES, prefix="note")
        if not form.is_valid():
            raise ActionError(_("Write the note first."), field="body")
        actions.add_internal_note(actor=user, ticket=ticket, body=form.cleaned_data["body"],
                                  attachments=form.cleaned_data["attachments"])
        return _("Internal note added.")

    def status(ticket):
        actions.change_status(actor=user, ticket=ticket, status=post.get("status", ""))
        return _("Status changed.")

    def resolve(ticket):
        actions.resolve(actor=user, ticket=ticket, code=post.get("code", ""),
                        note=post.get("note", ""))
        return _("Resolved.")

    def reopen(ticket):
        actions.reopen(actor=user, ticket=ticket, reason=post.get("reason", ""))
        return _("Reopened.")

    def priority(ticket):
        actions.change_priority(actor=user, ticket=ticket,
                                priority=_one(Priority, post.get("priority"), field="priority"),
                                reason=post.get("reason", ""))
        return _("Priority changed.")

    def category(ticket):
        actions.change_category(actor=user, ticket=ticket,
                                category=_one(Category, post.get("category"), field="category"))
        return _("Category changed.")

    def assign(ticket):
        actions.assign(actor=user, ticket=ticket,
                       agent=_one(Agent, post.get("agent"), field="assignee"),
                       team=_one(Team, post.get("team"), field="team"))
        return _("Assignment changed.")

    def take(ticket):
        actions.assign(actor=user, ticket=ticket, agent=user.agent, team=ticket.team)
        return _("The ticket is yours.")

    def tier(ticket):
        try:
            new_tier = int(post.get("tier", ""))
        except ValueError:
            raise ActionError(_("Tiers are 1, 2 and 3."), field="tier") from None
        actions.change_tier(actor=user, ticket=ticket, tier=new_tier,
                            reason=post.get("reason", ""))
        return _("Tier changed.")

    def plan(ticket):
        actions.post_resolution_plan(actor=user, ticket=ticket, body=post.get("body", ""))
        return _("Resolution plan posted.")

    def time(ticket):
        form = TimeForm(post)
        if not form.is_valid():
            raise ActionError(_("Log between 1 and 1,440 minutes at a time."), field="minutes")
        actions.log_time(actor=user, ticket=ticket, minutes=form.cleaned_data["minutes"],
                         note=form.cleaned_data["note"])
        return _("Time logged.")

    def merge(ticket):
        try:
            target = access_ticket(user, post.get("into", ""))
        except NotFound:
            raise ActionError(_("No ticket with that reference."), field="into") from None
        actions.merge(actor=user, source=ticket, target=target)
        return _("Merged into %(ref)s.") % {"ref": target.reference}

    verbs = {"reply": reply, "note": note, "status": status, "resolve": resolve,
             "reopen": reopen, "priority": priority, "category": category, "assign": assign,
             "take": take, "tier": tier, "plan": plan, "time": time, "merge": merge}
    if verb not in verbs:
        raise Http404
    return _ticket_post(request, ref, verbs[verb])


@agent_required
def phone(request: AuthedRequest) -> HttpResponse:
    """The phone desk: find a ticket by the case number a caller gives, or log a call."""
    number = request.GET.get("case", "").strip()
    if number:
        try:
            ticket = access_ticket(request.user, number)
        except NotFound:
            messages.error(request, _("No ticket has the case number %(n)s.") % {"n": number})
        else:
            return redirect("console:ticket", ref=ticket.reference)
    form = PhoneTicketForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        contact = (Contact.objects.select_related("organisation")
                   .filter(user__email__iexact=data["requester_email"]).first())
        if contact is None:
            form.add_error("requester_email", _("No contact has this address."))
        else:
            try:
                ticket = actions.create_ticket(actor=request.user, new=actions.NewTicket(
                    requester=contact, subject=data["subject"], description=data["description"],
                    category=data["category"], priority=data["priority"],
                    impact=data["impact"], urgency=data["urgency"], channel=Channel.PHONE,
                    intake=actions.Intake(callback_phone=data["callback_phone"],
                                          business_stopped=data["business_stopped"]),
                    attachments=data["attachments"]))
            except ActionError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Call logged as %(ref)s.") % {"ref": ticket.reference})
                return redirect("console:ticket", ref=ticket.reference)
    return render(request, "console/phone.html", {"form": form},
                  status=400 if form.errors else 200)

