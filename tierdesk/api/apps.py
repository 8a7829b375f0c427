from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "tierdesk.api"
    label = "api"
    verbose_name = _("API and webhooks")

    def ready(self) -> None:
        # Webhook deliveries are written by a subscriber of the ticket hooks, inside the
        # action's transaction; tickets imports nothing of the API.
        from tierdesk.api import webhooks
        from tierdesk.tickets import hooks

        hooks.subscribe("api.webhooks", webhooks.on_ticket_events,
                        batch=webhooks.on_many_tickets)
        # Satisfaction answers are not ticket events: heard when a survey is saved.
        post_save.connect(webhooks.on_survey_saved, sender="reports.SatisfactionSurvey",
                          dispatch_uid="api.webhooks.csat")
