from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from tierdesk.tickets import views as ticket_views

urlpatterns = [
    path("", ticket_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("account/", include("tierdesk.accounts.urls")),
    path("portal/", include("tierdesk.portal.urls")),
    path("console/mail/", include("tierdesk.mail.urls")),
    path("console/", include("tierdesk.console.urls")),
    path("notifications/", include("tierdesk.notifications.urls")),
    path("reports/", include("tierdesk.reports.urls")),
    path("survey/", include("tierdesk.reports.survey_urls")),
    path("files/<str:token>/", ticket_views.attachment, name="attachment"),
    path("api/", include("tierdesk.api.urls")),
    path("admin/", admin.site.urls),
]
