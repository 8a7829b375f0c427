"""The provider's report pages: who may open them, what they show, CSV and drill-down."""

from __future__ import annotations

import csv
import io

import pytest
from defusedxml import ElementTree as ET
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reports.helpers import NOW, login
from tierdesk.reports import charts, queries

pytestmark = pytest.mark.django_db
MARCH = "?start=2026-03-01&end=2026-03-31"
PAGES = ["reports:index", "reports:tickets", "reports:satisfaction", "reports:answers",
         "reports:annual_list", "reports:monthly"]


@pytest.fixture(autouse=True)
def _now(time_machine):
    time_machine.move_to(NOW, tick=False)


def rows(response):
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize("name", PAGES)
def test_only_leads_and_above_open_the_provider_pages(month, people, name):
    url = reverse(name) + MARCH
    for who in (people.lea, people.max):
        assert login(who).get(url).status_code == 200, who
    for who in (people.tess, people.tom, people.alice, people.bob, people.charlie):
        assert login(who).get(url).status_code == 403, who
    assert Client().get(url).status_code == 302


def test_the_sla_page_shows_kpis_charts_and_links(month, people):
    page = login(people.lea).get(reverse("reports:index") + MARCH + "&group=organisation")
    html = page.content.decode()
    assert "Emails answered by the next business day" in html and "66.7%" in html
    assert html.count("<svg") == 2
    assert "33.3%" in html  # Acme's first responses on time
    drill = reverse("reports:tickets")
    assert f'href="{drill}?' in html and "show=fr_breached" in html


def test_csv_of_the_table_and_the_kpis(month, people):
    lea = login(people.lea)
    table = rows(lea.get(reverse("reports:index") + MARCH + "&group=organisation&format=csv"))
    assert table[0][:2] == ["Organisation", "Tickets"]
    by_name = {r[0]: r for r in table[1:]}
    assert by_name["Acme"][1] == "3" and by_name["Globex"][1] == "2" and by_name["All"][1] == "5"
    kpis = rows(lea.get(reverse("reports:index") + MARCH + "&format=csv&table=kpi"))
    assert kpis[1][:5] == ["Emails answered by the next business day", "99.00", "66.67", "2",
                           "3"]
    trend = rows(lea.get(reverse("reports:index") + MARCH
                         + "&group=organisation&format=csv&table=trend"))
    assert trend[0][0] == "Week" and trend[1][:2] == ["2026-W10", "5"]


def test_drill_down_page_and_its_csv(month, people):
    lea = login(people.lea)
    url = reverse("reports:tickets") + MARCH + "&show=fr_breached"
    html = lea.get(url).content.decode()
    assert month.B.reference in html and month.C.reference in html
    assert month.A.reference not in html
    listed = rows(lea.get(url + "&format=csv"))
    assert sorted(r[0] for r in listed[1:]) == [month.B.reference, month.C.reference]


def test_csv_cells_cannot_become_formulas(open_ticket, people):
    open_ticket("=HYPERLINK(\"http://evil\")")
    listed = rows(login(people.lea).get(reverse("reports:tickets") + MARCH + "&format=csv"))
    assert listed[1][1].startswith("'=")


def test_satisfaction_page_and_csv(month, people):
    from tierdesk.reports import surveys
    from tierdesk.reports.models import SatisfactionSurvey

    surveys.answer(SatisfactionSurvey.objects.get(ticket=month.A), face="negative",
                   comment="Too slow", by=None, at=NOW)
    lea = login(people.lea)
    html = lea.get(reverse("reports:satisfaction") + MARCH + "&group=agent").content.decode()
    assert "Too slow" in html and "Tom Tier2" in html and "<svg" in html
    table = rows(lea.get(reverse("reports:satisfaction") + MARCH + "&group=agent&format=csv"))
    tom = next(r for r in table if r[0] == "Tom Tier2")
    assert tom[1:3] == ["1", "1"] and tom[6] == "1"
    answers = lea.get(reverse("reports:answers") + MARCH + "&face=negative").content.decode()
    assert month.A.reference in answers


def test_page_queries_do_not_grow_with_tickets(open_ticket, people, monkeypatch):
    # Inside the test's transaction a report reads at READ COMMITTED, so a commit anywhere
    # in the cluster (autovacuum's ANALYZE) between its statements changes the snapshot and
    # sends it down the other path (queries._snapshot); a page's own transaction is
    # REPEATABLE READ. Held still here: the count is of one path.
    monkeypatch.setattr(queries, "_snapshot", lambda: "held")
    lea = login(people.lea)
    url = reverse("reports:index") + MARCH + "&group=priority"
    open_ticket("one")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert lea.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(8):
        open_ticket(f"more {i}")
    assert count() == few


def test_bad_filters_fall_back_to_defaults(month, people):
    page = login(people.lea).get(reverse("reports:index") + "?start=yesterday&group=nonsense")
    assert page.status_code == 200


def test_charts_are_valid_svg_with_escaped_text():
    line = charts.line_chart(title="<Trend & co>", labels=["a<b", "c"], series=[
        charts.Series("First <response>", [50.0, None], links=["/x?a=1&b=2", None])],
        target=90)
    bars = charts.bar_chart(title="Breaches", labels=["P1", "P2"], series=[
        charts.Series("x", [3, 0]), charts.Series("y & z", [1, 2])])
    for svg in (line, bars):
        root = ET.fromstring(str(svg))
        assert root.tag.endswith("svg") and root.get("role") == "img"
    assert "&lt;Trend &amp; co&gt;" in line and 'href="/x?a=1&amp;b=2"' in line


def test_a_kpi_drills_down_to_the_tickets_that_missed_it(month, people):
    """Seed 000's KPI is about emails: its figure links to the emails answered late (E),
    not to C, which came by the portal."""
    lea = login(people.lea)
    html = lea.get(reverse("reports:index") + MARCH).content.decode()
    start = html.index("Emails answered by the next business day")
    link = html[start:].split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "show=answered_late" in link and "channel=email" in link
    listed = lea.get(link).content.decode()
    assert month.E.reference in listed
    assert month.C.reference not in listed and month.B.reference not in listed


def test_the_menus_lead_to_the_reports(month, people):
    from tierdesk.reports import monthly

    assert reverse("reports:index") in login(people.lea).get(reverse("console:queue")
                                                             ).content.decode()
    assert reverse("reports:index") not in login(people.tess).get(reverse("console:queue")
                                                                  ).content.decode()
    monthly.run_monthly(NOW.replace(month=4, day=1))
    assert reverse("reports:my_reports") in login(people.alice).get(
        reverse("portal:tickets")).content.decode()
    assert reverse("reports:my_reports") not in login(people.bob).get(
        reverse("portal:tickets")).content.decode()
