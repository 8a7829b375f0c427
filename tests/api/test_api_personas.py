"""Every route with the three personas: the customer who owns the ticket (alice), an agent
(tess), and a contact of another organisation (charlie), who gets 404 everywhere.
Bob, Alice's colleague, is a member who sees only his own tickets: 404 too."""

from __future__ import annotations

import pytest

T = "/api/v1/tickets/{ref}/"

# (method, path, body, alice's status, tess's status)
TICKET_ROUTES = [
    ("get", T, None, 200, 200),
    ("patch", T, {"status": "in_progress"}, 403, 200),
    ("get", T + "events/", None, 200, 200),
    ("post", T + "replies/", {"body": "Any news?"}, 201, 201),
    ("post", T + "notes/", {"body": "Check the RADIUS logs."}, 403, 201),
    ("get", T + "attachments/", None, 200, 200),
    ("get", T + "sla/", None, 200, 200),
    ("post", T + "resolve/", {"code": "fixed", "note": "New firmware."}, 403, 200),
    ("post", T + "reopen/", {"reason": "Still broken."}, 400, 400),  # it is not resolved
    # Tess records a phone escalation just after Alice's own: refused for the cooldown.
    ("post", T + "escalate/", {"reason": "Sales team is stopped."}, 200, 409),
    ("post", T + "timeframe/", {"due_at": "2031-03-03T12:00:00Z", "note": "By Tuesday noon."},
     403, 200),
    ("post", T + "resolution-plan/", {"body": "Replace the router."}, 403, 200),
    ("post", T + "time/", {"minutes": 15}, 403, 200),
    ("post", T + "merge/", {"into": "{other}"}, 403, 200),
]


@pytest.fixture
def two(open_ticket):
    return open_ticket(), open_ticket("Duplicate of the VPN one")


def _call(client, method, path, body, two):
    ticket, other = two
    path = path.format(ref=ticket.reference)
    if body is not None:
        body = {k: (v.format(other=other.reference) if isinstance(v, str) else v)
                for k, v in body.items()}
    return getattr(client, method)(path, body, format="json") if body is not None \
        else getattr(client, method)(path)


@pytest.mark.parametrize("method,path,body,alice,tess", TICKET_ROUTES)
def test_ticket_routes_by_persona(api, two, method, path, body, alice, tess):
    for who in ("charlie", "bob"):
        r = _call(api(who), method, path, body, two)
        assert r.status_code == 404, (who, r.json())
        assert r["Content-Type"] == "application/problem+json"
        assert r.json()["title"] == "Not found"
    r = _call(api("alice"), method, path, body, two)
    assert r.status_code == alice, r.json()
    r = _call(api("tess"), method, path, body, two)
    assert r.status_code == tess, r.json()


def test_attachment_download_by_persona(api, open_ticket):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ticket = open_ticket(attachments=[SimpleUploadedFile("log.txt", b"boom", "text/plain")])
    token = ticket.attachments.get().token
    assert api("charlie").get(f"/api/v1/attachments/{token}/").status_code == 404
    assert api("bob").get(f"/api/v1/attachments/{token}/").status_code == 404
    for who in ("alice", "tess"):
        r = api(who).get(f"/api/v1/attachments/{token}/")
        assert r.status_code == 200
        assert b"".join(r.streaming_content) == b"boom"
        assert r["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_directory_by_persona(api, people):
    acme, alice = people.acme.pk, people.alice.pk
    for path in (f"/api/v1/organisations/{acme}/", f"/api/v1/contacts/{alice}/"):
        assert api("charlie").get(path).status_code == 404
        assert api("alice").get(path).status_code == 200
        assert api("tess").get(path).status_code == 200
    # A member sees himself, not his colleagues.
    assert api("bob").get(f"/api/v1/contacts/{alice}/").status_code == 404
    assert api("bob").get(f"/api/v1/contacts/{people.bob.pk}/").status_code == 200


def test_lists_show_outsiders_nothing_of_acme(api, people, ticket):
    charlie = api("charlie")
    assert charlie.get("/api/v1/tickets/").json()["results"] == []
    assert [o["name"] for o in charlie.get("/api/v1/organisations/").json()["results"]] == ["Globex"]
    emails = {c["email"] for c in charlie.get("/api/v1/contacts/").json()["results"]}
    assert emails == {"charlie@globex.test"}
    assert [p["code"] for p in charlie.get("/api/v1/plans/").json()] == ["standard"]
    assert charlie.get(f"/api/v1/tickets/?q={ticket.reference}").json()["results"] == []
    # Filters never widen what a customer sees.
    acme = people.acme.pk
    assert charlie.get(f"/api/v1/tickets/?organisation={acme}").json()["results"] == []
    assert charlie.get(f"/api/v1/contacts/?organisation={acme}").json()["results"] == []


def test_reference_data_for_everyone(api):
    for who in ("alice", "tess", "charlie"):
        client = api(who)
        assert [p["code"] for p in client.get("/api/v1/priorities/").json()] == [
            "critical", "high", "medium", "low", "request"]
        codes = {c["code"] for c in client.get("/api/v1/categories/").json()}
        assert "technical-network" in codes
        assert ("retired" in codes) == (who == "tess")  # customers see active ones only


def test_me(api, people):
    me = api("alice").get("/api/v1/me/").json()
    assert me["kind"] == "contact" and me["role"] == "admin"
    assert me["organisation"] == {"id": people.acme.pk, "name": "Acme"}
    assert me["token"]["scopes"] == ["read", "write", "webhooks"]
    me = api("tom").get("/api/v1/me/").json()
    assert (me["kind"], me["tier"], me["organisation"]) == ("agent", 2, None)


def test_webhook_routes_by_persona(api, people):
    from tierdesk.api import webhooks

    sub = webhooks.create_subscription(actor=people.alice.user, url="https://hooks.acme.test/td",
                                       events=["ticket.created"])
    delivery = webhooks.ping(actor=people.alice.user, subscription=sub)
    base = f"/api/v1/webhooks/{sub.pk}/"
    routes = [("get", base, None), ("patch", base, {"description": "ours"}),
              ("get", base + "deliveries/", None), ("post", base + "ping/", None),
              ("post", base + "rotate-secret/", None),
              ("post", base + f"deliveries/{delivery.uuid}/replay/", None)]
    for method, path, body in routes:
        # Outsiders, Acme's members and agents below team lead: not found.
        for who in ("charlie", "bob", "tess"):
            r = getattr(api(who), method)(path, body, format="json")
            assert r.status_code == 404, (who, path, r.json())
        for who in ("alice", "lea"):
            r = getattr(api(who), method)(path, body, format="json")
            assert r.status_code in (200, 202), (who, path, r.json())
    assert api("charlie").delete(base).status_code == 404
    assert api("alice").delete(base).status_code == 204
