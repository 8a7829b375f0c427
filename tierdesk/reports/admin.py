"""Admin: KPI targets, annual surveys and per-organisation reporting are set here;
measures, survey answers and monthly reports are shown read-only."""

from django.contrib import admin

from tierdesk.reports.models import (
    AnnualSurvey,
    KpiTarget,
    MonthlyReport,
    OrganisationReporting,
    SatisfactionSurvey,
)


@admin.register(KpiTarget)
class KpiTargetAdmin(admin.ModelAdmin):
    list_display = ["name", "measure", "target_percent", "channel", "priority", "is_active",
                    "position"]
    list_editable = ["target_percent", "is_active", "position"]


@admin.register(AnnualSurvey)
class AnnualSurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "year", "opens_on", "closes_on", "launched_at"]
    filter_horizontal = ["organisations"]
    readonly_fields = ["launched_at"]


@admin.register(OrganisationReporting)
class OrganisationReportingAdmin(admin.ModelAdmin):
    list_display = ["organisation", "monthly_report", "share_satisfaction"]


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(ReadOnly):
    list_display = ["ticket", "cycle", "resolved_at", "rating", "answered_at"]
    list_filter = ["rating"]
    raw_id_fields = ["ticket", "answered_by"]


@admin.register(MonthlyReport)
class MonthlyReportAdmin(ReadOnly):
    list_display = ["organisation", "month", "sent_at"]
    exclude = ["pdf"]
    readonly_fields = ["organisation", "month", "created_at", "sent_at", "recipients", "figures"]
