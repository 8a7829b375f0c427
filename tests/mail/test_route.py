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
