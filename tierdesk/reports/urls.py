"""/reports/: the provider's report pages, and the monthly reports of an organisation's admins."""

from django.urls import path

from tierdesk.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("tickets/", views.tickets, name="tickets"),
    path("satisfaction/", views.satisfaction, name="satisfaction"),
    path("satisfaction/answers/", views.answers, name="answers"),
    path("annual/", views.annual_list, name="annual_list"),
    path("annual/<int:pk>/", views.annual_detail, name="annual"),
    path("annual/<int:pk>/launch/", views.annual_launch, name="annual_launch"),
    path("monthly/", views.monthly_list, name="monthly"),
    path("monthly/<int:org>/<str:month>/", views.monthly_preview, name="monthly_preview"),
    path("my/", views.my_reports, name="my_reports"),
    path("my/<int:pk>/", views.my_report, name="my_report"),
    path("my/<int:pk>/pdf/", views.my_report_pdf, name="my_report_pdf"),
]
