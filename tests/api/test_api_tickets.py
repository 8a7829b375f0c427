"""Tickets through the API: the same actions as the web, the same refusals, as problem details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from tierdesk.tickets.models import Ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # as in tests/conftest.py: a Monday


def test_customer_opens_a_ticket(api, people):
    r = api("alice").post("/api/v1/tickets/", {
        "subject": "Printer on fire", "description": "Smoke from tray 2.",
        "impact": "some_users", "urgency": "stopped", "category": "technical",
        "users_affected": 12, "business_stopped": True}, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert r["Location"] == data["url"] == f"/api/v1/tickets/{data['reference']}/"
    assert (data["priority"], data["channel"], data["category"]) == ("high", "api", "technical")
    assert data["requester"]["email"] == "alice@acme.test"
    assert data["intake"]["users_affected"] == 12 and data["intake"]["business_stopped"] is True
    assert {row["target"] for row in data["sla"]} == {"first_response", "resolution_plan",
                                                       "resolution"}
    assert data["internal"] is None  # customers do not see assignment and effort
    assert data["created_at"].endswith("Z")
    ticket = Ticket.objects.get(number=data["number"])
    assert ticket.events.get(code="created").actor == people.alice.user


def test_customer_opens_a_ticket_with_files_as_multipart(api):
    r = api("alice").post("/api/v1/tickets/", {
        "subject": "Screenshot", "description": "See the file.",
        "attachments": [SimpleUploadedFile("a.png", b"\x89PNG", "image/png"),
                        SimpleUploadedFile("b.txt", b"log", "text/plain")]}, format="multipart")
    assert r.status_code == 201, r.json()
    files = api("alice").get(f"{r.json()['url']}attachments/").json()
    assert sorted(f["filename"] for f in files) == ["a.png", "b.txt"]


def test_refusals_are_problem_details_with_the_field(api, people):
    alice = api("alice")
    r = alice.post("/api/v1/tickets/", {"subject": " ", "description": "x"}, format="json")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "/api/problems/invalid" and body["status"] == 400
    assert (body["field"], body["detail"]) == ("subject", "Please give the ticket a subject.")
    # A type error is caught by the serializer, with the same shape.
    r = alice.post("/api/v1/tickets/", {"subject": "x", "description": "y",
                                        "users_affected": "many"}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "users_affected"
    assert r.json()["errors"][0]["code"] == "invalid"
    # The rules of the desk: customers do not choose the priority, nor open for others.
    r = alice.post("/api/v1/tickets/", {"subject": "x", "description": "y", "priority": "critical"},
                   format="json")
    assert (r.status_code, r.json()["field"]) == (400, "priority")
    r = alice.post("/api/v1/tickets/", {"subject": "x", "description": "y",
                                        "requester": people.bob.pk}, format="json")
    assert r.status_code == 403 and r.json()["title"] == "Forbidden"
    # A contact of another organisation does not exist for Alice.
    r = alice.post("/api/v1/tickets/", {"subject": "x", "description": "y",
                                        "cc": [people.charlie.pk]}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "cc")
    # Nothing was written by any of these.
    assert not Ticket.objects.exists()
    r = alice.post("/api/v1/tickets/", "{not json", content_type="application/json")
    assert r.status_code == 400 and r["Content-Type"] == "application/problem+json"


def test_agent_opens_a_ticket_for_a_contact(api, people):
    r = api("tess").post("/api/v1/tickets/", {
        "subject": "Called about the VPN", "description": "Drops hourly.",
        "requester_email": "BOB@acme.test", "priority": "critical", "channel": "phone",
        "cc": [people.alice.pk]}, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert (data["requester"]["email"], data["priority"], data["channel"]) == (
        "bob@acme.test", "critical", "phone")
    assert [c["email"] for c in data["cc"]] == ["alice@acme.test"]
    assert data["internal"]["tier"] == 1
    r = api("tess").post("/api/v1/tickets/", {"subject": "x", "description": "y"}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "requester")


def test_agent_works_a_ticket_with_patch(api, people, ticket):
    tom = api("tom")
    url = f"/api/v1/tickets/{ticket.reference}/"
    r = tom.patch(url, {"priority": "high", "category": "technical-network",
                        "assignee": people.tom.pk, "team": people.team.pk,
                        "status": "in_progress", "reason": "VIP"}, format="json")
    assert r.status_code == 200, r.json()
    data = r.json()
    assert (data["priority"], data["category"], data["status"]) == (
        "high", "technical-network", "in_progress")
    assert data["internal"]["assignee"]["name"] == "Tom Tier2"
    codes = list(ticket.events.values_list("code", flat=True))
    assert {"priority_changed", "category_changed", "assigned", "status_changed"} <= set(codes)
    # Tier needs a reason; all or nothing: the priority given with it is not changed either.
    r = tom.patch(url, {"tier": 2, "priority": "low"}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "reason")
    assert tom.get(url).json()["priority"] == "high"
    r = tom.patch(url, {"tier": 3, "reason": "Needs the network team"}, format="json")
    assert r.json()["internal"]["tier"] == 3
    assert r.json()["internal"]["assignee"] is None  # Tom works at tier 2
    # An illegal move is a conflict, named as such.
    r = tom.patch(url, {"status": "closed"}, format="json")
    assert r.status_code == 409 and r.json()["type"] == "/api/problems/illegal_transition"


def test_conversation_and_timeline(api, ticket):
    url = f"/api/v1/tickets/{ticket.reference}/"
    tess, alice = api("tess"), api("alice")
    r = tess.post(url + "replies/", {"body": "Which VPN client?"}, format="json")
    assert r.status_code == 201 and r.json()["actor"] == {"kind": "agent", "name": "Tess Tier1"}
    tess.post(url + "notes/", {"body": "Probably the MTU again."}, format="json")
    alice.post(url + "replies/", {"body": "GlobalProtect 6.2"}, format="json")
    agent_codes = [e["code"] for e in tess.get(url + "events/").json()["results"]]
    customer_codes = [e["code"] for e in alice.get(url + "events/").json()["results"]]
    assert "internal_note" in agent_codes and "internal_note" not in customer_codes
    replies = tess.get(url + "events/?code=public_reply").json()["results"]
    assert [e["body"] for e in replies] == ["Which VPN client?", "GlobalProtect 6.2"]
    r = alice.post(url + "replies/", {"body": "   "}, format="json")
    assert (r.status_code, r.json()["detail"]) == (400, "The message is empty.")


def test_resolve_reopen_and_the_window(api, ticket):
    url = f"/api/v1/tickets/{ticket.reference}/"
    r = api("tess").post(url + "resolve/", {"code": "fixed", "note": "MTU lowered."}, format="json")
    assert r.json()["status"] == "resolved" and r.json()["resolution_note"] == "MTU lowered."
    r = api("alice").post(url + "reopen/", {"reason": ""}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "reason")
    r = api("alice").post(url + "reopen/", {"reason": "It drops again."}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "open"
    api("tess").post(url + "resolve/", {"code": "fixed", "note": "Really fixed."}, format="json")
    with time_machine.travel(Ticket.objects.get(pk=ticket.pk).resolved_at + timedelta(days=30)):
        r = api("alice").post(url + "reopen/", {"reason": "Again!"}, format="json")
    assert r.status_code == 409 and r.json()["type"] == "/api/problems/reopen_window_passed"
    assert "no longer be reopened" in r.json()["detail"]


@time_machine.travel(T0 + timedelta(hours=1), tick=False)
def test_plan_time_and_merge(api, open_ticket):
    first, dup = open_ticket(), open_ticket("Same VPN problem")
    tess = api("tess")
    url = f"/api/v1/tickets/{first.reference}/"
    r = tess.post(url + "resolution-plan/", {"body": "Swap the firewall."}, format="json")
    assert {s["target"]: s["state"] for s in r.json()["sla"]}["resolution_plan"] == "met"
    r = tess.post(url + "time/", {"minutes": 25, "note": "remote session"}, format="json")
    assert r.json()["internal"]["time_spent_minutes"] == 25
    r = tess.post(url + "time/", {"minutes": 0}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "minutes")
    r = tess.post(f"/api/v1/tickets/{dup.reference}/merge/", {"into": first.reference},
                  format="json")
    assert r.json()["status"] == "closed" and r.json()["merged_into"] == first.reference
    r = tess.post(url + "merge/", {"into": "TD-1"}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "into")


@time_machine.travel(T0 + timedelta(hours=1), tick=False)
def test_sla_states_and_explanation(api, ticket):
    data = api("alice").get(f"/api/v1/tickets/{ticket.reference}/sla/").json()
    assert data["reference"] == ticket.reference
    assert [s["target"] for s in data["states"]] == ["first_response", "resolution",
                                                     "resolution_plan"]
    explanation = data["explanation"]
    assert explanation["priority"] == "medium" and explanation["stretches"]
    assert {t["name"] for t in explanation["targets"]} == {"first_response", "resolution_plan",
                                                           "resolution"}
    first = next(t for t in explanation["targets"] if t["name"] == "first_response")
    assert first["target_seconds"] == 480 * 60 and first["deadline"].startswith("due = now")
    assert explanation["text"].startswith("SLA clock as of")


@pytest.fixture
def many(open_ticket, people, desk):
    from tierdesk.lib import clock

    made = []
    base = clock.now() - timedelta(days=3)
    for i in range(7):
        made.append(open_ticket(f"Ticket {i}", at=base + timedelta(hours=i),
                                requester=people.bob if i % 3 == 0 else people.alice))
    return made


def test_list_filters_search_and_cursor(api, many, people):
    tess = api("tess")
    refs = [t.reference for t in reversed(many)]  # newest first
    page = tess.get("/api/v1/tickets/?page_size=3").json()
    assert [t["reference"] for t in page["results"]] == refs[:3]
    seen = [t["reference"] for t in page["results"]]
    while page["next"]:
        page = tess.get(page["next"]).json()
        seen += [t["reference"] for t in page["results"]]
    assert seen == refs
    oldest = tess.get("/api/v1/tickets/?ordering=created_at&page_size=2").json()
    assert [t["reference"] for t in oldest["results"]] == refs[::-1][:2]
    bobs = tess.get(f"/api/v1/tickets/?requester={people.bob.pk}").json()["results"]
    assert {t["requester"]["email"] for t in bobs} == {"bob@acme.test"} and len(bobs) == 3
    assert [t["subject"] for t in tess.get("/api/v1/tickets/?q=ticket 4").json()["results"]] == [
        "Ticket 4"]
    assert tess.get(f"/api/v1/tickets/?q={refs[0]}").json()["results"][0]["reference"] == refs[0]
    assert len(tess.get("/api/v1/tickets/?status=active").json()["results"]) == 7
    assert tess.get("/api/v1/tickets/?status=resolved,closed").json()["results"] == []
    assert len(tess.get("/api/v1/tickets/?assignee=none&priority=medium").json()["results"]) == 7
    r = tess.get("/api/v1/tickets/?status=sleeping")
    assert (r.status_code, r.json()["field"]) == (400, "status")
    r = tess.get("/api/v1/tickets/?cursor=garbage")
    assert r.status_code == 404 and r["Content-Type"] == "application/problem+json"
    # Bob, a member, sees his own tickets only; Alice, the admin, all of Acme's.
    assert len(api("bob").get("/api/v1/tickets/").json()["results"]) == 3
    assert len(api("alice").get("/api/v1/tickets/").json()["results"]) == 7


def test_customer_escalation_is_heard_and_not_repeated(api, people, ticket):
    from tierdesk.api import webhooks
    from tierdesk.api.models import WebhookDelivery

    sub = webhooks.create_subscription(actor=people.alice.user, url="https://hooks.acme.test/",
                                       events=["ticket.escalated"])
    url = f"/api/v1/tickets/{ticket.reference}/escalate/"
    r = api("alice").post(url, {"reason": "The whole office is offline."}, format="json")
    assert r.status_code == 200, r.json()
    event = ticket.events.get(code="escalated")
    assert (event.payload["kind"], event.payload["channel"]) == ("customer", "portal")
    delivery = WebhookDelivery.objects.get(subscription=sub)
    assert delivery.event_type == "ticket.escalated"
    assert delivery.body["data"]["events"][0]["body"] == "The whole office is offline."
    r = api("alice").post(url, {"reason": "Still offline!"}, format="json")
    assert r.status_code == 409 and r.json()["type"] == "/api/problems/escalation_too_soon"
    r = api("alice").post(url, {"reason": ""}, format="json")
    assert r.status_code in (400, 409)


@time_machine.travel(T0 + timedelta(hours=1), tick=False)
def test_satisfaction_survey_answered_by_the_customer(api, people, ticket):
    from tierdesk.api import webhooks
    from tierdesk.api.models import WebhookDelivery
    from tierdesk.tickets import actions

    url = f"/api/v1/tickets/{ticket.reference}/satisfaction/"
    assert api("alice").get(url).status_code == 404  # asked when the ticket is resolved
    provider = webhooks.create_subscription(actor=people.lea.user, url="https://ops.test/h",
                                            events=["csat.received"])
    r = api("alice").post("/api/v1/webhooks/", {"url": "https://hooks.acme.test/",
                                                "events": ["csat.received"]}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "events")  # the provider's only
    actions.resolve(actor=people.tess.user, ticket=ticket, code="fixed", note="New firmware.")
    survey = api("alice").get(url).json()
    assert (survey["face"], survey["open"], survey["cycle"]) == (None, True, 0)
    for who in ("charlie", "bob"):
        assert api(who).get(url).status_code == 404
        assert api(who).post(url, {"face": "positive"}, format="json").status_code == 404
    assert api("tess").post(url, {"face": "positive"}, format="json").status_code == 403
    r = api("alice").post(url, {"face": "negative", "comment": "Took two days."}, format="json")
    assert r.status_code == 200 and r.json()["face"] == "negative"
    assert api("tess").get(url).json()["comment"] == "Took two days."
    delivery = WebhookDelivery.objects.get(subscription=provider)
    assert delivery.event_type == "csat.received"
    assert delivery.body["data"]["survey"]["face"] == "negative"
    r = api("alice").post(url, {"face": "smiley"}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "face")
    with time_machine.travel(T0 + timedelta(days=60)):
        r = api("alice").post(url, {"face": "positive"}, format="json")
    assert r.status_code == 409 and r.json()["type"] == "/api/problems/survey_closed"
