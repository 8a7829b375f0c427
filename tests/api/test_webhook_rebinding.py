"""A customer's webhook receiver is checked again at every delivery: a name that pointed
at the internet when the subscription was saved and now points into the provider's
network (DNS rebinding) gets nothing. Agents' receivers may be internal."""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from api.test_api_webhooks import Receiver, subscribe
from tierdesk.api.models import WebhookDelivery
from tierdesk.notifications import outbox
from tierdesk.notifications.models import OutboxMessage

PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """answers["name"] = "address": what the resolver says now (other names: the real one)."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return answers


def test_a_name_rebound_into_our_network_gets_no_delivery(api, people, open_ticket, dns):
    receiver = Receiver()
    try:
        port = receiver.server.server_port
        dns["hooks.acme.test"] = PUBLIC
        made = subscribe(api("alice"), f"https://hooks.acme.test:{port}/h", ["ticket.created"])
        open_ticket()
        delivery = WebhookDelivery.objects.select_related("outbox").get(subscription_id=made["id"])
        assert delivery.outbox.internet_only
        dns["hooks.acme.test"] = "127.0.0.1"  # the customer's DNS now answers loopback
        assert outbox.deliver(delivery.outbox_id) is False
        message = OutboxMessage.objects.get(pk=delivery.outbox_id)
        assert message.state == "pending" and "not an address on the internet" in message.last_error
        assert receiver.got == []
    finally:
        receiver.close()


def test_an_agents_receiver_may_be_internal(api, people, open_ticket):
    receiver = Receiver()
    try:
        made = subscribe(api("lea"), receiver.url, ["ticket.created"])
        open_ticket()
        delivery = WebhookDelivery.objects.get(subscription_id=made["id"])
        assert not OutboxMessage.objects.get(pk=delivery.outbox_id).internet_only
        assert outbox.deliver(delivery.outbox_id) is True
        assert len(receiver.got) == 1
    finally:
        receiver.close()


@pytest.mark.parametrize(("answers", "ok"), [
    ([PUBLIC], True),
    ([PUBLIC, "10.0.0.8"], False),        # one private answer is enough to refuse
    (["169.254.169.254"], False),         # a cloud's metadata service
    (["::1"], False),
    ([], False),
])
def test_every_address_of_the_name_must_be_public(monkeypatch, answers, ok):
    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    if ok:
        assert outbox.internet_address("hooks.acme.test", 443) == answers[0]
    else:
        with pytest.raises(outbox.NotOnTheInternet):
            outbox.internet_address("hooks.acme.test", 443)


def test_literal_addresses_and_plain_http_are_checked_too():
    with pytest.raises(outbox.NotOnTheInternet):
        outbox.internet_address("127.0.0.1", 443)
    assert outbox.internet_address(PUBLIC, 443) == PUBLIC
    with pytest.raises(outbox.NotOnTheInternet):
        outbox._pinned_opener(f"http://{PUBLIC}/h")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_connection_goes_to_the_checked_address_and_tls_checks_the_name(tmp_path):
    """TLS over a TCP connection to the pinned address: the certificate and the Host
    header are the name's; a certificate for another name is refused."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    openssl = shutil.which("openssl") or "openssl"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",  # noqa: S603
                    "-days", "1", "-keyout", key, "-out", cert, "-subj", "/CN=hooks.acme.test",
                    "-addext", "subjectAltName=DNS:hooks.acme.test"],
                   check=True, capture_output=True)

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.headers["Host"].encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_port
        trust = ssl.create_default_context(cafile=str(cert))
        connection = outbox._PinnedHTTPSConnection("hooks.acme.test", address="127.0.0.1",
                                                    context=trust, port=port, timeout=5)
        connection.request("GET", "/")
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, f"hooks.acme.test:{port}".encode())
        other = outbox._PinnedHTTPSConnection("other.acme.test", address="127.0.0.1",
                                              context=trust, port=port, timeout=5)
        with pytest.raises(ssl.SSLCertVerificationError):
            other.request("GET", "/")
    finally:
        server.shutdown()
        server.server_close()
