from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.models import (
    INTAKE_QUESTIONS,
    Agent,
    Contact,
    Organisation,
    OrganisationDomain,
    Provider,
    Team,
    User,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Person"), {"fields": ("full_name", "language", "time_zone")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",),
                             "fields": ("email", "full_name", "password1", "password2")}),)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "support_address", "time_zone", "reopen_window_days", "autoclose_days"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "mandatory_intake":
            # The portal's intake questions as checkboxes instead of raw JSON.
            return forms.MultipleChoiceField(
                label=db_field.verbose_name, choices=INTAKE_QUESTIONS, required=False,
                widget=forms.CheckboxSelectMultiple, help_text=db_field.help_text)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class DomainInline(admin.TabularInline):
    model = OrganisationDomain
    extra = 1


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "plan", "contract_reference", "is_active"]
    list_filter = ["plan", "is_active"]
    search_fields = ["name", "contract_reference", "domains__domain"]
    inlines = [DomainInline]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "held_for_review"]
    list_filter = ["role", "held_for_review", "organisation"]
    search_fields = ["user__email", "user__full_name"]
    list_select_related = ["user", "organisation"]
    raw_id_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "lead"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "tier", "is_available"]
    list_filter = ["role", "tier", "teams"]
    filter_horizontal = ["teams", "skills"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
