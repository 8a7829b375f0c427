"""A month of tickets whose report figures are computed by hand in the tests.

Acme is on the premium plan (24x7, UTC); Globex on the standard plan (Mon-Fri
09-18 Madrid, UTC+1 in early March). Targets (minutes): first response
critical 60, high 120, medium 480, low 1440; resolution plan critical 120,
high 480, medium 1440 (none for low); resolution critical 480, high 1440,
medium 4320, low 7200. Waiting on the customer or a third party stops the clock.

A (Acme, high, portal)   T0 created; +10m assigned tess; +30m tess replies;
                         +1h waiting on customer; +3h in progress (2 h paused);
                         +4h waiting on third party; +4h30 escalated to tier 2 (tess
                         unassigned); +5h assigned tom; +9h in progress (5 h paused);
                         +10h resolved. Counted: 10 h - 7 h = 3 h for every target.
B (Acme, critical, email) T0 created; +10m assigned tess; +1h the customer escalates;
                         +2h tess replies (first response 2 h: breached);
                         +10h resolved (plan and resolution breached, 10 h);
                         +11h reopened by alice; +12h resolved again (resolution 11 h).
C (Acme, medium, portal)  T0 created by bob and left alone: every target overdue
                         by the report's `NOW`, though no sweep said so.
D (Globex, low, email)    T0 (10:00 Madrid) created; +1m assigned tess; +8h (18:00)
                         tess replies (8 business h); T0+1d (Tue 10:00) resolved (9 h).
E (Globex, low, email)    Fri 6 March 17:30 Madrid created; answered Tue 10 March
                         09:30 (10 business h), after Monday's close: late for
                         "answered by the next business day". Left open.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from support import T0

from reports.helpers import H, M


@pytest.fixture(autouse=True)
def _default_kpi(db):
    """The desk's default KPI comes from a data migration. A transactional test elsewhere
    in the session (live server, real worker processes) flushes every table afterwards,
    so put it back as a new desk has it."""
    from tierdesk.reports.models import KpiTarget

    KpiTarget.objects.get_or_create(
        measure=KpiTarget.Measure.ANSWERED_NEXT_BUSINESS_DAY,
        defaults={"name": "Emails answered by the next business day", "target_percent": 99,
                  "channel": "email", "position": 0})


@pytest.fixture
def month(people, desk, open_ticket):
    from tierdesk.tickets import actions
    from tierdesk.tickets.models import Ticket

    p = people
    tess, tom, lea = p.tess.user, p.tom.user, p.lea.user

    a = open_ticket("A: VPN drops", priority=desk["high"])
    actions.assign(actor=lea, ticket=a, agent=p.tess, team=p.team, at=T0 + 10 * M)
    actions.add_reply(actor=tess, ticket=a, body="Looking into it.", at=T0 + 30 * M)
    actions.change_status(actor=tess, ticket=a, status="waiting_customer", at=T0 + H)
    actions.change_status(actor=tess, ticket=a, status="in_progress", at=T0 + 3 * H)
    actions.change_status(actor=tess, ticket=a, status="waiting_third_party", at=T0 + 4 * H)
    actions.change_tier(actor=lea, ticket=a, tier=2, reason="Needs the network team",
                        at=T0 + 4 * H + 30 * M)
    actions.assign(actor=lea, ticket=a, agent=p.tom, team=p.team, at=T0 + 5 * H)
    actions.change_status(actor=tom, ticket=a, status="in_progress", at=T0 + 9 * H)
    actions.resolve(actor=tom, ticket=a, code="fixed", note="Replaced the router.",
                    at=T0 + 10 * H)

    b = open_ticket("B: Server down", priority=desk["critical"], channel="email")
    actions.assign(actor=lea, ticket=b, agent=p.tess, team=p.team, at=T0 + 10 * M)
    actions.escalate_by_customer(actor=p.alice.user, ticket=b, reason="Still down",
                                 at=T0 + H)
    actions.add_reply(actor=tess, ticket=b, body="On it.", at=T0 + 2 * H)
    actions.resolve(actor=tess, ticket=b, code="fixed", note="Rebooted.", at=T0 + 10 * H)
    actions.reopen(actor=p.alice.user, ticket=b, reason="Down again", at=T0 + 11 * H)
    actions.resolve(actor=tess, ticket=b, code="fixed", note="Disk replaced.", at=T0 + 12 * H)

    c = open_ticket("C: Printer", requester=p.bob, priority=desk["medium"])

    d = open_ticket("D: Invoice copy", requester=p.charlie, priority=desk["low"],
                    channel="email")
    actions.assign(actor=lea, ticket=d, agent=p.tess, at=T0 + M)
    actions.add_reply(actor=tess, ticket=d, body="Attached.", at=T0 + 8 * H)
    actions.resolve(actor=tess, ticket=d, code="fixed", note="Sent.", at=T0 + 24 * H)

    friday = datetime(2026, 3, 6, 16, 30, tzinfo=UTC)  # 17:30 in Madrid
    e = open_ticket("E: New user", requester=p.charlie, priority=desk["low"], channel="email",
                    at=friday)
    actions.add_reply(actor=tess, ticket=e, body="Which name?",
                      at=datetime(2026, 3, 10, 8, 30, tzinfo=UTC))
    t = {x.subject[0]: Ticket.objects.get(pk=x.pk) for x in (a, b, c, d, e)}
    return SimpleNamespace(**t)


@pytest.fixture
def march():
    from tierdesk.reports.queries import Filters

    def make(**dims):
        return Filters(start=date(2026, 3, 1), end=date(2026, 3, 31), zone="UTC", **dims)

    return make
