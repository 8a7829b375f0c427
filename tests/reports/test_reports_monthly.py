"""The proactive monthly report: due on the first business day, sent exactly once, with a PDF."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from reports.helpers import login
from tierdesk.notifications import outbox
from tierdesk.notifications.models import OutboxMessage
from tierdesk.reports import monthly
from tierdesk.reports.models import MonthlyReport, OrganisationReporting

pytestmark = pytest.mark.django_db
APRIL_1 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)  # a Wednesday


def monthly_mail():
    return OutboxMessage.objects.filter(key__startswith="monthly:").order_by("key")


def test_first_business_day_on_each_calendar(people):
    august = date(2026, 8, 1)  # a Saturday
    assert monthly.first_business_day(people.acme, august) == august  # 24x7
    assert monthly.first_business_day(people.globex, august) == date(2026, 8, 3)
    saturday = datetime(2026, 8, 1, 10, 0, tzinfo=UTC)
    assert monthly.due_month(people.acme, saturday) == date(2026, 7, 1)
    assert monthly.due_month(people.globex, saturday) is None
    monday = datetime(2026, 8, 3, 8, 0, tzinfo=UTC)  # 10:00 in Madrid
    assert monthly.due_month(people.globex, monday) == date(2026, 7, 1)


def test_sent_once_to_the_organisation_admins_with_the_pdf(month, people):
    sent = monthly.run_monthly(APRIL_1)
    assert sorted(r.organisation.name for r in sent) == ["Acme", "Globex"]
    assert [m.to for m in monthly_mail()] == [["alice@acme.test"], ["charlie@globex.test"]]
    # The worker runs every hour, and may be restarted: nothing goes twice.
    assert monthly.run_monthly(APRIL_1) == []
    assert monthly.run_monthly(datetime(2026, 4, 20, tzinfo=UTC)) == []
    assert monthly_mail().count() == 2 and MonthlyReport.objects.count() == 2
    acme = MonthlyReport.objects.get(organisation=people.acme)
    assert bytes(acme.pdf).startswith(b"%PDF") and acme.recipients == ["alice@acme.test"]
    f = acme.figures
    assert (f["month"], f["opened"], f["resolved"]) == ("2026-03", 3, 2)
    assert [(t["code"], t["met"], t["breached"]) for t in f["targets"]] == [
        ("first_response", 1, 2), ("resolution_plan", 1, 2), ("resolution", 1, 2)]
    assert [i["reference"] for i in f["open_items"]] == [month.C.reference]
    assert {b["reference"] for b in f["breaches"]} == {month.B.reference, month.C.reference}
    assert f["escalations"]["customer"] == 1 and f["reopened"] == 1


def test_the_mail_carries_the_pdf(month, people, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monthly.run_monthly(APRIL_1)
    message = monthly_mail().first()
    assert outbox.deliver(message.pk)
    sent = mail.outbox[-1]
    assert sent.to == ["alice@acme.test"] and "Acme" in sent.subject
    (name, content, mimetype), = sent.attachments
    assert (name, mimetype) == ("acme-2026-03.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    assert reverse("reports:my_report", args=[MonthlyReport.objects.get(
        organisation=people.acme).pk]) in sent.body


def test_a_worker_killed_mid_way_leaves_nothing_and_the_next_run_sends(month, people,
                                                                       monkeypatch):
    from tierdesk.reports import pdf

    real = pdf.monthly_pdf

    def dies(figures):
        raise SystemError("killed")

    monkeypatch.setattr(pdf, "monthly_pdf", dies)
    assert monthly.run_monthly(APRIL_1) == []
    assert not MonthlyReport.objects.exists() and not monthly_mail().exists()
    monkeypatch.setattr(pdf, "monthly_pdf", real)
    assert len(monthly.run_monthly(APRIL_1)) == 2
    assert monthly_mail().count() == 2


def test_a_claimed_report_is_not_sent_by_a_second_worker(month, people):
    first = monthly.send_monthly(people.acme, date(2026, 3, 1), now=APRIL_1)
    assert first is not None
    assert monthly.send_monthly(people.acme, date(2026, 3, 1), now=APRIL_1) is None
    assert monthly_mail().count() == 1


def test_organisations_can_opt_out_and_keep_satisfaction_internal(month, people):
    OrganisationReporting.objects.create(organisation=people.globex, monthly_report=False)
    OrganisationReporting.objects.create(organisation=people.acme, share_satisfaction=False,
                                         extra_recipients=["cto@acme.test"])
    sent = monthly.run_monthly(APRIL_1)
    assert [r.organisation for r in sent] == [people.acme]
    assert sent[0].figures["satisfaction"] is None
    assert sorted(m.to[0] for m in monthly_mail()) == ["alice@acme.test", "cto@acme.test"]


def test_the_command_sends_and_previews(month, people, tmp_path, time_machine):
    from django.core.management import call_command

    out = tmp_path / "acme.pdf"
    call_command("reports", "preview", str(people.acme.pk), "2026-03", "--pdf", str(out))
    assert out.read_bytes().startswith(b"%PDF") and not MonthlyReport.objects.exists()
    time_machine.move_to(APRIL_1)
    call_command("reports", "monthly")
    assert MonthlyReport.objects.count() == 2


# --------------------------------------------------------------------------- pages


@pytest.fixture
def reports(month, people):
    monthly.run_monthly(APRIL_1)
    return {r.organisation.name: r for r in MonthlyReport.objects.select_related("organisation")}


def test_org_admins_see_their_reports(reports, people):
    acme = reports["Acme"]
    alice = login(people.alice)
    page = alice.get(reverse("reports:my_reports"))
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("reports:my_report", args=[acme.pk]) in html
    assert reverse("reports:my_report", args=[reports["Globex"].pk]) not in html
    assert alice.get(reverse("reports:my_report", args=[acme.pk])).status_code == 200
    pdf = alice.get(reverse("reports:my_report_pdf", args=[acme.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_colleagues_and_outsiders_get_not_found(reports, people):
    acme = reports["Acme"]
    for who in (people.bob, people.charlie):  # a member of Acme; the admin of Globex
        client = login(who)
        for name in ("reports:my_report", "reports:my_report_pdf"):
            assert client.get(reverse(name, args=[acme.pk])).status_code == 404
    assert login(people.bob).get(reverse("reports:my_reports")).status_code == 404
    charlie = login(people.charlie).get(reverse("reports:my_reports")).content.decode()
    assert reverse("reports:my_report", args=[reports["Globex"].pk]) in charlie
    assert Client().get(reverse("reports:my_reports")).status_code == 302


def test_the_provider_previews_before_it_goes(month, people):
    lea = login(people.lea)
    listing = lea.get(reverse("reports:monthly") + "?month=2026-03")
    assert listing.status_code == 200 and "Acme" in listing.content.decode()
    url = reverse("reports:monthly_preview", args=[people.acme.pk, "2026-03"])
    page = lea.get(url)
    assert page.status_code == 200 and "Preview" in page.content.decode()
    assert month.C.reference in page.content.decode()
    assert lea.get(url + "?format=pdf").content.startswith(b"%PDF")
    assert not MonthlyReport.objects.exists()  # a preview stores and sends nothing
    for who in (people.tess, people.alice):
        assert login(who).get(url).status_code == 403
    assert lea.get(reverse("reports:monthly_preview", args=[people.acme.pk, "2026-13"])
                   ).status_code == 404


def test_the_worker_task_sends_once_across_restarts(month, people, time_machine):
    """The hourly periodic task, run as the worker runs it: the first run on the first
    business day sends; the next hours, and a worker restarted that day, send nothing."""
    from huey.contrib.djhuey import HUEY

    from tierdesk.reports.tasks import send_monthly_reports

    # Scheduled every hour at minute 7 by the consumer that runs the periodic tasks.
    due = {t.name for t in HUEY.read_periodic(datetime(2026, 4, 1, 13, 7))}
    assert any(name.endswith("send_monthly_reports") for name in due)
    time_machine.move_to(APRIL_1, tick=False)
    assert send_monthly_reports.call_local() == 2  # March's, for Acme and Globex
    for hour in (9, 10, 23):
        time_machine.move_to(APRIL_1.replace(hour=hour), tick=False)
        assert send_monthly_reports.call_local() == 0
    assert monthly_mail().count() == 2
    time_machine.move_to(datetime(2026, 5, 1, 7, 0, tzinfo=UTC), tick=False)  # 9:00 Madrid
    assert send_monthly_reports.call_local() == 2  # April's
    assert MonthlyReport.objects.filter(month=date(2026, 4, 1)).count() == 2
