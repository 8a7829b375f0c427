"""Webhooks: who may subscribe, what each subscription hears, signed bodies, a receiver that is
down (delayed, never lost), the delivery log and replays."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from datetime import timedelta

import pytest

from tierdesk.api import webhooks
from tierdesk.api.models import WebhookDelivery
from tierdesk.notifications import outbox
from tierdesk.notifications.models import OutboxMessage
from tierdesk.tickets import actions


def subscribe(client, url, events, **extra):
    r = client.post("/api/v1/webhooks/", {"url": url, "events": events, **extra}, format="json")
    assert r.status_code == 201, r.json()
    return r.json()


def test_who_may_subscribe(api, people):
    r = api("tess").post("/api/v1/webhooks/", {"url": "https://x.test/", "events": ["ping"]},
                         format="json")
    assert r.status_code == 403  # tier-1 agents do not manage webhooks
    r = api("bob").get("/api/v1/webhooks/")
    assert r.status_code == 403  # nor do an organisation's members
    r = api("alice", scopes=["read", "write"]).get("/api/v1/webhooks/")
    assert r.status_code == 403 and "webhooks" in r.json()["detail"]  # the token's scope
    made = subscribe(api("alice"), "https://hooks.acme.test/td", ["ticket.created"])
    assert made["secret"].startswith("whsec_") and made["organisation"] == people.acme.pk
    assert "secret" not in api("alice").get(f"/api/v1/webhooks/{made['id']}/").json()
    # Customers post to the internet over https only; the provider may use its own network.
    for url in ("http://hooks.acme.test/", "https://127.0.0.1/", "https://10.1.2.3/x",
                "https://localhost/", "https://[::1]/"):
        r = api("alice").post("/api/v1/webhooks/", {"url": url, "events": ["ticket.created"]},
                              format="json")
        assert (r.status_code, r.json()["field"]) == (400, "url"), url
    subscribe(api("lea"), "http://10.0.0.5:9000/hook", ["ticket.created"])
    r = api("alice").post("/api/v1/webhooks/", {"url": "https://h.acme.test/", "events": [
        "ticket.created"], "organisation": people.globex.pk}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "organisation")
    # Alice sees her organisation's subscriptions, never the provider's.
    assert [s["url"] for s in api("alice").get("/api/v1/webhooks/").json()["results"]] == [
        "https://hooks.acme.test/td"]
    assert len(api("max").get("/api/v1/webhooks/").json()["results"]) == 2


def _deliveries(sub_id):
    return list(WebhookDelivery.objects.filter(subscription_id=sub_id).order_by("pk"))


def test_each_subscription_hears_what_its_owner_may_see(api, people, open_ticket):
    provider = subscribe(api("lea"), "https://ops.helpful.test/hook",
                         ["ticket.created", "ticket.updated", "ticket.escalated"])
    acme = subscribe(api("alice"), "https://hooks.acme.test/td",
                     ["ticket.created", "ticket.updated"])
    globex = subscribe(api("charlie"), "https://hooks.globex.test/td",
                       ["ticket.created", "ticket.updated"])
    ticket = open_ticket()
    actions.add_internal_note(actor=people.tess.user, ticket=ticket, body="Check the MTU.")
    actions.change_tier(actor=people.tess.user, ticket=ticket, tier=2, reason="network")
    actions.add_reply(actor=people.tess.user, ticket=ticket, body="We are on it.")

    assert [d.event_type for d in _deliveries(provider["id"])] == [
        "ticket.created", "ticket.updated", "ticket.escalated", "ticket.updated"]
    # The customer hears the opening and the public reply, not the note nor the escalation.
    mine = _deliveries(acme["id"])
    assert [d.event_type for d in mine] == ["ticket.created", "ticket.updated"]
    reply = mine[1].body["data"]
    assert [e["code"] for e in reply["events"]] == ["public_reply", "status_changed"]
    assert reply["ticket"]["internal"] is None and reply["ticket"]["reference"] == ticket.reference
    note = _deliveries(provider["id"])[1].body["data"]
    assert note["events"][0]["body"] == "Check the MTU." and note["ticket"]["internal"]["tier"] == 1
    assert _deliveries(globex["id"]) == []


def test_sla_events_from_the_sweep_are_delivered(api, people, open_ticket):
    from tierdesk.tickets.actions.base import action, record

    sub = subscribe(api("lea"), "https://ops.helpful.test/hook", ["sla.warning", "sla.breached"])
    ticket = open_ticket()

    @action
    def sweep(code):  # what the automation sweep does: an event in an action's transaction
        record(ticket, code, actor=None, at=ticket.created_at + timedelta(hours=6),
               is_public=False, target="first_response")

    sweep("sla_warning")
    sweep("sla_breached")
    deliveries = _deliveries(sub["id"])
    assert [d.event_type for d in deliveries] == ["sla.warning", "sla.breached"]
    assert deliveries[1].body["data"]["events"][0]["payload"]["target"] == "first_response"


def test_a_rolled_back_action_delivers_nothing(api, people):
    from tierdesk.tickets.errors import ActionError

    subscribe(api("lea"), "https://ops.helpful.test/hook", ["ticket.created"])
    with pytest.raises(ActionError):
        actions.create_ticket(actor=people.alice.user, new=actions.NewTicket(
            requester=people.alice, subject="x", description="y", channel="pigeon"))
    assert not WebhookDelivery.objects.exists() and not OutboxMessage.objects.exists()


class Receiver:
    """A webhook receiver on loopback that records what it got; `up=False` answers 503,
    `redirect_to` a 302 there."""

    def __init__(self):
        self.got: list[tuple[dict, bytes]] = []
        self.up = True
        self.redirect_to = ""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), raw))
                if receiver.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", receiver.redirect_to)
                else:
                    self.send_response(200 if receiver.up else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_signed_delivery_survives_a_receiver_that_is_down(api, people, open_ticket, receiver):
    from tierdesk.lib import clock

    made = subscribe(api("lea"), _closed_port_url(), ["ticket.created"])
    ticket = open_ticket()
    delivery = WebhookDelivery.objects.select_related("outbox").get(subscription_id=made["id"])
    pk = delivery.outbox.pk
    # 1. Nobody listens: the message stays pending, with the error and a later attempt.
    now = clock.now()
    assert outbox.deliver(pk, now=now) is False
    message = OutboxMessage.objects.get(pk=pk)
    assert (message.state, message.attempts) == ("pending", 1)
    assert message.last_error and message.next_attempt_at > now
    # 2. The receiver answers 503: still pending, the wait grows.
    api("lea").patch(f"/api/v1/webhooks/{made['id']}/", {"url": receiver.url}, format="json")
    OutboxMessage.objects.filter(pk=pk).update(url=receiver.url)  # the row keeps its URL
    receiver.up = False
    assert outbox.deliver(pk, now=message.next_attempt_at) is False
    second = OutboxMessage.objects.get(pk=pk)
    assert second.attempts == 2 and "503" in second.last_error
    assert second.next_attempt_at - message.next_attempt_at > message.next_attempt_at - now
    # 3. Back up: the periodic retry (what the worker runs) delivers it, signed, and the
    # log says so. Nothing was lost on the way.
    receiver.up = True
    outbox.deliver_due(now=second.next_attempt_at - timedelta(seconds=1))
    assert OutboxMessage.objects.get(pk=pk).attempts == 2  # not due yet: left alone
    outbox.deliver_due(now=second.next_attempt_at)
    assert OutboxMessage.objects.get(pk=pk).state == "sent"
    headers, raw = receiver.got[-1]
    assert headers["Tierdesk-Event"] == "ticket.created"
    assert headers["Tierdesk-Delivery"] == str(delivery.uuid)
    secret = webhooks.access_subscription(people.lea.user, made["id"]).secret
    assert webhooks.verify(secret, raw, headers["Tierdesk-Signature"], now=int(time.time()))
    assert not webhooks.verify(secret, raw + b" ", headers["Tierdesk-Signature"],
                               now=int(time.time()))
    body = json.loads(raw)
    assert body["type"] == "ticket.created" and body["data"]["ticket"]["number"] == ticket.number
    log = api("lea").get(f"/api/v1/webhooks/{made['id']}/deliveries/").json()["results"]
    assert [(d["state"], d["attempts"], d["last_error"]) for d in log] == [("sent", 3, "")]


def test_replay_sends_the_same_event_again_signed_now(api, people, open_ticket, receiver):
    made = subscribe(api("lea"), receiver.url, ["ticket.created"])
    open_ticket()
    original = WebhookDelivery.objects.get(subscription_id=made["id"])
    r = api("lea").post(f"/api/v1/webhooks/{made['id']}/deliveries/{original.uuid}/replay/")
    assert r.status_code == 202
    again = WebhookDelivery.objects.get(uuid=r.json()["id"])
    assert again.event_id == original.event_id and again.replay_of == original
    assert again.body == original.body and again.outbox_id != original.outbox_id
    assert outbox.deliver(original.outbox_id) and outbox.deliver(again.outbox_id)
    (h1, raw1), (h2, raw2) = receiver.got
    assert raw1 == raw2 and h1["Tierdesk-Delivery"] != h2["Tierdesk-Delivery"]
    assert json.loads(raw2)["id"] == str(original.event_id)
    log = api("lea").get(f"/api/v1/webhooks/{made['id']}/deliveries/?state=sent").json()
    assert [d["replay_of"] for d in log["results"]] == [str(original.uuid), None]
    # Pings say hello without a ticket; rotating the secret signs the next ones anew.
    old = made["secret"]
    new = api("lea").post(f"/api/v1/webhooks/{made['id']}/rotate-secret/").json()["secret"]
    ping = api("lea").post(f"/api/v1/webhooks/{made['id']}/ping/").json()
    assert ping["event_type"] == "ping" and ping["ticket"] is None and new != old
    outbox.deliver(OutboxMessage.objects.get(key=f"webhook:{ping['id']}").pk)
    headers, raw = receiver.got[-1]
    assert webhooks.verify(new, raw, headers["Tierdesk-Signature"], now=int(time.time()),
                           tolerance=300)


def test_a_paused_subscription_hears_nothing_and_cannot_replay(api, open_ticket):
    made = subscribe(api("lea"), "https://ops.helpful.test/hook", ["ticket.created"])
    open_ticket()
    api("lea").patch(f"/api/v1/webhooks/{made['id']}/", {"is_active": False}, format="json")
    open_ticket("second")
    first = WebhookDelivery.objects.get(subscription_id=made["id"])
    r = api("lea").post(f"/api/v1/webhooks/{made['id']}/deliveries/{first.uuid}/replay/")
    assert (r.status_code, r.json()["field"]) == (400, "is_active")


def test_jsonb_order_survives_a_round_trip():
    body = {"type": "x", "id": "1", "data": {"zz": 1, "a": [{"bb": 1, "c": 2}]}}
    ordered = webhooks.jsonb_order(body)
    assert list(ordered) == ["id", "data", "type"]
    assert list(ordered["data"]["a"][0]) == ["c", "bb"]
    assert webhooks.body_bytes(json.loads(json.dumps(ordered))) == webhooks.body_bytes(ordered)


def test_a_customer_url_may_not_lead_into_the_providers_network(api, people, monkeypatch,
                                                                  open_ticket, receiver):
    import socket as socket_module

    real_dns = socket_module.getaddrinfo

    def fake_dns(host, port, *args, **kwargs):
        if host == "intranet.acme.test":
            return [(socket_module.AF_INET, socket_module.SOCK_STREAM, 6, "", ("10.0.0.8", port))]
        if host == "hooks.acme.test":
            return [(socket_module.AF_INET, socket_module.SOCK_STREAM, 6, "",
                     ("93.184.215.14", port))]
        return real_dns(host, port, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fake_dns)
    r = api("alice").post("/api/v1/webhooks/", {"url": "https://intranet.acme.test/h",
                                                "events": ["ticket.created"]}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "url")
    subscribe(api("alice"), "https://hooks.acme.test/h", ["ticket.created"])
    # A receiver that redirects elsewhere is a failed delivery: the redirect is not followed.
    elsewhere = Receiver()
    try:
        receiver.redirect_to = elsewhere.url
        made = subscribe(api("lea"), receiver.url, ["ticket.created"])
        open_ticket()
        delivery = WebhookDelivery.objects.get(subscription_id=made["id"])
        assert outbox.deliver(delivery.outbox_id) is False
        assert len(receiver.got) == 1 and elsewhere.got == []
        assert "302" in OutboxMessage.objects.get(pk=delivery.outbox_id).last_error
    finally:
        elsewhere.close()
