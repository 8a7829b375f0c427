"""Inbound messages for the staff: what was held and why, the full original, release."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tierdesk.mail import inbound
from tierdesk.mail.models import InboundMessage


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ["received_at", "state", "reason", "from_address", "subject", "ticket_link",
                    "size_kb"]
    list_filter = ["state", "reason", "outcome", "automated", "source"]
    search_fields = ["from_address", "subject", "message_id"]
    date_hierarchy = "received_at"
    list_select_related = ["ticket"]
    actions = ["release", "ignore"]
    exclude = ["raw"]
    readonly_fields = ["received_at", "source", "message_id", "dedupe_key", "size", "state",
                       "reason", "outcome", "error", "attempts", "processed_at", "from_address",
                       "subject", "automated", "ticket", "event", "details", "original"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("raw")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("ticket"))
    def ticket_link(self, obj: InboundMessage) -> str:
        return obj.ticket.reference if obj.ticket else ""

    @admin.display(description=_("KB"))
    def size_kb(self, obj: InboundMessage) -> int:
        return round(obj.size / 1024)

    @admin.display(description=_("original"))
    def original(self, obj: InboundMessage) -> str:
        mail = inbound.original(InboundMessage.objects.get(pk=obj.pk))
        raw_url = reverse("admin:mail_inboundmessage_raw", args=[obj.pk])
        files = ", ".join(f"{a.filename} ({a.content_type}, {len(a.data)} B)" for a in mail.attachments)
        # The HTML was sanitised by nh3 when parsed (tierdesk.lib.html.clean_html).
        return format_html(
            '<p><a href="{}">{}</a></p><pre style="white-space: pre-wrap">{}</pre>{}<p>{}</p>',
            raw_url, _("Download the raw message (.eml)"), mail.text,
            mark_safe(f"<hr>{mail.html}") if mail.html else "",
            files)

    def get_urls(self):
        return [path("<int:pk>/raw/", self.admin_site.admin_view(self.raw_view),
                     name="mail_inboundmessage_raw"), *super().get_urls()]

    def raw_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        row = get_object_or_404(InboundMessage, pk=pk)
        response = HttpResponse(bytes(row.raw), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="message-{row.pk}.eml"'
        return response

    @admin.action(description=_("Release: process again, without the limits that held them"))
    def release(self, request: HttpRequest, queryset) -> None:
        done = 0
        for row in queryset.filter(state__in=[InboundMessage.State.HELD,
                                              InboundMessage.State.FAILED]).defer("raw"):
            row = inbound.release(row.pk, by=getattr(request.user, "email", ""))
            done += row.state == InboundMessage.State.PROCESSED
        self.message_user(request, ngettext("%(n)d message processed.",
                                            "%(n)d messages processed.", done) % {"n": done},
                          messages.SUCCESS)

    @admin.action(description=_("Ignore: leave them as they are, for good"))
    def ignore(self, request: HttpRequest, queryset) -> None:
        n = queryset.filter(state__in=[InboundMessage.State.HELD, InboundMessage.State.FAILED,
                                       InboundMessage.State.RECEIVED]).update(
            state=InboundMessage.State.IGNORED, reason=InboundMessage.Reason.DISMISSED)
        self.message_user(request, ngettext("%(n)d message ignored.", "%(n)d messages ignored.",
                                            n) % {"n": n}, messages.SUCCESS)
