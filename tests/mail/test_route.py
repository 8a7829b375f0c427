"""The routing reads written by hand (rows.py) give what the ORM would, in one query each."""

from __future__ import annotations

from datetime import datetime

from tierdesk.mail import route
from tierdesk.mail.parse import ParsedMail


def test_find_user_loads_agent_contact_and_organisation_in_one_query(people,
                                                                     django_assert_num_queries):
    with django_assert_num_queries(1):
        alice = route.find_user("alice@acme.test")
    with django_assert_num_queries(0):
        assert alice is not None and alice.pk == people.alice.user.pk
        assert alice.contact.pk == people.alice.pk and alice.contact.organisation.name == "Acme"
        assert getattr(alice, "agent", None) is None and alice.contact.user is alice
        assert isinstance(alice.date_joined, datetime) and alice.date_joined.tzinfo is not None
    with django_assert_num_queries(1):
        tess = route.find_user("tess@helpful.test")
    with django_assert_num_queries(0):
        assert tess is not None and tess.agent.tier == 1 and getattr(tess, "contact", None) is None
    assert route.find_user("nobody@acme.test") is None


def test_find_ticket_by_subject_header_and_known_message(open_ticket, people,
                                                         django_assert_num_queries):
    ticket = open_ticket()
    with django_assert_num_queries(1):
        found, how = route.find_ticket(ParsedMail(subject=f"Re: [{ticket.reference}] x"))
    with django_assert_num_queries(0):
        assert (found.pk, how) == (ticket.pk, "subject")
        assert found.requester.user.email == "alice@acme.test"
        assert found.organisation.name == "Acme" and found.created_at == ticket.created_at
    found, how = route.find_ticket(ParsedMail(in_reply_to=[f"td.{ticket.number}.9.9@helpful.test"]))
    assert (found.pk, how) == (ticket.pk, "header")
    assert route.find_ticket(ParsedMail(subject="Re: [TD-999999] gone")) == (None, "")


def test_organisation_for_takes_the_most_specific_domain(people):
    from tierdesk.accounts.models import OrganisationDomain

    OrganisationDomain.objects.create(organisation=people.globex, domain="eu.acme.test")
    assert route.organisation_for("x@acme.test") == people.acme
    assert route.organisation_for("x@mail.acme.test") == people.acme
    assert route.organisation_for("x@mail.eu.acme.test") == people.globex
    assert route.organisation_for("x@other.test") is None
    assert route.organisation_for("x@localhost") is None


def test_sender_load_counts_the_hour_at_either_limit(db, settings, django_assert_num_queries):
    """The index-only count answers alone only below both limits; at a limit the
    outcomes are read, so created and processed mail are told apart exactly."""
    from datetime import UTC, timedelta

    from tierdesk.mail.models import InboundMessage

    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    settings.MAIL_NEW_TICKETS_PER_SENDER_HOUR = 2
    settings.MAIL_MESSAGES_PER_SENDER_HOUR = 3

    def message(n: int, *, state: str, outcome: str = "", ago: int = 10) -> None:
        InboundMessage.objects.create(
            dedupe_key=f"load-{n}", source="test", raw=b"x", size=1, state=state,
            outcome=outcome, from_address="busy@acme.test",
            received_at=now - timedelta(minutes=ago))

    with django_assert_num_queries(1):
        assert route.sender_load("busy@acme.test", now) == (False, False)
    message(1, state="processed", outcome="created")
    message(2, state="held")
    message(3, state="processed", outcome="created", ago=61)  # over an hour ago: not counted
    with django_assert_num_queries(2):  # two in the hour: at the lower limit
        assert route.sender_load("busy@acme.test", now) == (False, False)
    message(4, state="processed", outcome="created")
    assert route.sender_load("busy@acme.test", now) == (True, False)
    message(5, state="processed", outcome="replied")
    assert route.sender_load("busy@acme.test", now) == (True, True)
    assert route.sender_load("other@acme.test", now) == (False, False)


def test_hand_written_reads_answer_alike_on_the_driver_and_through_django(
        open_ticket, people, django_assert_num_queries):
    """On SQLite the statements go straight to the driver unless the queries are watched
    (then through Django's cursor, so they are counted): both give the same answers, and
    a database error is Django's either way."""
    import pytest
    from django.db import DatabaseError
    from django.forms.models import model_to_dict

    from tierdesk.mail import rows

    ticket = open_ticket()
    direct = route._ticket(number=ticket.number), route.find_user("alice@acme.test")
    with django_assert_num_queries(2):
        watched = route._ticket(number=ticket.number), route.find_user("alice@acme.test")
    for one, other in zip(direct, watched, strict=True):
        assert one is not None and other is not None
        assert model_to_dict(one) == model_to_dict(other)
    assert model_to_dict(direct[0].organisation.plan) == model_to_dict(watched[0].organisation.plan)
    assert direct[1].contact.organisation.pk == watched[1].contact.organisation.pk
    with pytest.raises(DatabaseError):
        rows.one("SELECT nothing FROM no_such_table WHERE 1 = %s", [1])
    with django_assert_num_queries(1), pytest.raises(DatabaseError):
        rows.one("SELECT nothing FROM no_such_table WHERE 1 = %s", [1])
