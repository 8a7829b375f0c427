"""Every route of the API, with the personas, and a check that no route is left out.

The object routes (a ticket, a file, a contact, a subscription...) are walked in
test_api_personas.py and test_api_tickets.py; here are the collections and the
reference data, which answer every signed-in persona but only with what it may see.
`test_every_route_is_walked_by_the_persona_tests` fails when a route is added to
tierdesk/api/urls.py without a persona test naming it in WALKED.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

# (url name, method): the persona test that walks it with an owner, a colleague and an outsider.
WALKED = {
    ("tickets", "get"): "test_collections_by_persona",
    ("tickets", "post"): "test_opening_a_ticket_by_persona",
    ("ticket", "get"): "test_ticket_routes_by_persona",
    ("ticket", "patch"): "test_ticket_routes_by_persona",
    ("ticket-events", "get"): "test_ticket_routes_by_persona",
    ("ticket-replies", "post"): "test_ticket_routes_by_persona",
    ("ticket-notes", "post"): "test_ticket_routes_by_persona",
    ("ticket-attachments", "get"): "test_ticket_routes_by_persona",
    ("ticket-sla", "get"): "test_ticket_routes_by_persona",
    ("ticket-resolve", "post"): "test_ticket_routes_by_persona",
    ("ticket-reopen", "post"): "test_ticket_routes_by_persona",
    ("ticket-escalate", "post"): "test_ticket_routes_by_persona",
    ("ticket-timeframe", "post"): "test_ticket_routes_by_persona",
    ("ticket-satisfaction", "get"): "test_satisfaction_survey_answered_by_the_customer",
    ("ticket-satisfaction", "post"): "test_satisfaction_survey_answered_by_the_customer",
    ("ticket-plan", "post"): "test_ticket_routes_by_persona",
    ("ticket-time", "post"): "test_ticket_routes_by_persona",
    ("ticket-merge", "post"): "test_ticket_routes_by_persona",
    ("attachment", "get"): "test_attachment_download_by_persona",
    ("organisations", "get"): "test_collections_by_persona",
    ("organisation", "get"): "test_directory_by_persona",
    ("contacts", "get"): "test_collections_by_persona",
    ("contact", "get"): "test_directory_by_persona",
    ("categories", "get"): "test_collections_by_persona",
    ("priorities", "get"): "test_collections_by_persona",
    ("plans", "get"): "test_collections_by_persona",
    ("me", "get"): "test_collections_by_persona",
    ("webhooks", "get"): "test_webhook_collection_by_persona",
    ("webhooks", "post"): "test_webhook_collection_by_persona",
    ("webhook", "get"): "test_webhook_routes_by_persona",
    ("webhook", "patch"): "test_webhook_routes_by_persona",
    ("webhook", "delete"): "test_webhook_routes_by_persona",
    ("webhook-rotate", "post"): "test_webhook_routes_by_persona",
    ("webhook-ping", "post"): "test_webhook_routes_by_persona",
    ("webhook-deliveries", "get"): "test_webhook_routes_by_persona",
    ("webhook-replay", "post"): "test_webhook_routes_by_persona",
}


def _operations():
    from tierdesk.api.urls import v1

    for pattern in v1:
        view = pattern.callback.view_class
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                yield pattern.name, method


def test_every_route_is_walked_by_the_persona_tests():
    from pathlib import Path

    sources = "".join(p.read_text() for p in Path(__file__).parent.glob("test_api_*.py"))
    operations = set(_operations())
    assert operations - WALKED.keys() == set(), "routes no persona test walks"
    assert WALKED.keys() - operations == set(), "WALKED names routes that are gone"
    assert [name for name in WALKED.values() if f"def {name}(" not in sources] == []


def _results(r):
    assert r.status_code == 200, r.json()
    body = r.json()
    return body["results"] if isinstance(body, dict) and "results" in body else body


def test_collections_by_persona(api, people, open_ticket):
    """Every collection answers each persona with its own part only."""
    mine = open_ticket()
    bobs = open_ticket("Bob's laptop", requester=people.bob)
    globex = open_ticket("Globex mail", requester=people.charlie)
    acme, globex_org = people.acme.pk, people.globex.pk
    seen = {who: api(who) for who in ("alice", "bob", "charlie", "tess")}

    def refs(who):
        return {t["reference"] for t in _results(seen[who].get("/api/v1/tickets/"))}

    assert refs("alice") == {mine.reference, bobs.reference}  # the admin: her organisation's
    assert refs("bob") == {bobs.reference}  # a member: his own
    assert refs("charlie") == {globex.reference}  # the outsider: nothing of Acme
    assert refs("tess") == {mine.reference, bobs.reference, globex.reference}

    def orgs(who):
        return {o["id"] for o in _results(seen[who].get("/api/v1/organisations/"))}

    assert orgs("alice") == orgs("bob") == {acme}
    assert orgs("charlie") == {globex_org}
    assert {acme, globex_org} <= orgs("tess")

    def contacts(who, query=""):
        return {c["email"] for c in _results(seen[who].get(f"/api/v1/contacts/{query}"))}

    assert contacts("alice") == {"alice@acme.test", "bob@acme.test"}
    assert contacts("bob") == {"bob@acme.test"}
    assert contacts("charlie") == {"charlie@globex.test"}
    assert contacts("charlie", "?email=alice@acme.test") == set()
    assert contacts("tess", "?email=ALICE@acme.test") == {"alice@acme.test"}
    assert contacts("tess", f"?organisation={globex_org}") == {"charlie@globex.test"}

    for who, client in seen.items():
        assert _results(client.get("/api/v1/priorities/"))[0]["code"] == "critical"
        assert _results(client.get("/api/v1/categories/")), who
        plans = {p["code"] for p in _results(client.get("/api/v1/plans/"))}
        own = {"alice": people.acme, "bob": people.acme, "charlie": people.globex}.get(who)
        if own is not None:
            assert plans == {own.plan.code}, who
        me = client.get("/api/v1/me/").json()
        assert me["email"] == getattr(people, who).user.email

    # No token, no answer: every collection is a 401 problem for an anonymous caller.
    for path in ("tickets", "organisations", "contacts", "categories", "priorities", "plans",
                 "me", "webhooks"):
        r = APIClient().get(f"/api/v1/{path}/")
        assert r.status_code == 401 and r["Content-Type"] == "application/problem+json", path


def test_opening_a_ticket_by_persona(api, people):
    """Anyone signed in opens tickets, for themselves; only agents for someone else."""
    body = {"subject": "Scanner offline", "description": "Since this morning."}
    for who in ("alice", "bob", "charlie"):
        r = api(who).post("/api/v1/tickets/", body, format="json")
        assert r.status_code == 201, (who, r.json())
        assert r.json()["requester"]["email"] == getattr(people, who).user.email
        assert r.json()["organisation"]["id"] == getattr(people, who).organisation_id
    # The outsider cannot name Acme's people, as requester or CC: they do not exist for him.
    for field, value in (("requester", people.alice.pk), ("cc", [people.bob.pk])):
        r = api("charlie").post("/api/v1/tickets/", {**body, field: value}, format="json")
        assert (r.status_code, r.json()["field"]) == (400, field), r.json()
    # Bob, a member, cannot open one in Alice's name either.
    r = api("bob").post("/api/v1/tickets/", {**body, "requester": people.alice.pk}, format="json")
    assert r.status_code in (400, 403), r.json()
    r = api("tess").post("/api/v1/tickets/", {**body, "requester": people.charlie.pk},
                         format="json")
    assert r.status_code == 201 and r.json()["requester"]["email"] == "charlie@globex.test"


def test_webhook_collection_by_persona(api, people):
    """Organisation admins and team leads list and make subscriptions; nobody else."""
    made = api("alice").post("/api/v1/webhooks/", {"url": "https://hooks.acme.test/td",
                                                   "events": ["ticket.created"]}, format="json")
    assert made.status_code == 201, made.json()
    for who in ("bob", "tess"):
        assert api(who).get("/api/v1/webhooks/").status_code == 403
        r = api(who).post("/api/v1/webhooks/", {"url": "https://x.test/", "events": [
            "ticket.created"]}, format="json")
        assert r.status_code == 403
    # Charlie, Globex's admin, manages Globex's subscriptions and sees none of Acme's.
    assert _results(api("charlie").get("/api/v1/webhooks/")) == []
    assert [s["url"] for s in _results(api("alice").get("/api/v1/webhooks/"))] == [
        "https://hooks.acme.test/td"]
    assert [s["url"] for s in _results(api("lea").get("/api/v1/webhooks/"))] == [
        "https://hooks.acme.test/td"]


@pytest.mark.parametrize("path", ["/api/v1/nothing/", "/api/v1/tickets/TD-1/nothing/",
                                  "/api/v1/organisations/abc/", "/api/v2/tickets/"])
def test_unknown_paths_are_problems_too(api, path):
    r = api("alice").get(path)
    assert r.status_code == 404 and r["Content-Type"] == "application/problem+json"
    assert r.json()["title"] == "Not found"


def test_a_missing_slash_is_named(api):
    r = api("alice").get("/api/v1/tickets")
    assert r.status_code == 404
    assert "/api/v1/tickets/" in r.json()["detail"]
