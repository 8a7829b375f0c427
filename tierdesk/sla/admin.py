from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import F
from django.forms import ModelForm

from tierdesk.sla.engine import Calendar, Policy
from tierdesk.sla.models import BusinessCalendar, Plan, RebuildJob
from tierdesk.sla.rebuild import schedule_rebuild


class CalendarForm(ModelForm):
    class Meta:
        model = BusinessCalendar
        fields = ["code", "name", "spec"]

    def clean_spec(self):
        spec = self.cleaned_data["spec"]
        try:
            Calendar.from_dict(spec)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidationError(str(exc)) from exc
        return spec


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    form = CalendarForm
    list_display = ["name", "code", "version", "updated_at"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)
        # Plans on this calendar change meaning too: bump them so caches and rows rebuild.
        plans = Plan.objects.filter(calendar=obj)
        plans.update(version=F("version") + 1)
        if change:
            schedule_rebuild(list(plans.values_list("pk", flat=True)))


class PlanForm(ModelForm):
    class Meta:
        model = Plan
        fields = ["code", "name", "calendar", "targets", "pause_statuses", "is_active"]

    def clean(self):
        data = super().clean() or {}
        calendar = data.get("calendar")
        if calendar is not None and "targets" in data:
            try:
                Policy.from_dict({"calendar": calendar.spec, "targets": data["targets"],
                                  "pause_statuses": data.get("pause_statuses") or []})
            except (ValueError, TypeError, KeyError) as exc:
                raise ValidationError(str(exc)) from exc
        return data


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    list_display = ["name", "code", "calendar", "version", "is_active"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)
        if change:
            schedule_rebuild([obj.pk])


@admin.register(RebuildJob)
class RebuildJobAdmin(admin.ModelAdmin):
    """Progress of the background rebuilds that follow a policy change."""

    list_display = ["pk", "state", "done", "total", "percent", "created_at", "finished_at"]
    readonly_fields = ["plan_ids", "state", "total", "done", "error", "created_at", "finished_at"]

    def has_add_permission(self, request) -> bool:
        return False
