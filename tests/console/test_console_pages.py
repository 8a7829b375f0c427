"""The agent console: queues, bulk moves, the ticket page, the phone desk, the manager's page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from support import snapshot

from tierdesk.console.models import CannedResponse
from tierdesk.lib import clock
from tierdesk.tickets import actions
from tierdesk.tickets.models import EventCode, Ticket


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_of(person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def refs_in(client, **params) -> list[str]:
    response = client.get(reverse("console:queue"), params)
    assert response.status_code == 200
    return [t.reference for t in response.context["page"]]


@pytest.fixture
def desk_state(open_ticket, people):
    """One ticket per queue, opened now on Acme's 24x7 plan (Globex's office hours for one)."""
    now = clock.now()
    tess, tom = people.tess.user, people.tom.user
    t = {}
    t["unassigned"] = open_ticket("unassigned", at=now - timedelta(minutes=5))
    t["mine"] = open_ticket("mine", at=now - timedelta(minutes=4))
    actions.assign(actor=tess, ticket=t["mine"], agent=people.tess, team=people.team)
    t["waiting"] = open_ticket("waiting", at=now - timedelta(minutes=3))
    actions.assign(actor=tess, ticket=t["waiting"], agent=people.tess)
    actions.change_status(actor=tess, ticket=t["waiting"], status="waiting_customer")
    # Opened long ago and never answered: its response clock is past warning and breach.
    t["breached"] = open_ticket("breached", at=now - timedelta(days=3))
    t["at_risk"] = open_ticket("at risk", at=now - timedelta(hours=7))  # medium: 8 h response
    t["tier2"] = open_ticket("tier two", at=now - timedelta(minutes=2))
    actions.change_tier(actor=tess, ticket=t["tier2"], tier=2, reason="network")
    t["customer"] = open_ticket("customer escalated", at=now - timedelta(minutes=1))
    actions.escalate_by_customer(actor=people.alice.user, ticket=t["customer"], reason="slow")
    t["done"] = open_ticket("done", at=now - timedelta(minutes=1))
    actions.resolve(actor=tom, ticket=t["done"], code="fixed", note="ok")
    # The SLA sweep marks breaches; here the rows are refreshed by one more action.
    actions.log_time(actor=tess, ticket=t["breached"], minutes=1)
    actions.log_time(actor=tess, ticket=t["at_risk"], minutes=1)
    return {k: v.reference for k, v in t.items()}


def test_each_queue_holds_its_tickets(desk_state, people):
    tess = client_of(people.tess)
    s = desk_state
    assert set(refs_in(tess, queue="mine")) == {s["mine"], s["waiting"]}
    assert s["mine"] in refs_in(tess, queue="team") and s["unassigned"] not in refs_in(tess, queue="team")
    assert s["unassigned"] in refs_in(tess, queue="unassigned")
    assert s["mine"] not in refs_in(tess, queue="unassigned")
    assert refs_in(tess, queue="waiting") == [s["waiting"]]
    assert s["breached"] in refs_in(tess, queue="breached")
    assert s["at_risk"] in refs_in(tess, queue="at_risk")
    assert s["breached"] not in refs_in(tess, queue="at_risk")
    assert set(refs_in(tess, queue="escalated")) == {s["tier2"], s["customer"]}
    assert refs_in(tess, queue="done") == [s["done"]]
    assert s["done"] not in refs_in(tess)


def test_queue_is_sorted_by_the_next_due_instant(desk_state, people):
    shown = refs_in(client_of(people.tess), queue="active")
    dues = [Ticket.objects.get(number=int(r.split("-")[1])).next_due_at for r in shown]
    known = [d for d in dues if d is not None]
    assert known == sorted(known) and dues[: len(known)] == known, "NULLs last"


def test_queue_rows_show_all_three_targets_with_countdowns(desk_state, people):
    html = client_of(people.tess).get(reverse("console:queue")).content.decode()
    for label in ("First response", "Resolution plan", "Resolution"):
        assert f'<th scope="col">{label}</th>' in html
    assert html.count("data-due=") >= 10


@pytest.mark.parametrize("text", ["reference", "number", "words", "email", "name"])
def test_search_by_reference_number_text_and_requester(open_ticket, people, text):
    t = open_ticket("Printer on floor 2 jams")
    other = open_ticket("VPN", requester=people.bob)
    query = {"reference": t.reference, "number": str(t.number), "words": "floor 2",
             "email": "alice@acme", "name": "Alice Adm"}[text]
    found = refs_in(client_of(people.tess), queue="active", q=query)
    assert t.reference in found and other.reference not in found


@pytest.mark.parametrize("by", ["reference", "number"])
def test_a_reference_finds_its_ticket_whatever_the_queue(open_ticket, people, by):
    t = open_ticket("Printer on floor 2 jams")
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Cleared the jam.")
    query = t.reference if by == "reference" else str(t.number)
    assert refs_in(client_of(people.tess), queue="mine", q=query) == [t.reference]
    # Words still search within the queue shown.
    assert refs_in(client_of(people.tess), queue="active", q="floor 2") == []


def test_bulk_take_and_refusals_are_reported(desk_state, people):
    lea = client_of(people.lea)
    s = desk_state
    response = lea.post(reverse("console:bulk"), {
        "op": "take", "refs": [s["unassigned"], s["at_risk"], s["done"], "TD-999999"],
        "next": reverse("console:queue") + "?queue=unassigned"}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].endswith("?queue=unassigned")
    assert "3 tickets updated." in html, "a resolved ticket can still be (re)assigned"
    assert "TD-999999: No such ticket." in html
    for ref in (s["unassigned"], s["at_risk"]):
        assert Ticket.objects.get(number=int(ref.split("-")[1])).assignee == people.lea


def test_bulk_status_and_priority(desk_state, people, desk):
    tess = client_of(people.tess)
    refs = [desk_state["mine"], desk_state["unassigned"]]
    tess.post(reverse("console:bulk"), {"op": "status", "status": "in_progress", "refs": refs})
    tess.post(reverse("console:bulk"), {"op": "priority", "priority": desk["high"].pk,
                                        "refs": refs})
    for ref in refs:
        t = Ticket.objects.get(number=int(ref.split("-")[1]))
        assert (t.status, t.priority.code) == ("in_progress", "high")


def test_bulk_without_a_value_changes_nothing(desk_state, people):
    before = snapshot()
    response = client_of(people.tess).post(reverse("console:bulk"), {
        "op": "status", "status": "", "refs": [desk_state["mine"]]}, follow=True)
    assert "Choose the value to set." in response.content.decode()
    assert snapshot() == before


def test_outsiders_cannot_bulk(desk_state, people):
    before = snapshot()
    response = client_of(people.charlie).post(reverse("console:bulk"), {
        "op": "take", "refs": [desk_state["mine"]]})
    assert response.status_code == 403 and snapshot() == before


def test_ticket_page_has_the_explanation_table_and_customer_facts(open_ticket, people):
    t = open_ticket(at=clock.now() - timedelta(hours=1))
    html = client_of(people.tess).get(reverse("console:ticket", args=[t.reference])).content.decode()
    assert "<caption>Targets</caption>" in html and "<caption>Stretch by stretch</caption>" in html
    assert "<pre" not in html
    assert "8h 00m of business time" in html  # medium, first response: 480 minutes
    assert "Premium" in html and "ACME-2026" in html  # plan and contract


def test_composer_reply_and_internal_note(open_ticket, people):
    t = open_ticket(at=clock.now())
    tess = client_of(people.tess)
    tess.post(reverse("console:act", args=[t.reference, "note"]), {"body": "only staff"})
    tess.post(reverse("console:act", args=[t.reference, "reply"]), {"body": "for the customer"})
    assert list(t.events.filter(code__in=["internal_note", "public_reply"])
                .values_list("code", "is_public")) == [("internal_note", False),
                                                       ("public_reply", True)]
    html = tess.get(reverse("console:ticket", args=[t.reference])).content.decode()
    assert "Staff only: the customer does not see this." in html
    portal = client_of(people.alice).get(reverse("portal:ticket", args=[t.reference]))
    assert "only staff" not in portal.content.decode()


def test_canned_response_in_the_requesters_language(open_ticket, people):
    canned = CannedResponse.objects.create(
        title="Need a screenshot", body="Hello {customer}, please send a screenshot of {reference}.",
        title_es="Pedir captura", body_es="Hola {customer}, envíe una captura de {reference}.")
    people.alice.user.language = "es"
    people.alice.user.save()
    t = open_ticket()
    tess = client_of(people.tess)
    html = tess.get(reverse("console:ticket", args=[t.reference])).content.decode()
    assert "Pedir captura" in html and f"envíe una captura de {t.reference}" in html
    # Without JavaScript, "Insert" reloads the page with the text in the composer.
    html = tess.get(reverse("console:ticket", args=[t.reference]),
                    {"canned": canned.pk}).content.decode()
    assert f">Hola Alice, envíe una captura de {t.reference}.</textarea>" in html


def test_tier_two_commits_a_time_frame_tier_one_cannot(open_ticket, people):
    t = open_ticket(at=clock.now())
    actions.change_tier(actor=people.tess.user, ticket=t, tier=2, reason="network")
    due = (clock.now() + timedelta(days=1)).astimezone(clock.now().tzinfo)
    form = {"timeframe-due_at": due.strftime("%Y-%m-%dT%H:%M"),
            "timeframe-note": "Swap the switch tomorrow."}
    response = client_of(people.tess).post(reverse("console:act", args=[t.reference, "timeframe"]),
                                           form, follow=True)
    assert "is at tier 2" in response.content.decode()
    response = client_of(people.tom).post(reverse("console:act", args=[t.reference, "timeframe"]),
                                          form, follow=True)
    assert "Time-frame committed; the customer sees it." in response.content.decode()
    assert t.events.filter(code=EventCode.TIMEFRAME_COMMITTED).count() == 1


def test_phone_desk_logs_a_call_on_an_existing_case(open_ticket, people):
    t = open_ticket(at=clock.now())
    tess = client_of(people.tess)
    response = tess.post(reverse("console:phone_note"), {
        "call-case": str(t.number), "call-summary": "Customer confirms the VPN is back."})
    assert response.status_code == 302
    ev = t.events.get(code="public_reply")
    assert ev.payload["via"] == "phone" and ev.body == "Customer confirms the VPN is back."
    response = tess.post(reverse("console:phone_note"), {"call-case": "999999", "call-summary": "x"})
    assert response.status_code == 400 and "No ticket has this case number." in response.content.decode()


def test_phone_desk_escalates_by_case_number(open_ticket, people):
    t = open_ticket(at=clock.now())
    response = client_of(people.tess).post(reverse("console:phone_escalate"), {
        "escalate-case": str(t.number), "escalate-reason": "Caller says the office is down."})
    assert response.status_code == 302
    ev = t.events.get(code="escalated")
    assert ev.payload["channel"] == "phone" and ev.payload["kind"] == "customer"


def test_phone_desk_finds_by_case_number(open_ticket, people):
    t = open_ticket()
    tess = client_of(people.tess)
    found = tess.get(reverse("console:phone"), {"case": t.number})
    assert found.status_code == 302 and found["Location"].endswith(f"/{t.reference}/")
    missing = tess.get(reverse("console:phone"), {"case": "123"})
    assert "No ticket has the case number 123." in missing.content.decode()


def test_manager_page_for_leads_only(desk_state, people):
    assert client_of(people.tess).get(reverse("console:manager")).status_code == 403
    response = client_of(people.lea).get(reverse("console:manager"))
    assert response.status_code == 200
    agents = {load.who: load for load in response.context["workloads"][0][1]}
    assert agents["Tess Tier1 (T1)"].open == 2
    assert agents["Tess Tier1 (T1)"].waiting == 1
    assert agents["Unassigned"].breached == 1
    html = response.content.decode()
    assert desk_state["customer"] in html  # an escalation waiting
    assert desk_state["at_risk"] in html


def test_manager_sees_commitments_due(open_ticket, people):
    t = open_ticket(at=clock.now())
    actions.commit_timeframe(actor=people.tom.user, ticket=t,
                             due_at=clock.now() + timedelta(days=1), note="tomorrow")
    html = client_of(people.lea).get(reverse("console:manager")).content.decode()
    assert t.reference in html.split("Commitments due")[1]


def test_a_new_commitment_replaces_the_last_and_a_resolved_ticket_owes_none(open_ticket, people):
    from tierdesk.console.models import Commitment
    from tierdesk.console.queues import commitments_due

    now = clock.now()
    t = open_ticket(at=now)
    later = open_ticket("Later", at=now)
    actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=now + timedelta(days=2),
                             note="first")
    actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=now + timedelta(hours=3),
                             note="sooner after all")
    actions.commit_timeframe(actor=people.tom.user, ticket=later, due_at=now + timedelta(days=30),
                             note="next month")
    assert Commitment.objects.get(ticket=t).note == "sooner after all"
    due = commitments_due(now=clock.now())
    assert [(d.ticket.reference, d.note) for d in due] == [(t.reference, "sooner after all")]
    actions.resolve(actor=people.tom.user, ticket=t, code="fixed", note="Done.")
    assert commitments_due(now=clock.now()) == []
