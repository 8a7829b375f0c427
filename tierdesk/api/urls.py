"""/api/: version 1 of the REST API, its OpenAPI document and its documentation pages."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from tierdesk.api.views import directory, tickets, webhooks

app_name = "api"

v1 = [
    path("v1/tickets/", tickets.TicketList.as_view(), name="tickets"),
    path("v1/tickets/<str:ref>/", tickets.TicketDetail.as_view(), name="ticket"),
    path("v1/tickets/<str:ref>/events/", tickets.TicketEvents.as_view(), name="ticket-events"),
    path("v1/tickets/<str:ref>/replies/", tickets.TicketReplies.as_view(), name="ticket-replies"),
    path("v1/tickets/<str:ref>/notes/", tickets.TicketNotes.as_view(), name="ticket-notes"),
    path("v1/tickets/<str:ref>/attachments/", tickets.TicketAttachments.as_view(),
         name="ticket-attachments"),
    path("v1/tickets/<str:ref>/sla/", tickets.TicketSLAView.as_view(), name="ticket-sla"),
    path("v1/tickets/<str:ref>/resolve/", tickets.TicketResolve.as_view(), name="ticket-resolve"),
    path("v1/tickets/<str:ref>/reopen/", tickets.TicketReopen.as_view(), name="ticket-reopen"),
    path("v1/tickets/<str:ref>/escalate/", tickets.TicketEscalate.as_view(),
         name="ticket-escalate"),
    path("v1/tickets/<str:ref>/timeframe/", tickets.TicketTimeframe.as_view(),
         name="ticket-timeframe"),
    path("v1/tickets/<str:ref>/satisfaction/", tickets.TicketSatisfaction.as_view(),
         name="ticket-satisfaction"),
    path("v1/tickets/<str:ref>/resolution-plan/", tickets.TicketPlan.as_view(), name="ticket-plan"),
    path("v1/tickets/<str:ref>/time/", tickets.TicketTime.as_view(), name="ticket-time"),
    path("v1/tickets/<str:ref>/merge/", tickets.TicketMerge.as_view(), name="ticket-merge"),
    path("v1/attachments/<str:token>/", tickets.AttachmentContent.as_view(), name="attachment"),
    path("v1/organisations/", directory.OrganisationList.as_view(), name="organisations"),
    path("v1/organisations/<int:id>/", directory.OrganisationDetail.as_view(), name="organisation"),
    path("v1/contacts/", directory.ContactList.as_view(), name="contacts"),
    path("v1/contacts/<int:id>/", directory.ContactDetail.as_view(), name="contact"),
    path("v1/categories/", directory.CategoryList.as_view(), name="categories"),
    path("v1/priorities/", directory.PriorityList.as_view(), name="priorities"),
    path("v1/plans/", directory.PlanList.as_view(), name="plans"),
    path("v1/me/", directory.Me.as_view(), name="me"),
    path("v1/webhooks/", webhooks.WebhookList.as_view(), name="webhooks"),
    path("v1/webhooks/<int:id>/", webhooks.WebhookDetail.as_view(), name="webhook"),
    path("v1/webhooks/<int:id>/rotate-secret/", webhooks.WebhookRotate.as_view(),
         name="webhook-rotate"),
    path("v1/webhooks/<int:id>/ping/", webhooks.WebhookPing.as_view(), name="webhook-ping"),
    path("v1/webhooks/<int:id>/deliveries/", webhooks.WebhookDeliveries.as_view(),
         name="webhook-deliveries"),
    path("v1/webhooks/<int:id>/deliveries/<uuid:delivery>/replay/", webhooks.WebhookReplay.as_view(),
         name="webhook-replay"),
]

urlpatterns = [
    *v1,
    path("schema/", directory.SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("problems/<slug:code>", directory.ProblemType.as_view(), name="problem"),
    # Anything else under /api/ (an id that is not a number, a path that does not exist)
    # is a problem document too, never Django's HTML page.
    re_path(r"^[\s\S]*$", directory.NoSuchPath.as_view()),
]
