from django.contrib import admin

from tierdesk.tickets.models import Category, ImpactUrgency, Priority, Ticket, TicketEvent


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "code", "is_active", "position"]
    list_select_related = ["parent"]
    search_fields = ["name", "code"]


@admin.register(Priority)
class PriorityAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "rank", "is_active"]


@admin.register(ImpactUrgency)
class ImpactUrgencyAdmin(admin.ModelAdmin):
    list_display = ["impact", "urgency", "priority"]


class ReadOnlyEvents(admin.TabularInline):
    """The timeline is append-only: shown, never edited here."""

    model = TicketEvent
    fields = ("at", "code", "actor", "is_public", "body")
    readonly_fields = ("at", "code", "actor", "is_public", "body")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only: tickets change through the console and the actions, never by hand."""

    list_display = ["reference", "subject", "organisation", "status", "priority", "created_at"]
    list_filter = ["status", "priority", "channel"]
    search_fields = ["number", "subject"]
    list_select_related = ["organisation", "priority"]
    inlines = [ReadOnlyEvents]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
