"""A create's body is validated by fields built once per process (TicketCreateSerializer.parse):
a customer's scope lasts one request, odd ids are refusals (never a server error), and the
refusals are DRF's own, field by field."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tierdesk.api import serializers as s
from tierdesk.tickets.models import Ticket


def _refusal(r, field: str, code: str) -> dict:
    assert r.status_code == 400, r.json()
    assert r["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["field"] == field
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in body["errors"]]
    return body


def test_a_customer_names_no_contact_of_another_organisation(api, people):
    alice = api("alice")
    body = _refusal(alice.post("/api/v1/tickets/", {
        "subject": "x", "description": "y", "requester": people.charlie.pk}, format="json"),
        "requester", "does_not_exist")
    # The same words as an id that does not exist at all: the outsider is not revealed.
    assert body["detail"] == f'requester: Invalid pk "{people.charlie.pk}" - object does not exist.'
    _refusal(alice.post("/api/v1/tickets/", {"subject": "x", "description": "y",
                                             "cc": [people.bob.pk, people.charlie.pk]},
                        format="json"), "cc", "does_not_exist")
    assert not Ticket.objects.exists()


def test_the_scope_lasts_one_request(api, people):
    """Charlie (Globex), then an agent naming Charlie, then Alice naming Charlie:
    each request is judged by its own caller, whatever came before in the process."""
    charlie, tess, alice = api("charlie"), api("tess"), api("alice")
    assert charlie.post("/api/v1/tickets/", {"subject": "a", "description": "b"},
                        format="json").status_code == 201
    r = tess.post("/api/v1/tickets/", {"subject": "a", "description": "b",
                                       "requester": people.charlie.pk}, format="json")
    assert r.status_code == 201, r.json()
    _refusal(alice.post("/api/v1/tickets/", {"subject": "a", "description": "b",
                                             "cc": [people.charlie.pk]}, format="json"),
             "cc", "does_not_exist")
    assert s._contact_scope.get() is None


@pytest.mark.parametrize(("value", "code"), [
    ("abc", "incorrect_type"), (True, "incorrect_type"), ([1], "incorrect_type"),
    ({"id": 1}, "incorrect_type"), (2**70, "does_not_exist"), (-(2**70), "does_not_exist"),
    (0, "does_not_exist"), (999_999, "does_not_exist")])
def test_odd_requesters_are_refusals_not_errors(api, value, code):
    _refusal(api("tess").post("/api/v1/tickets/", {"subject": "x", "description": "y",
                                                   "requester": value}, format="json"),
             "requester", code)


def test_every_refusal_of_a_body_at_once(api):
    """DRF collects every field's refusal; the shared fields do too."""
    r = api("tess").post("/api/v1/tickets/", {"subject": 5 * "x" * 100, "description": None,
                                              "impact": "huge", "users_affected": -1},
                         format="json")
    assert r.status_code == 400
    assert sorted(e["field"] for e in r.json()["errors"]) == [
        "description", "impact", "subject", "users_affected"]
    r = api("tess").post("/api/v1/tickets/", [1, 2], format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid"


def test_the_same_answer_as_a_fresh_serializer(api, people):
    """What the shared instance accepts is what a serializer made for the request accepts."""
    from rest_framework.test import APIRequestFactory

    tess = api("tess")
    body = {"subject": "s", "description": "d", "requester": str(people.alice.pk),
            "cc": [people.bob.pk], "users_affected": "3", "business_stopped": "true",
            "impact": "", "category": None}
    request = APIRequestFactory().post("/", body, format="json")
    request.user = tess.token.user
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request

    drf_request = Request(request, parsers=[JSONParser()])
    drf_request.user = tess.token.user
    fresh = s.TicketCreateSerializer(data=drf_request.data)
    assert fresh.is_valid(), fresh.errors
    assert s.TicketCreateSerializer.parse(drf_request) == dict(fresh.validated_data)


@pytest.mark.django_db(transaction=True)
def test_threads_share_the_fields_not_the_scope(api, people):
    """Two threads validating at once, an agent and a customer, each keep their own scope."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(
            "file:memorydb"):
        pytest.skip("an in-memory SQLite database is one connection")
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    def request_of(user, body):
        raw = APIRequestFactory().post("/", body, format="json")
        request = Request(raw, parsers=[JSONParser()])
        request.user = user
        return request

    results: dict[str, list] = {"agent": [], "alice": []}
    barrier = threading.Barrier(2)

    def run(who, user):
        barrier.wait()
        for _ in range(30):
            try:
                s.TicketCreateSerializer.parse(request_of(user, {
                    "subject": "s", "description": "d", "cc": [people.charlie.pk]}))
                results[who].append("ok")
            except Exception as exc:  # the refusal is what is counted
                results[who].append(type(exc).__name__)
            finally:
                connection.close()

    threads = [threading.Thread(target=run, args=("agent", people.tess.user)),
               threading.Thread(target=run, args=("alice", people.alice.user))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["agent"] == ["ok"] * 30
    assert results["alice"] == ["ValidationError"] * 30
