"""Escalation rules are edited in the admin; a rule that cannot run is refused with the reason."""

import json

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from tierdesk.automation.models import CommitmentPolicy, EscalationRule, Firing, Watcher


class RuleForm(forms.ModelForm):
    class Meta:
        model = EscalationRule
        fields = ["name", "position", "is_active", "when", "then"]
        widgets = {"when": forms.Textarea(attrs={"rows": 4, "cols": 80}),
                   "then": forms.Textarea(attrs={"rows": 4, "cols": 80})}


@admin.register(EscalationRule)
class EscalationRuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "is_active", "source", "conditions", "consequences", "position"]
    list_editable = ["is_active", "position"]
    list_filter = ["is_active", "source"]
    search_fields = ["name"]
    readonly_fields = ["source", "updated_at"]

    @admin.display(description=_("when"))
    def conditions(self, obj):
        return json.dumps(obj.when, ensure_ascii=False)

    @admin.display(description=_("then"))
    def consequences(self, obj):
        return json.dumps(obj.then, ensure_ascii=False)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.source = EscalationRule.Source.ADMIN
        super().save_model(request, obj, form, change)


@admin.register(Firing)
class FiringAdmin(admin.ModelAdmin):
    list_display = ["ticket", "target", "kind", "cycle", "fired_at", "done_at", "failed"]
    list_filter = ["kind", "failed"]
    raw_id_fields = ["ticket"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Watcher)
class WatcherAdmin(admin.ModelAdmin):
    list_display = ["ticket", "user", "added_at"]
    raw_id_fields = ["ticket", "user"]


@admin.register(CommitmentPolicy)
class CommitmentPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "is_active", "remind_share", "escalate_to", "updated_at"]
    readonly_fields = ["updated_at"]
