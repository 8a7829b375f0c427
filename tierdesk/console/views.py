"""The agent console: queues, the ticket page, the phone desk and the manager's page.

Thin views: they parse input, load through the permission-checked loaders, call one
action per move, and render. The queries behind the pages live in `console.queues`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from tierdesk.accounts.contacts import ContactError, add_contact
from tierdesk.accounts.http import AuthedRequest
from tierdesk.accounts.invitations import needs_invitation, send_invitation
from tierdesk.accounts.models import Agent, Contact, Team
from tierdesk.console import queues
from tierdesk.console.forms import QueueForm
from tierdesk.console.models import CannedResponse
from tierdesk.console.sla_panel import sla_panel
from tierdesk.lib import clock
from tierdesk.sla.models import TARGET_LABELS
from tierdesk.tickets import actions
from tierdesk.tickets.access import access_ticket, parse_reference, timeline_for
from tierdesk.tickets.errors import ActionError, NotFound
from tierdesk.tickets.forms import (
    BulkForm,
    CallNoteForm,
    PhoneEscalateForm,
    PhoneTicketForm,
    ReplyForm,
    ResolveForm,
    TimeForm,
    TimeframeForm,
    active_categories,
)
from tierdesk.tickets.lifecycle import Status
from tierdesk.tickets.models import Category, Channel, Priority, Ticket
from tierdesk.tickets.permissions import agent_required
from tierdesk.tickets.queries import for_list, window
from tierdesk.tickets.views import commitment_in, form_error, names_for_timeline, promise_for


def _load(request: AuthedRequest, ref: str) -> Ticket:
    try:
        return access_ticket(request.user, ref)
    except NotFound:
        raise Http404 from None


# --------------------------------------------------------------------------- queues


@agent_required
def queue(request: AuthedRequest) -> HttpResponse:
    agent = request.user.agent
    form = QueueForm(request.GET)
    name, sort, text = form.choice()
    base = queues.queue(agent, name, now=clock.now())
    if parse_reference(text) is not None:
        # A reference or case number names one ticket: find it in whichever queue it is.
        base = Ticket.objects.all()
    qs = queues.search(base, text)
    page = window(qs, queues.order_for(name, sort),
                  after=request.GET.get("after"), before=request.GET.get("before"))
    return render(request, "console/queue.html", {
        "page": page, "queues": queues.QUEUES, "queue": name, "sort": sort, "q": text,
        "queue_label": queues.QUEUES[name], "targets": TARGET_LABELS.items(),
        "form": form, "now": clock.now(),
        "bulk": BulkForm(agents=_agents()), "statuses": Status,
    })


def _agents():
    return Agent.objects.select_related("user").filter(user__is_active=True).order_by(
        "tier", "user__full_name")


@agent_required
@require_POST
def bulk(request: AuthedRequest) -> HttpResponse:
    """One move on every ticked ticket: each ticket its own action, refusals listed."""
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    form = BulkForm(request.POST, agents=_agents())
    if not form.is_valid():
        messages.error(request, _("Tick at least one ticket and choose what to do."))
        return redirect(back or "console:queue")
    data = form.cleaned_data
    user = request.user
    moves: dict[str, Callable[[Ticket], None]] = {
        "take": lambda t: actions.assign(actor=user, ticket=t, agent=user.agent, team=t.team),
        "assign": lambda t: actions.assign(actor=user, ticket=t, agent=data["agent"], team=t.team),
        "status": lambda t: actions.change_status(actor=user, ticket=t, status=data["status"]),
        "priority": lambda t: actions.change_priority(actor=user, ticket=t,
                                                      priority=data["priority"]),
    }
    if (data["op"] == "assign" and not data["agent"]) or (data["op"] == "status" and not data["status"]) \
            or (data["op"] == "priority" and not data["priority"]):
        messages.error(request, _("Choose the value to set."))
        return redirect(back or "console:queue")
    done, refused = 0, []
    for ref in data["refs"]:
        try:
            ticket = access_ticket(user, ref)
            moves[data["op"]](ticket)
        except ActionError as exc:
            refused.append(f"{ref}: {exc.message}")
        else:
            done += 1
    if done:
        messages.success(request, ngettext("%(n)s ticket updated.", "%(n)s tickets updated.",
                                           done) % {"n": done})
    for line in refused:
        messages.error(request, line)
    return redirect(back or "console:queue")


# --------------------------------------------------------------------------- the ticket page


def _canned(ticket: Ticket, agent: Agent) -> list[dict[str, str]]:
    """The canned responses in the requester's language, filled in for this ticket."""
    language = ticket.requester.user.language or "en"
    values = {"customer": ticket.requester.user.get_short_name(), "reference": ticket.reference,
              "agent": str(agent), "organisation": ticket.organisation.name}
    out = []
    for canned in CannedResponse.objects.filter(is_active=True):
        title, body = canned.text_in(language)
        out.append({"id": str(canned.pk), "title": title, "body": canned.fill(body, values)})
    return out


