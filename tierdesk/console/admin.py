from django.contrib import admin

from tierdesk.console.models import CannedResponse


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["title", "title_es", "is_active", "position"]
    list_editable = ["is_active", "position"]
    search_fields = ["title", "title_es", "body", "body_es"]
    fieldsets = ((None, {"fields": ("title", "body", "is_active", "position")}),
                 ("Español", {"fields": ("title_es", "body_es")}))
