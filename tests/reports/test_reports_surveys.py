"""Satisfaction after resolution: the mail, the signed links, answers, alerts, cycles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from support import T0

from reports.helpers import H, login
from tierdesk.notifications.models import Notification, OutboxMessage
from tierdesk.reports import queries, surveys
from tierdesk.reports.models import Rating, SatisfactionSurvey
from tierdesk.tickets import actions

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _soon_after_resolution(time_machine):
    time_machine.move_to(T0 + 3 * H, tick=False)


@pytest.fixture
def resolved(open_ticket, people):
    t = open_ticket()
    actions.assign(actor=people.lea.user, ticket=t, agent=people.tess, team=people.team,
                   at=T0 + H)
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Done.", at=T0 + 2 * H)
    return t


def url(survey, face=""):
    return surveys.link(survey, face, absolute=False)


def test_resolution_asks_once_with_three_signed_faces(resolved, people):
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    assert (survey.cycle, survey.assignee_id, survey.sent_to) == (0, people.tess.pk,
                                                                  "alice@acme.test")
    mail = OutboxMessage.objects.get(key=f"survey:{survey.pk}")
    assert mail.to == ["alice@acme.test"]
    for face in surveys.FACES:
        assert surveys.link(survey, face) in mail.text and surveys.link(survey, face) in mail.html
    # A second resolution event of the same cycle (merge, retried hook) asks nothing more.
    surveys.open_survey(resolved, at=T0 + 3 * H)
    assert SatisfactionSurvey.objects.count() == 1
    assert OutboxMessage.objects.filter(key__startswith="survey:").count() == 1


def test_a_click_shows_the_face_and_only_a_post_records_it(resolved):
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    page = Client().get(url(survey, "negative"))
    assert page.status_code == 200 and b"survey-form" in page.content
    assert b".submit()" in page.content  # the browser sends it at once; scanners do not
    survey.refresh_from_db()
    assert survey.rating is None  # a GET (a link scanner) answers nothing
    response = Client().post(url(survey), {"face": "positive", "comment": "Quick, thanks"})
    assert response.status_code == 302
    survey.refresh_from_db()
    assert (survey.rating, survey.comment, survey.answered_by) == (Rating.POSITIVE,
                                                                    "Quick, thanks", None)


def test_answers_change_for_a_few_days_then_stay(resolved, time_machine):
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    time_machine.move_to(T0 + 3 * H)
    Client().post(url(survey), {"face": "neutral"})
    time_machine.move_to(T0 + timedelta(days=3))
    Client().post(url(survey), {"face": "positive", "comment": "Better now"})
    survey.refresh_from_db()
    assert survey.rating == Rating.POSITIVE and survey.changed_at is not None
    time_machine.move_to(T0 + timedelta(days=9))
    page = Client().post(url(survey), {"face": "negative"})
    survey.refresh_from_db()
    assert survey.rating == Rating.POSITIVE
    assert "can be changed for 7 days" in page.content.decode()


def test_an_unanswered_survey_closes(resolved, time_machine):
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    time_machine.move_to(T0 + timedelta(days=31))
    Client().post(url(survey), {"face": "positive"})
    survey.refresh_from_db()
    assert survey.rating is None


def test_negative_answer_alerts_the_team_lead_once(resolved, people, time_machine):
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    time_machine.move_to(T0 + 3 * H)
    Client().post(url(survey), {"face": "negative", "comment": "Took ages"})
    Client().post(url(survey), {"face": "negative", "comment": "Really ages"})
    alerts = Notification.objects.filter(kind="survey_negative")
    assert [n.recipient for n in alerts] == [people.lea.user]
    assert "Took ages" in alerts[0].body
    assert OutboxMessage.objects.filter(key__startswith="survey-negative:").count() == 1


def test_tokens_cannot_be_forged_or_pointed_at_another_ticket(resolved, open_ticket, people):
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    other = open_ticket("Another")
    actions.resolve(actor=people.tess.user, ticket=other, code="fixed", note="Ok.",
                    at=T0 + 2 * H)
    theirs = SatisfactionSurvey.objects.get(ticket=other)
    token = surveys.token_for(survey)
    assert surveys.survey_for_token(token) == survey
    # The payload names both the survey and its ticket; changing either breaks the signature.
    forged = signing.dumps({"s": theirs.pk, "t": resolved.pk}, salt="another.salt")
    mixed = signing.dumps({"s": theirs.pk, "t": resolved.pk}, salt=surveys.SALT)
    for bad in (token[:-2] + "xx", forged, mixed, "nonsense"):
        assert surveys.survey_for_token(bad) is None
        assert Client().get(reverse("survey:answer", args=[bad])).status_code == 404


def test_who_may_open_the_link(resolved, people):
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    assert Client().get(url(survey)).status_code == 200  # no sign-in needed
    assert login(people.alice).get(url(survey)).status_code == 200  # the owner
    assert login(people.bob).get(url(survey)).status_code == 200  # a colleague
    assert login(people.charlie).get(url(survey)).status_code == 404  # an outsider
    lea = login(people.lea)
    assert lea.get(url(survey)).status_code == 200
    assert lea.post(url(survey), {"face": "positive"}).status_code == 403  # agents do not answer
    survey.refresh_from_db()
    assert survey.rating is None
    login(people.bob).post(url(survey), {"face": "positive"})
    survey.refresh_from_db()
    assert survey.answered_by == people.bob.user


def test_reopening_keeps_the_answer_with_its_cycle(resolved, people):
    first = SatisfactionSurvey.objects.get(ticket=resolved)
    surveys.answer(first, face="negative", comment="Not fixed", by=None, at=T0 + 3 * H)
    actions.reopen(actor=people.alice.user, ticket=resolved, reason="Still broken",
                   at=T0 + 4 * H)
    resolved.refresh_from_db()
    assert surveys.current_survey(resolved) is None  # open again: nothing to ask
    actions.resolve(actor=people.tess.user, ticket=resolved, code="fixed", note="Now.",
                    at=T0 + 6 * H)
    second = SatisfactionSurvey.objects.get(ticket=resolved, cycle=1)
    first.refresh_from_db()
    assert (first.rating, first.comment) == (Rating.NEGATIVE, "Not fixed")
    assert second.rating is None and surveys.current_survey(resolved) == second
    surveys.answer(second, face="positive", comment="", by=None, at=T0 + 7 * H)
    filters = queries.Filters(start=T0.date(), end=T0.date())
    totals = queries.satisfaction_totals(filters)
    assert (totals.asked, totals.positive, totals.negative) == (2, 1, 1)


def test_merged_duplicates_are_not_asked(open_ticket, people):
    source, target = open_ticket("dup"), open_ticket("main")
    actions.merge(actor=people.tess.user, source=source, target=target, at=T0 + H)
    assert not SatisfactionSurvey.objects.filter(ticket=source).exists()


def test_faces_for_the_portal_ticket_page(resolved, people):
    html = Template("{% load survey %}{% survey_faces ticket %}").render(
        Context({"ticket": resolved}))
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    for face in surveys.FACES:
        assert url(survey, face).replace("&", "&amp;") in html or url(survey, face) in html
    open_one = Template("{% load survey %}{% survey_faces ticket %}").render(
        Context({"ticket": resolved.__class__(pk=resolved.pk, status="open")}))
    assert "How did we do" not in open_one


def test_satisfaction_by_agent_and_organisation(resolved, open_ticket, people):
    other = open_ticket("Second", requester=people.charlie)
    actions.assign(actor=people.lea.user, ticket=other, agent=people.tom, at=T0 + H)
    actions.resolve(actor=people.tom.user, ticket=other, code="fixed", note="Ok.", at=T0 + 2 * H)
    surveys.answer(SatisfactionSurvey.objects.get(ticket=resolved), face="positive", comment="",
                   by=None, at=T0 + 3 * H)
    surveys.answer(SatisfactionSurvey.objects.get(ticket=other), face="negative", comment="No",
                   by=None, at=T0 + 3 * H)
    filters = queries.Filters(start=T0.date(), end=T0.date())
    agents = {r.label: r for r in queries.satisfaction_table(filters, "agent")}
    assert (agents["Tess Tier1"].positive, agents["Tom Tier2"].negative) == (1, 1)
    orgs = {r.label: r for r in queries.satisfaction_table(filters, "organisation")}
    assert orgs["Acme"].positive_share == 100.0 and orgs["Globex"].net == -100.0
    months = queries.satisfaction_table(filters, "month")
    assert [(r.label, r.asked, r.answered) for r in months] == [("2026-03", 2, 2)]
    assert [s.ticket_id for s in queries.answers(filters, face="negative")] == [other.pk]


def test_the_portal_ticket_page_shows_the_faces(resolved, people):
    """The requester sees the faces on the resolved ticket; a colleague who may not see
    the ticket (a member, not an admin) and an outsider get "not found"."""
    survey = SatisfactionSurvey.objects.get(ticket=resolved)
    page_url = reverse("portal:ticket", args=[resolved.reference])
    html = login(people.alice).get(page_url).content.decode()
    assert "How did we do?" in html
    assert url(survey, "negative").replace("&", "&amp;") in html
    for who in (people.bob, people.charlie):
        assert login(who).get(page_url).status_code == 404
    surveys.answer(survey, face="neutral", comment="", by=None, at=T0 + 3 * H)
    html = login(people.alice).get(page_url).content.decode()
    assert "Your answer" in html and "Change it or add a comment" in html
    actions.reopen(actor=people.alice.user, ticket=resolved, reason="Again", at=T0 + 3 * H)
    assert "How did we do?" not in login(people.alice).get(page_url).content.decode()
