"""The Django admin keeps the provider's set-up: every object the issue lists opens, lists and
adds; customers and agents without staff rights get the admin's sign-in page instead."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tierdesk.console.models import CannedResponse

# providers, plans, calendars, policies (a plan's targets and calendar), categories,
# teams, agents and their skills, templates (the canned responses agents insert).
SET_UP = [
    "accounts_provider", "sla_plan", "sla_businesscalendar", "tickets_category",
    "tickets_priority", "accounts_team", "accounts_agent", "accounts_organisation",
    "accounts_contact", "console_cannedresponse",
]


@pytest.fixture
def admin_client(people):
    user = get_user_model().objects.create_superuser(email="root@helpful.test",
                                                     password="x-Long-pass-2026")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", SET_UP)
def test_each_set_up_object_lists_and_adds(admin_client, model):
    for view in ("changelist", "add"):
        response = admin_client.get(reverse(f"admin:{model}_{view}"))
        assert response.status_code == 200, (model, view, response.status_code)


def test_an_agents_skills_and_teams_are_edited_in_the_admin(admin_client, people):
    html = admin_client.get(reverse("admin:accounts_agent_change",
                                    args=[people.tess.pk])).content.decode()
    assert 'name="skills"' in html and 'name="teams"' in html


def test_a_canned_response_is_written_in_both_languages(admin_client):
    response = admin_client.post(reverse("admin:console_cannedresponse_add"), {
        "title": "Restarted", "body": "Hello {customer}, we restarted it.",
        "title_es": "Reiniciado", "body_es": "Hola {customer}, lo hemos reiniciado.",
        "is_active": "on", "position": "1"})
    assert response.status_code == 302
    canned = CannedResponse.objects.get(title="Restarted")
    assert canned.text_in("es") == ("Reiniciado", "Hola {customer}, lo hemos reiniciado.")


@pytest.mark.parametrize("who", ["alice", "tess"])
def test_people_without_staff_rights_are_kept_out(people, who):
    client = Client()
    client.force_login(getattr(people, who).user)
    for model in SET_UP:
        response = client.get(reverse(f"admin:{model}_changelist"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"], model
