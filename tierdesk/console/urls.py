from django.urls import path

from tierdesk.console import views

app_name = "console"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk, name="bulk"),
    path("phone/", views.phone, name="phone"),
    path("phone/note/", views.phone_note, name="phone_note"),
    path("phone/escalate/", views.phone_escalate, name="phone_escalate"),
    path("manager/", views.manager, name="manager"),
    path("tickets/<str:ref>/", views.ticket_detail, name="ticket"),
    path("tickets/<str:ref>/<slug:verb>/", views.ticket_act, name="act"),
]