@agent_required
def ticket_detail(request: AuthedRequest, ref: str) -> HttpResponse:
    ticket = _load(request, ref)
    now = clock.now()
    events = list(timeline_for(request.user, ticket))
    canned = _canned(ticket, request.user.agent)
    chosen = next((c for c in canned if c["id"] == request.GET.get("canned")), None)
    others = (Ticket.objects.filter(requester_id=ticket.requester_id).exclude(pk=ticket.pk)
              .select_related("priority").order_by("-created_at")[:10])
    return render(request, "console/ticket_detail.html", {
        "ticket": ticket, "events": events, "names": names_for_timeline(),
        "promise": promise_for(ticket, now=now),
        "commitment": commitment_in(events),
        "sla": sla_panel(ticket, now=now),
        "others": others,
        "composer": ReplyForm(initial={"body": chosen["body"]} if chosen else None),
        "canned": canned,
        "resolve_form": ResolveForm(prefix="resolve"),
        "timeframe_form": TimeframeForm(prefix="timeframe"),
        "agents": _agents(),
        "teams": Team.objects.all(),
        "priorities": Priority.objects.filter(is_active=True),
        "categories": active_categories(),
        "statuses": [s for s in Status if s != Status.RESOLVED],
        "can_invite": needs_invitation(ticket.requester.user),
    })


def _ticket_post(request: AuthedRequest, ref: str, run: Callable[[Ticket], str | None]) -> HttpResponse:
    ticket = _load(request, ref)
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

    def composed(ticket: Ticket, *, internal: bool) -> str:
        form = ReplyForm(post, request.FILES)
        if not form.is_valid():
            raise ActionError(_("Write a message before sending."), field="body")
        data = form.cleaned_data
        if internal:
            actions.add_internal_note(actor=user, ticket=ticket, body=data["body"],
                                      attachments=data["attachments"])
            return _("Internal note added.")
        actions.add_reply(actor=user, ticket=ticket, body=data["body"],
                          attachments=data["attachments"])
        return _("Reply sent.")

    def status(ticket):
        actions.change_status(actor=user, ticket=ticket, status=post.get("status", ""))
        return _("Status changed.")

    def resolve(ticket):
        # The fields carry the form's prefix: the page has other "note" fields.
        actions.resolve(actor=user, ticket=ticket, code=post.get("resolve-code", ""),
                        note=post.get("resolve-note", ""))
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

    def timeframe(ticket):
        form = TimeframeForm(post, prefix="timeframe")
        if not form.is_valid():
            raise ActionError(_("Give the date and time, and what you will do."), field="due_at")
        actions.commit_timeframe(actor=user, ticket=ticket, due_at=form.cleaned_data["due_at"],
                                 note=form.cleaned_data["note"])
        return _("Time-frame committed; the customer sees it.")

    def merge(ticket):
        try:
            target = access_ticket(user, post.get("into", ""))
        except NotFound:
            raise ActionError(_("No ticket with that reference."), field="into") from None
        actions.merge(actor=user, source=ticket, target=target)
        return _("Merged into %(ref)s.") % {"ref": target.reference}

    def invite(ticket):
        requester = ticket.requester.user
        key = f"invitation:{requester.pk}:{clock.now():%Y%m%d%H%M}"
        if not send_invitation(requester, ticket=ticket, key=key):
            raise ActionError(_("%(who)s can already sign in.") % {"who": requester})
        return _("Invitation sent to %(email)s.") % {"email": requester.email}

    verbs: dict[str, Callable[[Ticket], str | None]] = {
        "reply": lambda t: composed(t, internal=False),
        "note": lambda t: composed(t, internal=True),
        "status": status, "resolve": resolve, "reopen": reopen, "priority": priority,
        "category": category, "assign": assign, "take": take, "tier": tier, "plan": plan,
        "time": time, "timeframe": timeframe, "merge": merge, "invite": invite,
    }
    if verb not in verbs:
        raise Http404
    return _ticket_post(request, ref, verbs[verb])


