"""A create answers from the ticket the action returns, not from a read-back: the answer
must be exactly what reading the ticket gives, and the API's own queries stay few."""

from __future__ import annotations

import pytest
from django.db import connection

from tierdesk.api.views import tickets as views


def _same_as_read(client, r) -> dict:
    assert r.status_code == 201, r.json()
    data = r.json()
    assert client.get(data["url"]).json() == data
    return data


def test_a_customers_create_answers_what_a_read_gives(api, people):
    alice = api("alice")
    data = _same_as_read(alice, alice.post("/api/v1/tickets/", {
        "subject": "Printer on fire", "description": "Smoke from tray 2.", "impact": "some_users",
        "urgency": "stopped", "category": "technical", "cc": [people.bob.pk],
        "users_affected": 3}, format="json"))
    assert [c["email"] for c in data["cc"]] == ["bob@acme.test"]
    assert data["organisation"]["name"] == "Acme" and data["internal"] is None


@pytest.mark.parametrize("by", ["id", "email"])
def test_an_agents_create_answers_what_a_read_gives(api, people, by):
    tess = api("tess")
    who = {"requester": people.alice.pk} if by == "id" else {"requester_email": "alice@acme.test"}
    data = _same_as_read(tess, tess.post("/api/v1/tickets/", {
        "subject": "Phone call: VPN", "description": "Called at 9.", "priority": "high",
        "channel": "phone", "cc": [people.bob.pk], **who}, format="json"))
    assert data["requester"]["name"] == "Alice Admin" and data["internal"]["tier"] == 1
    assert {row["target"] for row in data["sla"]} == {"first_response", "resolution_plan",
                                                       "resolution"}


def _api_queries_of_a_create(client, people, monkeypatch, after_action=None):
    """(the answer, every statement, how many of them the action asked) of a second create
    (the first writes the token's last use). `after_action(ticket)` runs on what the
    action returned, its queries counted as the action's."""
    create = views.actions.create_ticket
    sql: list[str] = []
    inside: list[int] = []

    def counted(**kwargs):
        before = len(sql)
        ticket = create(**kwargs)
        if after_action is not None:
            after_action(ticket)
        inside.append(len(sql) - before)
        return ticket

    def log(execute, query, params, many, context):
        sql.append(query)
        return execute(query, params, many, context)

    monkeypatch.setattr(views.actions, "create_ticket", counted)
    body = {"subject": "x", "description": "y", "requester": people.alice.pk}
    client.post("/api/v1/tickets/", body, format="json")
    sql.clear()
    with connection.execute_wrapper(log):
        r = client.post("/api/v1/tickets/", body, format="json")
    assert r.status_code == 201, r.json()
    return r, sql, inside[-1]


def test_the_api_layers_own_queries_on_a_create(api, people, monkeypatch):
    """Everything but the action: the token, the requester (with its organisation and plan,
    which the action then does not read again) and the SLA rows of the answer."""
    _r, sql, inside = _api_queries_of_a_create(api("tess"), people, monkeypatch)
    assert len(sql) - inside == 3, sql


def test_the_answer_takes_the_sla_rows_the_action_leaves_in_its_prefetch_cache(api, people,
                                                                                monkeypatch):
    """When `create_ticket` leaves the SLA rows it wrote in the ticket's prefetch cache (as
    `ticket.sla_rows.all()` would give them, in any order), the answer asks no query for
    them: the API layer's own are the token and the requester. It still equals a read."""
    from django.db.models import prefetch_related_objects

    def leave_rows(ticket):
        prefetch_related_objects([ticket], "sla_rows")
        cached = ticket._prefetched_objects_cache["sla_rows"]
        cached._result_cache = cached._result_cache[::-1]

    tess = api("tess")
    r, sql, inside = _api_queries_of_a_create(tess, people, monkeypatch, leave_rows)
    assert len(sql) - inside == 2, sql
    data = _same_as_read(tess, r)
    assert [row["target"] for row in data["sla"]] == sorted(row["target"] for row in data["sla"])


def test_the_answers_labels_follow_the_language_and_its_urls_the_script_prefix(api, people):
    """The SLA labels and the tickets' URL prefix are made once per language and per script
    prefix (serializers._Writer): a Spanish user gets Spanish labels after an English one,
    a desk served under /desk gets /desk URLs, and the next request at the root root URLs."""
    tom = api("tom")
    english = tom.post("/api/v1/tickets/", {"subject": "Labels", "description": "y",
                                             "requester": people.alice.pk}, format="json").json()
    user = people.tom.user
    user.language = "es"
    user.save(update_fields=["language"])
    spanish = api("tom").post("/api/v1/tickets/", {"subject": "Etiquetas", "description": "y",
                                                    "requester": people.alice.pk},
                              format="json").json()
    assert english["sla"] and [s["target"] for s in english["sla"]] == [
        s["target"] for s in spanish["sla"]]
    assert all(e["label"] != s["label"] for e, s in zip(english["sla"], spanish["sla"],
                                                        strict=True)), (english["sla"],
                                                                        spanish["sla"])
    from django.urls import get_script_prefix, set_script_prefix

    before = get_script_prefix()
    set_script_prefix("/desk/")  # as WSGIHandler does from SCRIPT_NAME (the test client not)
    try:
        listed = tom.get("/api/v1/tickets/").json()["results"][0]
    finally:
        set_script_prefix(before)
    assert listed["url"] == f"/desk/api/v1/tickets/{listed['reference']}/"
    assert tom.get("/api/v1/tickets/").json()["results"][0]["url"].startswith("/api/v1/tickets/")
