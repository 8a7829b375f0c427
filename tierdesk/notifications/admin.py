from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tierdesk.notifications.models import Notification, OutboxMessage, Preference


@admin.register(OutboxMessage)
class OutboxAdmin(admin.ModelAdmin):
    list_display = ["key", "kind", "state", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["state", "kind"]
    search_fields = ["key", "subject"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Retry now (dead or pending)"))
    def retry_now(self, request, queryset):
        n = queryset.exclude(state=OutboxMessage.State.SENT).update(
            state=OutboxMessage.State.PENDING, next_attempt_at=timezone.now(), attempts=0)
        self.message_user(request, _("%(n)d messages will be retried.") % {"n": n}, messages.SUCCESS)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "title", "created_at", "read_at"]
    list_filter = ["kind"]
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "email", "in_app", "digest"]
    raw_id_fields = ["user"]
