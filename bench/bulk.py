"""Bulk data for benchmarks: a demo-shaped desk and N tickets with real timelines.

Rows are written with bulk_create in batches (no per-ticket actions: those are
what the suites test); every ticket still gets a `created` event and a plausible
history, so SLA evaluation and reports see real timelines. Use from a script
after django.setup():

    from bench.bulk import make_desk, bulk_tickets
    desk = make_desk()
    bulk_tickets(desk, 100_000)
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

STATUSES_OPEN = ["new", "open", "in_progress", "waiting_customer", "waiting_third_party"]


@dataclass
class Desk:
    organisations: list
    contacts: list
    agents: list
    priorities: list
    categories: list


def make_desk(*, organisations: int = 20, contacts_per_org: int = 5) -> Desk:
    from tierdesk.accounts.models import Agent, Contact, Organisation, Team, User
    from tierdesk.sla.install import install_policy
    from tierdesk.sla.models import Plan
    from tierdesk.sla.policyfile import load_preset
    from tierdesk.tickets.models import Category, Priority

    install_policy(load_preset("default"))
    plans = list(Plan.objects.all())
    orgs, contacts = [], []
    for i in range(organisations):
        org = Organisation.objects.create(name=f"Customer {i:03d}", plan=plans[i % len(plans)])
        orgs.append(org)
        for j in range(contacts_per_org):
            user = User.objects.create(email=f"c{j}@org{i}.bench", full_name=f"Contact {j} of {i}",
                                       password="!")  # unusable password: benches do not log in by form
            contacts.append(Contact.objects.create(user=user, organisation=org,
                                                   role="admin" if j == 0 else "member"))
    team = Team.objects.create(name="Bench desk")
    agents = []
    for k in range(12):
        user = User.objects.create(email=f"agent{k}@desk.bench", full_name=f"Agent {k}", password="!")
        agent = Agent.objects.create(user=user, tier=1 + k % 3)
        agent.teams.add(team)
        agents.append(agent)
    return Desk(orgs, contacts, agents, list(Priority.objects.filter(is_active=True)),
                list(Category.objects.filter(is_active=True)))


def bulk_tickets(desk: Desk, n: int, *, now: datetime | None = None, open_share: float = 0.7,
                 batch: int = 5000, seed: int = 7, verbose: bool = True) -> None:
    """Write n tickets (open_share of them not resolved) spread over the last 90 days."""
    from tierdesk.tickets.models import Ticket, TicketCounter, TicketEvent

    rng = random.Random(seed)
    now = now or datetime.now(UTC).replace(microsecond=0)
    start_number = (TicketCounter.objects.values_list("last", flat=True).first() or 100000) + 1
    t0 = time.perf_counter()
    for offset in range(0, n, batch):
        tickets, histories = [], []
        for i in range(offset, min(n, offset + batch)):
            contact = desk.contacts[rng.randrange(len(desk.contacts))]
            created = now - timedelta(seconds=rng.randrange(90 * 86400))
            priority = desk.priorities[rng.randrange(len(desk.priorities))]
            status = (rng.choice(STATUSES_OPEN) if rng.random() < open_share
                      else rng.choice(["resolved", "closed"]))
            agent = desk.agents[rng.randrange(len(desk.agents))] if status != "new" else None
            history = [("created", created, {"priority": priority.code, "by": "contact"}, "")]
            at = created
            if status != "new":
                at = min(now, at + timedelta(minutes=rng.randrange(5, 600)))
                history.append(("public_reply", at, {"by": "agent"}, "Looking into it."))
                history.append(("status_changed", at, {"from": "new", "to": "open", "by": "agent"}, ""))
                if status not in ("open",):
                    at = min(now, at + timedelta(minutes=rng.randrange(5, 900)))
                    target = "resolved" if status == "closed" else status
                    code = "resolved" if target == "resolved" else "status_changed"
                    history.append((code, at, {"from": "open", "to": target, "by": "agent"}, ""))
                    if status == "closed":
                        at = min(now, at + timedelta(days=rng.randrange(1, 7)))
                        history.append(("closed", at, {"from": "resolved", "to": "closed",
                                                       "by": "system"}, ""))
            tickets.append(Ticket(
                number=start_number + i, organisation_id=contact.organisation_id,
                requester_id=contact.pk, subject=f"Bench ticket {i}",
                description="Generated for a benchmark.", priority_id=priority.pk,
                category_id=desk.categories[rng.randrange(len(desk.categories))].pk,
                status=status, channel="portal", assignee_id=agent.pk if agent else None,
                created_at=created, updated_at=at,
                first_response_at=history[1][1] if len(history) > 1 else None,
                resolved_at=at if status in ("resolved", "closed") else None,
                closed_at=at if status == "closed" else None,
                resolution_code="fixed" if status in ("resolved", "closed") else ""))
            histories.append(history)
        Ticket.objects.bulk_create(tickets, batch_size=batch)
        numbers = [t.number for t in tickets]
        ids = dict(Ticket.objects.filter(number__in=numbers).values_list("number", "pk"))
        TicketEvent.objects.bulk_create([
            TicketEvent(ticket_id=ids[t.number], code=code, at=at, payload=payload, body=body,
                        is_public=True)
            for t, history in zip(tickets, histories, strict=True)
            for code, at, payload, body in history], batch_size=batch)
        if verbose and (offset // batch) % 20 == 0:
            done = min(n, offset + batch)
            print(f"  {done:>9,} tickets written ({time.perf_counter() - t0:.0f} s)", flush=True)
    TicketCounter.objects.update_or_create(pk=1, defaults={"last": start_number + n - 1})


def replicate_tickets(copies: int, *, shift_seconds: int = 7919, verbose: bool = True) -> int:
    """PostgreSQL only: add ``copies`` copies of every ticket there is, with their timelines,
    server-side (INSERT … SELECT), in seconds instead of the minutes bulk_tickets() needs
    per 100,000 tickets. Copy k gets new numbers and its event instants (and the ticket's
    own) moved back by k × shift_seconds, so the copies are not the same instants.

    Returns the number of tickets added. For the 1,000,000-ticket rebuild bench:
    bulk_tickets() writes a varied base, this multiplies it.
    """
    from django.db import connection, transaction

    from tierdesk.tickets.models import Ticket, TicketCounter, TicketEvent

    assert connection.vendor == "postgresql", "replicate_tickets() needs PostgreSQL"
    tickets, events = Ticket._meta.db_table, TicketEvent._meta.db_table
    shifted = {"created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
               "started_at"}
    ticket_cols = [f.column for f in Ticket._meta.concrete_fields if f.column not in ("id", "number")]
    event_cols = [f.column for f in TicketEvent._meta.concrete_fields
                  if f.column not in ("id", "ticket_id", "at")]

    def moved(col: str, table: str) -> str:
        return f"{table}.{col} - %(shift)s * interval '1 second'" if col in shifted else f"{table}.{col}"

    with connection.cursor() as cur:
        cur.execute(f"SELECT min(number), max(number), count(*) FROM {tickets}")
        low, high, base = cur.fetchone()
    if not base:
        return 0
    span = high - low + 1
    t0 = time.perf_counter()
    for k in range(1, copies + 1):
        params = {"shift": k * shift_seconds, "add": k * span, "low": low, "high": high}
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {tickets} (number, {', '.join(ticket_cols)}) "
                f"SELECT o.number + %(add)s, {', '.join(moved(c, 'o') for c in ticket_cols)} "
                f"FROM {tickets} o WHERE o.number BETWEEN %(low)s AND %(high)s ORDER BY o.id",
                params)
            cur.execute(
                f"INSERT INTO {events} (ticket_id, at, {', '.join(event_cols)}) "
                f"SELECT n.id, e.at - %(shift)s * interval '1 second', "
                f"{', '.join('e.' + c for c in event_cols)} "
                f"FROM {events} e JOIN {tickets} o ON o.id = e.ticket_id "
                f"JOIN {tickets} n ON n.number = o.number + %(add)s "
                f"WHERE o.number BETWEEN %(low)s AND %(high)s ORDER BY n.id, e.id",
                params)
        if verbose:
            print(f"  copy {k}/{copies}: {base * (k + 1):>9,} tickets "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    TicketCounter.objects.update_or_create(pk=1, defaults={"last": high + copies * span})
    return base * copies


def setup_django(var, *, fresh: bool) -> None:
    """Django on a desk of its own in `var` (database, task queue, media), as in production
    (DEBUG off); `fresh` starts from an empty folder."""
    import os
    import shutil

    if fresh and var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True, exist_ok=True)
    os.environ["TIERDESK_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.settings")
    os.environ["DEBUG"] = "false"
    import django

    django.setup()


def build_desk(n: int) -> Desk:
    """Migrate, then a 50-organisation desk with n tickets, their timelines and SLA rows."""
    from django.core.management import call_command

    from tierdesk.sla.rebuild import rebuild
    from tierdesk.tickets.models import Ticket

    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    desk = make_desk(organisations=50, contacts_per_org=10)
    bulk_tickets(desk, n, verbose=True)
    print(f"  tickets and timelines: {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    rebuild(Ticket.objects.all(), now=datetime.now(UTC))
    print(f"  SLA rows: {time.perf_counter() - t:.0f} s", flush=True)
    return desk


def analyze() -> None:
    """Fresh planner statistics, what `PRAGMA optimize` keeps up to date in production."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile p (0–100) of values."""
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]
