"""Inbound mail in the agents' console: what was held and why, every original, release.

Agents see all tickets, so they see every inbound message; contacts and anyone
else get 403 (signed in) or the login page. Thin views: the work is in `inbound`.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tierdesk.accounts.models import User
from tierdesk.mail import inbound
from tierdesk.mail.models import InboundMessage
from tierdesk.tickets.access import parse_reference
from tierdesk.tickets.permissions import agent_required

State = InboundMessage.State
WAITING = [State.HELD, State.FAILED]
LISTS = {"waiting": WAITING, "all": None}


@agent_required
def held(request: HttpRequest) -> HttpResponse:
    """Messages waiting for an agent (held or failed), or all of them; or those of a ticket."""
    which = request.GET.get("show", "waiting")
    states = LISTS.get(which, WAITING)
    rows = InboundMessage.objects.defer("raw").select_related("ticket").order_by("-received_at",
                                                                                "-pk")
    ref = request.GET.get("ticket", "").strip()
    if ref:
        number = parse_reference(ref)
        rows = rows.filter(ticket__number=number) if number is not None else rows.none()
        which = "ticket"
    elif states is not None:
        rows = rows.filter(state__in=states)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "mail/console/list.html", {
        "page": page, "show": which, "ticket_ref": ref,
        "waiting": InboundMessage.objects.filter(state__in=WAITING).count()})


@agent_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(InboundMessage.objects.select_related("ticket"), pk=pk)
    mail = inbound.original(row)
    return render(request, "mail/console/detail.html", {
        "row": row, "mail": mail,
        # Sanitised by nh3 when parsed (parse.parse -> tierdesk.lib.html.clean_html).
        "html": mark_safe(mail.html),
        "can_release": row.state in WAITING,
    })


@agent_required
def raw(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(InboundMessage, pk=pk)
    response = HttpResponse(bytes(row.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{row.pk}.eml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@agent_required
def attachment(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """One file of the original (also those withheld from the ticket), as a download."""
    row = get_object_or_404(InboundMessage, pk=pk)
    files = inbound.original(row).attachments
    if not 0 <= index < len(files):
        raise Http404
    f = files[index]
    response = HttpResponse(f.data, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{_ascii(f.filename)}"'
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                   for c in name) or "file"


@require_POST
@agent_required
def act(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    row = get_object_or_404(InboundMessage.objects.defer("raw"), pk=pk)
    user: User = request.user  # type: ignore[assignment]  # agent_required
    if verb == "release":
        done = inbound.release(row.pk, by=user.email)
        if done.state == State.PROCESSED:
            messages.success(request, _("The message was processed: %(what)s.") % {
                "what": done.get_outcome_display() + (f" {done.ticket.reference}"
                                                      if done.ticket else "")})
        else:
            messages.error(request, _("The message is still %(state)s: %(why)s") % {
                "state": done.get_state_display().lower(),
                "why": done.error or done.get_reason_display()})
    elif verb == "dismiss":
        if inbound.dismiss(row.pk, by=user.email):
            messages.success(request, _("The message was dismissed."))
        else:
            messages.error(request, _("Only a message waiting for review can be dismissed."))
    else:
        raise Http404
    return redirect("mail:detail", pk=row.pk)
