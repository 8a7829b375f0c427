"""/survey/: the pages behind the links of the survey mails; no sign-in needed."""

from django.urls import path

from tierdesk.reports import views

app_name = "survey"
urlpatterns = [
    path("annual/<str:token>/", views.annual_answer, name="annual"),
    path("<str:token>/", views.survey_answer, name="answer"),
]
