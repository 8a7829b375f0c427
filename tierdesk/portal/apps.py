from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "tierdesk.portal"
    label = "portal"
    verbose_name = "Customer portal"

    def ready(self) -> None:
        from tierdesk.portal.invitations import invite_on_first_case, invite_on_first_cases
        from tierdesk.tickets import hooks

        hooks.subscribe("portal.invitations", invite_on_first_case, batch=invite_on_first_cases)
