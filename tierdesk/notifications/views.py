"""The agent's inbox of in-app notifications: read them, mark them read. Thin views.

Only agents get in-app notifications; each sees and marks only their own (a
notification of someone else is "not found", like a ticket one may not see).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tierdesk.notifications import notifier
from tierdesk.notifications.models import Notification
from tierdesk.tickets.permissions import agent_required

SHOWN = 100


@agent_required
def inbox(request: HttpRequest) -> HttpResponse:
    mine = Notification.objects.filter(recipient=request.user.pk).select_related("ticket")
    show = request.GET.get("show", "unread")
    shown = mine.filter(read_at__isnull=True) if show == "unread" else mine
    return render(request, "notifications/inbox.html", {
        "notifications": list(shown.order_by("-created_at", "-pk")[:SHOWN]),
        "unread": notifier.unread(request.user).count(),  # type: ignore[arg-type]
        "show": "unread" if show == "unread" else "all",
    })


@agent_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """Mark one notification (`id`) or all of them (no `id`) read; only one's own."""
    raw = request.POST.get("id", "")
    if raw:
        if not raw.isdigit() or not notifier.mark_read(request.user, [int(raw)]):  # type: ignore[arg-type]
            messages.error(request, _("No such unread notification."))
            return redirect("notifications:inbox")
    else:
        n = notifier.mark_read(request.user)  # type: ignore[arg-type]
        messages.success(request, _("%(n)s notifications marked read.") % {"n": n})
    return redirect("notifications:inbox")
