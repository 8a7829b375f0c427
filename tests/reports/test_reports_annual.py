"""The annual survey (seed 004): invitations, reminders, answers by signed link, results."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from reports.helpers import login
from tierdesk.notifications.models import OutboxMessage
from tierdesk.reports import annual
from tierdesk.reports.models import AnnualAnswer, AnnualInvite, AnnualSurvey

pytestmark = pytest.mark.django_db
JUNE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
QUESTIONS = [{"key": "overall", "text": "Overall, how good is our support?", "kind": "scale"},
             {"key": "speed", "text": "How fast do we answer?", "kind": "scale"},
             {"key": "better", "text": "What should we do better?", "kind": "text"}]


@pytest.fixture
def survey(people, time_machine):
    time_machine.move_to(JUNE, tick=False)
    s = AnnualSurvey.objects.create(name="Your opinion 2026", year=2026, questions=QUESTIONS,
                                    opens_on=date(2026, 6, 1), closes_on=date(2026, 6, 30))
    assert annual.launch(s, now=JUNE) == 3  # alice, bob, charlie
    return s


def invite_of(survey, contact):
    return AnnualInvite.objects.get(survey=survey, contact=contact)


def url(invite):
    return reverse("survey:annual", args=[annual.token_for(invite)])


def test_questions_are_checked():
    s = AnnualSurvey(name="x", year=2026, questions=[{"key": "a", "text": "A", "kind": "stars"},
                                                      {"key": "a", "text": "B"}],
                     opens_on=date(2026, 1, 1), closes_on=date(2026, 1, 31))
    with pytest.raises(ValidationError) as err:
        s.clean()
    assert "stars" not in str(err.value) and "used twice" in str(err.value)


def test_launch_invites_every_contact_once(survey, people):
    mails = OutboxMessage.objects.filter(key__startswith="annual:")
    assert sorted(m.to[0] for m in mails) == ["alice@acme.test", "bob@acme.test",
                                              "charlie@globex.test"]
    assert url(invite_of(survey, people.alice)) in mails.get(to=["alice@acme.test"]).text
    assert annual.launch(survey, now=JUNE) == 0  # again: nobody new


def test_reminders_go_to_those_who_did_not_answer_at_most_twice(survey, people, time_machine):
    annual.answer(invite_of(survey, people.alice), {"overall": 5, "speed": 4}, at=JUNE)
    assert annual.remind(now=JUNE + timedelta(days=3)) == 0  # too soon
    week = JUNE + timedelta(days=7)
    assert annual.remind(now=week) == 2  # bob and charlie
    assert annual.remind(now=week) == 0  # a second run that day sends nothing
    assert annual.remind(now=week + timedelta(days=7)) == 2
    assert annual.remind(now=week + timedelta(days=14)) == 0  # max_reminders reached
    assert OutboxMessage.objects.filter(key__startswith="annual:", key__endswith=":1").count() == 2
    time_machine.move_to(datetime(2026, 7, 5, tzinfo=UTC))
    survey.max_reminders = 5
    survey.save()
    assert annual.remind(now=datetime(2026, 7, 5, tzinfo=UTC)) == 0  # closed


def test_answer_by_link_and_results_by_organisation(survey, people):
    alice = invite_of(survey, people.alice)
    page = Client().get(url(alice))
    assert page.status_code == 200 and "Overall, how good" in page.content.decode()
    Client().post(url(alice), {"overall": "5", "speed": "3", "better": "Faster phone line"})
    login(people.bob).post(url(invite_of(survey, people.bob)), {"overall": "4", "speed": "2"})
    Client().post(url(invite_of(survey, people.charlie)), {"overall": "2"})
    # Alice changes her mind while the survey is open.
    Client().post(url(alice), {"overall": "4", "speed": "3", "better": "Faster phone line"})
    questions, orgs = annual.results(survey)
    q = {x.key: x for x in questions}
    assert (q["overall"].answers, q["overall"].average) == (3, pytest.approx(10 / 3))
    assert q["overall"].distribution == {1: 0, 2: 1, 3: 0, 4: 2, 5: 0}
    assert q["better"].answers == 1
    o = {x.organisation: x for x in orgs}
    assert (o["Acme"].invited, o["Acme"].answered, o["Acme"].averages["speed"]) == (2, 2, 2.5)
    assert (o["Globex"].response_rate, o["Globex"].averages.get("speed")) == (100.0, None)
    assert AnnualAnswer.objects.filter(invite=alice).count() == 3


def test_links_are_personal_and_cannot_be_forged(survey, people):
    alice = invite_of(survey, people.alice)
    assert login(people.charlie).get(url(alice)).status_code == 404  # an outsider
    assert login(people.bob).get(url(alice)).status_code == 200  # a colleague holding it
    forged = signing.dumps({"i": alice.pk, "c": people.charlie.pk}, salt=annual.SALT)
    for bad in (forged, annual.token_for(alice)[:-3] + "abc", "x"):
        assert Client().get(reverse("survey:annual", args=[bad])).status_code == 404


def test_a_closed_survey_takes_no_answers(survey, people, time_machine):
    time_machine.move_to(datetime(2026, 7, 2, tzinfo=UTC))
    alice = invite_of(survey, people.alice)
    page = Client().post(url(alice), {"overall": "1"})
    assert "closed" in page.content.decode() and not AnnualAnswer.objects.exists()


def test_the_provider_pages(survey, people):
    lea = login(people.lea)
    assert "Your opinion 2026" in lea.get(reverse("reports:annual_list")).content.decode()
    annual.answer(invite_of(survey, people.charlie), {"overall": 3, "better": "More docs"})
    detail = lea.get(reverse("reports:annual", args=[survey.pk])).content.decode()
    assert "Globex" in detail and "More docs" in detail
    body = b"".join(lea.get(reverse("reports:annual", args=[survey.pk]) + "?format=csv")
                    .streaming_content).decode()
    assert "Globex,1,1,100.00,3.00" in body
    for who in (people.tess, people.alice, people.charlie):
        assert login(who).get(reverse("reports:annual", args=[survey.pk])).status_code == 403
        assert login(who).post(reverse("reports:annual_launch", args=[survey.pk])
                               ).status_code == 403
    assert lea.post(reverse("reports:annual_launch", args=[survey.pk])).status_code == 302


def test_the_question_table_as_csv(survey, people):
    annual.answer(invite_of(survey, people.charlie), {"overall": 3, "better": "More docs"})
    annual.answer(invite_of(survey, people.alice), {"overall": 5})
    body = b"".join(login(people.lea).get(reverse("reports:annual", args=[survey.pk])
                                          + "?format=csv&table=questions")
                    .streaming_content).decode()
    lines = body.splitlines()
    assert lines[0].startswith("Question,Kind,Answers,Average (1–5),1,2,3,4,5")
    assert any(line.endswith(",scale,2,4.00,0,0,1,0,1") for line in lines)
    assert login(people.alice).get(reverse("reports:annual", args=[survey.pk])
                                   + "?format=csv&table=questions").status_code == 403
