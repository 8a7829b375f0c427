from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailConfig(AppConfig):
    name = "tierdesk.mail"
    label = "mail"
    verbose_name = _("Email channel")

    def ready(self) -> None:
        # Outbound mail hears every action's events (tickets.hooks), so the actions never
        # import this app.
        from tierdesk.mail import outbound
        from tierdesk.tickets import hooks

        hooks.subscribe("mail.outbound", outbound.on_ticket_events, batch=outbound.on_many)
        # The inbound mail that caused an action travels with its deferred work.
        hooks.add_context("mail.inbound", outbound.captured, outbound.restored)