# --------------------------------------------------------------------------- the phone desk


def _phone_page(request: AuthedRequest, *, new=None, note=None, escalate=None,
                status: int = 200) -> HttpResponse:
    return render(request, "console/phone.html", {
        "form": new or PhoneTicketForm(),
        "note_form": note or CallNoteForm(prefix="call"),
        "escalate_form": escalate or PhoneEscalateForm(prefix="escalate"),
    }, status=status)


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
    if request.method != "POST":
        return _phone_page(request)
    form = PhoneTicketForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            # A new caller and their first ticket are added together, or not at all.
            with transaction.atomic():
                ticket = actions.create_ticket(actor=request.user, new=actions.NewTicket(
                    requester=_caller(data), subject=data["subject"],
                    description=data["description"], category=data["category"],
                    priority=data["priority"], impact=data["impact"], urgency=data["urgency"],
                    channel=Channel.PHONE, intake=actions.Intake(**form.intake()),
                    attachments=data["attachments"]))
        except (ActionError, ContactError) as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Call logged as %(ref)s.") % {"ref": ticket.reference})
            return redirect("console:ticket", ref=ticket.reference)
    return _phone_page(request, new=form, status=400)


def _caller(data: dict) -> Contact:
    """The contact who called: known by email, else added now (and invited by their first case)."""
    contact = (Contact.objects.select_related("organisation", "user")
               .filter(user__email__iexact=data["requester_email"]).first())
    if contact is not None:
        return contact
    return add_contact(email=data["requester_email"], full_name=data["requester_name"],
                       organisation=data["organisation"], phone=data.get("callback_phone", ""))


@agent_required
@require_POST
def phone_note(request: AuthedRequest) -> HttpResponse:
    """A call about an existing case: recorded on it as a reply by phone (or an internal note)."""
    form = CallNoteForm(request.POST, prefix="call")
    if form.is_valid():
        data = form.cleaned_data
        try:
            ticket = access_ticket(request.user, data["case"])
            if data["internal"]:
                actions.add_internal_note(actor=request.user, ticket=ticket,
                                          body=_("Phone call: %(s)s") % {"s": data["summary"]})
            else:
                actions.add_reply(actor=request.user, ticket=ticket, body=data["summary"],
                                  via=Channel.PHONE)
        except NotFound:
            form.add_error("case", _("No ticket has this case number."))
        except ActionError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Call logged on %(ref)s.") % {"ref": ticket.reference})
            return redirect("console:ticket", ref=ticket.reference)
    return _phone_page(request, note=form, status=400)


@agent_required
@require_POST
def phone_escalate(request: AuthedRequest) -> HttpResponse:
    """Seed 001: a customer may call to escalate; the case number finds the ticket."""
    form = PhoneEscalateForm(request.POST, prefix="escalate")
    if form.is_valid():
        try:
            ticket = access_ticket(request.user, form.cleaned_data["case"])
            actions.escalate_by_customer(actor=request.user, ticket=ticket,
                                         reason=form.cleaned_data["reason"], channel="phone")
        except NotFound:
            form.add_error("case", _("No ticket has this case number."))
        except ActionError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("%(ref)s is escalated.") % {"ref": ticket.reference})
            return redirect("console:ticket", ref=ticket.reference)
    return _phone_page(request, escalate=form, status=400)


# --------------------------------------------------------------------------- the manager's page


@agent_required
def manager(request: AuthedRequest) -> HttpResponse:
    """Workload per agent and team, tickets at risk, escalations waiting, commitments due."""
    if not request.user.agent.is_lead_or_above:
        raise PermissionDenied
    now = clock.now()
    by_agent, by_team = queues.workloads(now=now)
    return render(request, "console/manager.html", {
        "now": now,
        "workloads": [(_("Workload per agent"), by_agent, "agents-h"),
                      (_("Workload per team"), by_team, "teams-h")],
        "at_risk": for_list(queues.queue(request.user.agent, "at_risk", now=now)
                            .order_by("next_due_at", "id"))[:15],
        "escalations": for_list(queues.escalations_waiting()).order_by("updated_at")[:15],
        "commitments": queues.commitments_due(now=now),
        "owed": queues.commitments_owed(),
    })
