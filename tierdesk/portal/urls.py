from django.urls import path

from tierdesk.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.ticket_list, name="tickets"),
    path("new/", views.ticket_new, name="new"),
    path("tickets/<str:ref>/", views.ticket_detail, name="ticket"),
    path("tickets/<str:ref>/reply/", views.ticket_reply, name="reply"),
    path("tickets/<str:ref>/reopen/", views.ticket_reopen, name="reopen"),
    path("tickets/<str:ref>/escalate/", views.ticket_escalate, name="escalate"),
]
