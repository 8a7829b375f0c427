from django.urls import path

from tierdesk.console import views

app_name = "console"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("phone/", views.phone, name="phone"),
    path("tickets/<str:ref>/", views.ticket_detail, name="ticket"),
    path("tickets/<str:ref>/<slug:verb>/", views.ticket_act, name="act"),
]
