"""Every page with the three personas: the owner, a colleague, an outsider (and agents)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from support import PASSWORD, snapshot

from tierdesk.tickets import actions
from tierdesk.tickets.models import Ticket


def login(contact_or_agent):
    client = Client()
    assert client.login(email=contact_or_agent.user.email, password=PASSWORD)
    return client


@pytest.fixture
def ticket(open_ticket, people):
    t = open_ticket()
    actions.add_internal_note(actor=people.tess.user, ticket=t, body="SECRET-NOTE-42",
                              attachments=[SimpleUploadedFile("internal.txt", b"x")])
    actions.add_reply(actor=people.tess.user, ticket=t, body="Public answer",
                      attachments=[SimpleUploadedFile("guide.txt", b"guide")])
    return t


def test_anonymous_is_sent_to_login(ticket):
    for url in ["/", reverse("portal:tickets"), reverse("portal:ticket", args=[ticket.reference]),
                reverse("console:queue")]:
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_owner_sees_ticket_without_internal_notes(ticket, people):
    c = login(people.alice)
    page = c.get(reverse("portal:ticket", args=[ticket.reference]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Public answer" in html and "SECRET-NOTE-42" not in html and "internal.txt" not in html
    assert ticket.reference in c.get(reverse("portal:tickets")).content.decode()


def test_member_sees_only_own_and_cc_unless_allowed(ticket, people):
    c = login(people.bob)
    url = reverse("portal:ticket", args=[ticket.reference])
    assert c.get(url).status_code == 404
    assert ticket.reference not in c.get(reverse("portal:tickets")).content.decode()
    ticket.cc.add(people.bob)
    assert c.get(url).status_code == 200
    ticket.cc.remove(people.bob)
    people.acme.members_see_all = True
    people.acme.save()
    assert c.get(url).status_code == 200


def test_outsider_gets_nothing_from_any_url(ticket, people):
    before = snapshot()
    c = login(people.charlie)
    ref = ticket.reference
    for url in [reverse("portal:ticket", args=[ref]), reverse("portal:ticket", args=[ticket.number])]:
        assert c.get(url).status_code == 404
    for url in [reverse("portal:reply", args=[ref]), reverse("portal:reopen", args=[ref])]:
        assert c.post(url, {"body": "hi", "reason": "x"}).status_code == 404
    for att in ticket.attachments.all():
        assert c.get(reverse("attachment", args=[att.token])).status_code == 404
    assert ref not in c.get(reverse("portal:tickets")).content.decode()
    assert c.get(reverse("console:queue")).status_code == 403
    assert c.get(reverse("console:ticket", args=[ref])).status_code == 403
    assert snapshot() == before


def test_contact_cannot_download_internal_attachment(ticket, people):
    c = login(people.alice)
    internal = ticket.attachments.get(filename="internal.txt")
    public = ticket.attachments.get(filename="guide.txt")
    assert c.get(reverse("attachment", args=[internal.token])).status_code == 404
    response = c.get(reverse("attachment", args=[public.token]))
    assert response.status_code == 200
    assert "sandbox" in response["Content-Security-Policy"]


def test_contacts_are_kept_out_of_the_console(ticket, people):
    c = login(people.alice)
    assert c.get(reverse("console:queue")).status_code == 403
    assert c.post(reverse("console:act", args=[ticket.reference, "resolve"]),
                  {"resolve-code": "fixed", "resolve-note": "x"}).status_code == 403
    assert Ticket.objects.get(pk=ticket.pk).status != "resolved"


def test_submit_in_portal_then_agent_resolves_then_customer_reopens(people):
    alice = login(people.alice)
    response = alice.post(reverse("portal:new"), {
        "subject": "Mail server down", "description": "Nobody can send mail.",
        "impact": "most_users", "urgency": "stopped", "users_affected": "40",
        "attachments": [SimpleUploadedFile("screen.png", b"\x89PNG", content_type="image/png")],
    })
    assert response.status_code == 302
    t = Ticket.objects.get(subject="Mail server down")
    assert t.priority.code == "critical" and t.users_affected == 40
    assert t.attachments.count() == 1
    page = alice.get(response["Location"])
    assert t.reference in page.content.decode()

    tess = login(people.tess)
    assert t.reference in tess.get(reverse("console:queue") + "?queue=unassigned").content.decode()
    assert tess.get(reverse("console:ticket", args=[t.reference])).status_code == 200
    tess.post(reverse("console:act", args=[t.reference, "take"]))
    tess.post(reverse("console:act", args=[t.reference, "reply"]), {"body": "On it."})
    tess.post(reverse("console:act", args=[t.reference, "resolve"]),
              {"resolve-code": "fixed", "resolve-note": "Restarted the MTA."})
    t.refresh_from_db()
    assert t.status == "resolved" and t.assignee == people.tess

    page = alice.get(reverse("portal:ticket", args=[t.reference])).content.decode()
    assert "Restarted the MTA." in page and "On it." in page
    alice.post(reverse("portal:reopen", args=[t.reference]), {"reason": "Still down"})
    t.refresh_from_db()
    assert t.status == "open"


def test_portal_form_marks_and_checks_mandatory_fields(people):
    alice = login(people.alice)
    page = alice.get(reverse("portal:new")).content.decode()
    assert 'class="req"' in page
    response = alice.post(reverse("portal:new"), {"subject": "", "description": ""})
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


def test_refused_attachment_message_in_portal(people):
    alice = login(people.alice)
    response = alice.post(reverse("portal:new"), {
        "subject": "s", "description": "d",
        "attachments": [SimpleUploadedFile("run.bat", b"@echo off")]})
    assert response.status_code == 400
    assert "run.bat" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_agent_illegal_move_shows_message_and_changes_nothing(ticket, people):
    tess = login(people.tess)
    tess.post(reverse("console:act", args=[ticket.reference, "resolve"]),
              {"resolve-code": "fixed", "resolve-note": "done"})
    response = tess.post(reverse("console:act", args=[ticket.reference, "status"]),
                         {"status": "waiting_customer"}, follow=True)
    assert "cannot go from" in response.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).status == "resolved"


def test_phone_desk_logs_a_call_and_finds_it_by_case_number(people):
    tess = login(people.tess)
    response = tess.post(reverse("console:phone"), {
        "requester_email": "bob@acme.test", "subject": "Phone: printer jam",
        "description": "Called at 10:02", "callback_phone": "+34 600 000 000"})
    assert response.status_code == 302
    t = Ticket.objects.get(subject="Phone: printer jam")
    assert t.channel == "phone" and t.requester == people.bob
    found = tess.get(reverse("console:phone") + f"?case={t.number}")
    assert found.status_code == 302 and t.reference in found["Location"]


def test_language_follows_preference(ticket, people):
    people.alice.user.language = "es"
    people.alice.user.save()
    c = login(people.alice)
    page = c.get(reverse("portal:tickets"))
    assert page.status_code == 200
    assert '<html lang="es">' in page.content.decode()
