from django.urls import path

from tierdesk.mail import views

app_name = "mail"
urlpatterns = [
    path("", views.held, name="held"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/raw/", views.raw, name="raw"),
    path("<int:pk>/files/<int:index>/", views.attachment, name="attachment"),
    path("<int:pk>/<slug:verb>/", views.act, name="act"),
]
