"""The customer portal: submitting, the organisation's list, a ticket's page, escalating."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from support import snapshot

from tierdesk.accounts.models import Provider
from tierdesk.lib import clock
from tierdesk.tickets import actions
from tierdesk.tickets.models import EventCode, Ticket


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def signed_in():
    def login(person) -> Client:
        client = Client()
        client.force_login(person.user)
        return client

    return login


def page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_mandatory_intake_follows_the_provider(people, signed_in):
    provider = Provider.current()
    provider.mandatory_intake = ["users_affected", "location", "attachments"]
    provider.save()
    alice = signed_in(people.alice)
    html = page(alice, reverse("portal:new"))
    # Marked: the orange star and a spoken "(required)" beside each mandatory label.
    for label in ["How many people are affected?", "Are you remote or on site?",
                  "Screenshots and files", "Subject", "Description"]:
        assert f'{label} <span class="req"' in html, label
    assert 'What have you already tried? <span class="req"' not in html

    before = snapshot()
    response = alice.post(reverse("portal:new"), {"subject": "Mail down", "description": "x"})
    assert response.status_code == 400
    assert response.content.decode().count('class="error" role="alert"') >= 3
    assert snapshot() == before

    response = alice.post(reverse("portal:new"), {
        "subject": "Mail down", "description": "Nobody can send.", "users_affected": "12",
        "location": "on_site",
        "attachments": [SimpleUploadedFile("shot.png", b"\x89PNG", content_type="image/png")]})
    assert response.status_code == 302
    t = Ticket.objects.get(subject="Mail down")
    assert (t.users_affected, t.location, t.attachments.count()) == (12, "on_site", 1)


def test_submission_gives_the_reference_and_the_promised_response(people, signed_in):
    alice = signed_in(people.alice)
    response = alice.post(reverse("portal:new"), {"subject": "Printer", "description": "Jams."},
                          follow=True)
    t = Ticket.objects.get(subject="Printer")
    html = response.content.decode()
    assert f"Ticket {t.reference} is open. Keep this reference." in html
    due = t.sla_rows.get(target="first_response").due_at
    # Acme's plan runs 24x7 from submission; Alice reads Madrid time (the provider's zone).
    assert "We will respond by" in html and "your time" in html
    assert f"{due.astimezone(ZoneInfo('Europe/Madrid')):%H:%M}" in html


def test_list_filters_search_and_requester(open_ticket, people, signed_in):
    mine = open_ticket("Alice's VPN")
    bobs = open_ticket("Bob's printer", requester=people.bob, impact="most_users",
                       urgency="stopped")
    actions.resolve(actor=people.tess.user, ticket=mine, code="fixed", note="done")
    alice = signed_in(people.alice)
    url = reverse("portal:tickets")
    html = page(alice, url)
    assert mine.reference in html and bobs.reference in html
    html = page(alice, url, status="active")
    assert mine.reference not in html and bobs.reference in html
    html = page(alice, url, status="done")
    assert mine.reference in html and bobs.reference not in html
    html = page(alice, url, priority="critical")
    assert bobs.reference in html and mine.reference not in html
    html = page(alice, url, requester=str(people.bob.pk))
    assert bobs.reference in html and mine.reference not in html
    assert bobs.reference in page(alice, url, q="printer")
    assert mine.reference not in page(alice, url, q="printer")
    assert bobs.reference in page(alice, url, q=str(bobs.number))


def test_member_list_has_no_requester_filter_and_shows_only_their_tickets(open_ticket, people,
                                                                         signed_in):
    alices = open_ticket("Alice's")
    bobs = open_ticket("Bob's", requester=people.bob)
    html = page(signed_in(people.bob), reverse("portal:tickets"))
    assert bobs.reference in html and alices.reference not in html
    assert 'name="requester"' not in html
    people.acme.members_see_all = True
    people.acme.save()
    html = page(signed_in(people.bob), reverse("portal:tickets"))
    assert alices.reference in html and 'name="requester"' in html


def test_list_pages_by_keyset(open_ticket, people, signed_in):
    made = [open_ticket(f"t{i}", at=clock.now() - timedelta(minutes=60 - i)) for i in range(30)]
    alice = signed_in(people.alice)
    first = alice.get(reverse("portal:tickets"))
    page1 = first.context["page"]
    assert [t.pk for t in page1] == [t.pk for t in reversed(made)][:25]
    assert page1.count == 30 and page1.is_first and page1.prev_cursor is None
    page2 = alice.get(reverse("portal:tickets"), {"after": page1.next_cursor}).context["page"]
    assert [t.pk for t in page2] == [t.pk for t in reversed(made)][25:]
    assert page2.next_cursor is None and not page2.is_first
    back = alice.get(reverse("portal:tickets"), {"before": page2.prev_cursor}).context["page"]
    assert [t.pk for t in back] == [t.pk for t in page1]
    assert "Next" in first.content.decode()
    # A cursor that is not one of ours is the first page, not an error.
    assert alice.get(reverse("portal:tickets"), {"after": "%%%"}).status_code == 200


def test_ticket_page_shows_the_live_promise_then_the_reply(open_ticket, people, signed_in):
    t = open_ticket(at=clock.now())
    alice = signed_in(people.alice)
    html = page(alice, reverse("portal:ticket", args=[t.reference]))
    assert "We will respond by" in html and "data-due=" in html
    actions.add_reply(actor=people.tess.user, ticket=t, body="Which client version?")
    html = page(alice, reverse("portal:ticket", args=[t.reference]))
    assert "Which client version?" in html
    assert "We responded on" in html and "We aim to resolve it by" in html


def test_customer_escalates_with_a_reason(open_ticket, people, signed_in):
    t = open_ticket(at=clock.now())
    alice = signed_in(people.alice)
    url = reverse("portal:escalate", args=[t.reference])
    before = snapshot()
    response = alice.post(url, {"reason": "  "}, follow=True)
    assert "Tell us why" in response.content.decode()
    assert snapshot() == before
    response = alice.post(url, {"reason": "Three days and no news"}, follow=True)
    html = response.content.decode()
    assert "Your escalation was received" in html
    assert "Escalated by the customer" in html and "Three days and no news" in html
    assert t.events.filter(code=EventCode.ESCALATED, payload__kind="customer").count() == 1


def test_customer_sees_the_committed_time_frame(open_ticket, people, signed_in):
    t = open_ticket(at=clock.now())
    due = clock.now() + timedelta(days=2)
    actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=due,
                             note="We replace the VPN appliance on Thursday.")
    html = page(signed_in(people.alice), reverse("portal:ticket", args=[t.reference]))
    assert "New time-frame: our engineer commits to resolve it by" in html
    assert "We replace the VPN appliance on Thursday." in html


def test_resolved_ticket_offers_reopen_not_reply(open_ticket, people, signed_in):
    t = open_ticket()
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Rebooted.")
    html = page(signed_in(people.alice), reverse("portal:ticket", args=[t.reference]))
    assert reverse("portal:reopen", args=[t.reference]) in html
    assert reverse("portal:reply", args=[t.reference]) not in html
    assert reverse("portal:escalate", args=[t.reference]) not in html


def test_resolved_ticket_shows_the_satisfaction_faces_and_records_a_face(open_ticket, people,
                                                                         signed_in):
    from tierdesk.reports.models import SatisfactionSurvey

    t = open_ticket()
    alice = signed_in(people.alice)
    assert "How did we do?" not in page(alice, reverse("portal:ticket", args=[t.reference]))
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Rebooted.")
    html = page(alice, reverse("portal:ticket", args=[t.reference]))
    assert "How did we do?" in html
    links = re.findall(r'href="(/survey/[^"?]+/)\?face=(\w+)"[^>]*>.*?<span>([^<]+)</span>', html, re.S)
    assert [(face, label) for _url, face, label in links] == [
        ("positive", "Good"), ("neutral", "Okay"), ("negative", "Bad")]
    alice.post(links[0][0], {"face": "positive", "comment": "Quick, thanks."})
    assert SatisfactionSurvey.objects.get(ticket=t).face == "positive"
    assert "Your answer:" in page(alice, reverse("portal:ticket", args=[t.reference]))
    # A colleague of another organisation cannot open the survey link.
    assert signed_in(people.charlie).get(links[0][0]).status_code == 404


def test_outsider_gets_nothing_from_any_portal_url(open_ticket, people, signed_in):
    t = open_ticket()
    actions.add_reply(actor=people.alice.user, ticket=t, body="screenshot",
                      attachments=[SimpleUploadedFile("s.png", b"\x89PNG", content_type="image/png")])
    before = snapshot()
    charlie = signed_in(people.charlie)
    for ref in (t.reference, str(t.number), t.reference.lower()):
        assert charlie.get(reverse("portal:ticket", args=[ref])).status_code == 404
        for verb in ("reply", "reopen", "escalate"):
            response = charlie.post(reverse(f"portal:{verb}", args=[ref]),
                                    {"body": "x", "reason": "x"})
            assert response.status_code == 404, verb
    for att in t.attachments.all():
        assert charlie.get(reverse("attachment", args=[att.token])).status_code == 404
    html = page(charlie, reverse("portal:tickets"), q=t.reference)
    assert "No tickets here." in html and t.subject not in html
    assert snapshot() == before


@pytest.mark.parametrize("language,expect", [("es", "Abrir un ticket"), ("en", "Open a ticket")])
def test_the_portal_speaks_the_persons_language(people, signed_in, language, expect):
    people.alice.user.language = language
    people.alice.user.save()
    html = page(signed_in(people.alice), reverse("portal:new"))
    assert f'<html lang="{language}">' in html
    assert expect in html


def test_the_browser_language_is_used_without_a_preference(people, signed_in):
    alice = signed_in(people.alice)
    html = alice.get(reverse("portal:new"), HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9").content.decode()
    assert '<html lang="es">' in html and "Abrir un ticket" in html
