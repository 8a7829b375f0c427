"""Benchmark: every report over N tickets on PostgreSQL (issue target: 1,000,000 in ≤ 1 s each).

    source .ci/services.sh && start_postgres
    .venv/bin/python bench/reports.py --tickets 1000000 --processes 2

It creates (and drops at the end unless --keep) a database `<name>_bench_reports`
beside the one named, migrates it and fills it in one of two ways:

- `--build sql` (default): the tickets and their measure rows are written by
  INSERT … SELECT over generate_series, with the shape and spread of real ones
  (states, business seconds, pauses, reopens, escalations, overdue running
  targets). A million tickets take a minute or two instead of an hour on the
  shared machine. The reports read only the measure rows, the surveys and the
  ticket columns, so they do the same work as on a real desk; how the measure
  rows are derived from timelines is what tests/reports checks.
- `--build pipeline`: the tickets and timelines by bench/bulk.py, their SLA rows
  (sla.rebuild), their measure rows (`reports backfill`, the command an operator
  runs): the real path end to end, for smaller N.

Either way a satisfaction survey is written for each resolved ticket, a quarter
of them answered. Then it times each report, best of --repeat runs after a
warm-up, side by side with the same figures computed from the normalised tables
(tickets ⋈ SLA rows, the way a report without the measure table would do it;
only with `--build pipeline`, which writes SLA rows).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, repeat: int) -> tuple[float, float]:
    """(best, median) wall time of fn, after a warm-up run."""
    fn()  # warm-up: caches, plans
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return min(runs), statistics.median(runs)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu(fn, repeat: int) -> float | None:
    """The least CPU time of fn: this process plus its PostgreSQL backend, with parallel
    workers off so that the backend does all the work. On a shared machine, this is what
    the report costs whoever else is running; wall time also counts the wait for a core."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        if not os.path.exists(f"/proc/{pid}/stat"):  # PostgreSQL on another machine
            return None
        cur.execute("SET max_parallel_workers_per_gather = 0")
    best = float("inf")
    try:
        for _ in range(repeat):
            p0, b0 = time.process_time(), cpu_seconds(pid)
            fn()
            best = min(best, time.process_time() - p0 + cpu_seconds(pid) - b0)
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET max_parallel_workers_per_gather")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=os.environ.get(
        "TIERDESK_TEST_PG_URL", "postgres://tierdesk:tierdesk@127.0.0.1:5432/tierdesk"))
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="Keep the bench database.")
    parser.add_argument("--reuse", action="store_true", help="Reuse a kept database as it is.")
    parser.add_argument("--build", choices=("sql", "pipeline"), default="sql")
    parser.add_argument("--only", default="", help="Time only the cases whose name has this.")
    args = parser.parse_args()

    parts = urlsplit(args.db)
    bench_name = parts.path.lstrip("/") + os.environ.get("BENCH_DB_SUFFIX", "_bench_reports")
    bench_url = urlunsplit(parts._replace(path="/" + bench_name))
    import psycopg

    if not args.reuse:
        with psycopg.connect(args.db, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}"')
            conn.execute(f'CREATE DATABASE "{bench_name}"')
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.settings")
    import django

    django.setup()
    from django.db import connection

    now = datetime.now(UTC).replace(microsecond=0)
    if args.reuse:
        from tierdesk.reports.models import TicketMeasure

        now = TicketMeasure.objects.order_by("-refreshed_at").values_list(
            "refreshed_at", flat=True).first() or now
    elif args.build == "sql":
        build_sql(args.tickets, now)
    else:
        build(args.tickets, args.processes, now)
    report(args.repeat, now, only=args.only)
    connection.close()
    if not args.keep:
        with psycopg.connect(args.db, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}"')


def build(n: int, processes: int, now: datetime) -> None:
    from django.core.management import call_command

    from bench.bulk import bulk_tickets, make_desk
    from tierdesk.reports import measure
    from tierdesk.sla.rebuild import rebuild_parallel
    from tierdesk.tickets.models import Ticket

    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    print(f"writing {n:,} tickets …", flush=True)
    bulk_tickets(make_desk(), n, now=now, open_share=0.3)
    print(f"  written in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    rebuild_parallel(Ticket.objects.all(), now=now, processes=processes)
    print(f"SLA rows of every ticket in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    done = measure.backfill_parallel(now=now, processes=processes)
    print(f"measure rows of {done:,} tickets in {time.perf_counter() - t0:.0f} s "
          f"(`tierdesk reports backfill --processes {processes}`)", flush=True)
    write_surveys()


def write_surveys() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        # One survey per resolved ticket; a quarter answered, mostly positive.
        cur.execute("""
            INSERT INTO reports_satisfactionsurvey
                (ticket_id, cycle, resolved_at, organisation_id, assignee_id, team_id,
                 category_id, priority_id, sent_to, rating, comment, answered_at)
            SELECT id, 0, resolved_at, organisation_id, assignee_id, team_id, category_id,
                   priority_id, '', r.rating, '', CASE WHEN r.rating IS NULL THEN NULL
                                                  ELSE resolved_at + interval '1 hour' END
            FROM tickets_ticket
            CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.75 THEN NULL
                                            WHEN random() < 0.7 THEN 1
                                            WHEN random() < 0.6 THEN 0 ELSE -1 END
                                       + 0 * tickets_ticket.id AS rating) r
            WHERE resolved_at IS NOT NULL""")
        cur.execute("VACUUM ANALYZE")
    print("surveys written; VACUUM ANALYZE done", flush=True)


def build_sql(n: int, now: datetime) -> None:
    """Tickets and measure rows by INSERT … SELECT (see the module's docstring)."""
    from django.core.management import call_command
    from django.db import connection

    from bench.bulk import make_desk
    from tierdesk.accounts.models import Team

    call_command("migrate", verbosity=0)
    desk = make_desk()
    team = Team.objects.get(name="Bench desk")
    params = {
        "n": n, "now": now, "team": team.pk,
        "contacts": [c.pk for c in desk.contacts],
        "orgs": [c.organisation_id for c in desk.contacts],
        "agents": [a.pk for a in desk.agents], "tiers": [a.tier for a in desk.agents],
        "priorities": [p.pk for p in desk.priorities],
        "categories": [c.pk for c in desk.categories],
    }
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.7)")
        cur.execute(TICKETS_SQL, params)
        print(f"{n:,} tickets in {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        cur.execute(MEASURES_SQL, params)
        print(f"{n:,} measure rows in {time.perf_counter() - t0:.0f} s", flush=True)
    write_surveys()


# One ticket per row of generate_series; r.* are its dice (the `+ 0 * g` makes the
# planner roll them again for every row). 30% open, the rest resolved or closed.
TICKETS_SQL = """
INSERT INTO tickets_ticket
    (number, organisation_id, requester_id, subject, description, category_id, priority_id,
     impact, urgency, status, channel, assignee_id, team_id, tier, location,
     troubleshooting_done, business_impact, business_stopped, affected_accounts, environment,
     product_build, callback_phone, created_at, updated_at, first_response_at, resolved_at,
     closed_at, resolution_code, resolution_note, reopen_count, escalation_count,
     time_spent_minutes)
SELECT 100000 + g, (%(orgs)s::bigint[])[s.ci], (%(contacts)s::bigint[])[s.ci], 'Bench ticket ' || g,
       'Generated for a benchmark.',
       (%(categories)s::bigint[])[1 + floor(r.cat * cardinality(%(categories)s::bigint[]))::int],
       (%(priorities)s::bigint[])[1 + floor(r.pri * cardinality(%(priorities)s::bigint[]))::int],
       '', '', s.status, (ARRAY['portal', 'email', 'email', 'phone', 'api'])[1 + floor(r.ch * 5)::int],
       CASE WHEN s.status <> 'new' THEN (%(agents)s::bigint[])[s.ai] END,
       CASE WHEN s.status <> 'new' THEN %(team)s END,
       CASE WHEN r.esc < 0.03 THEN 3 WHEN r.esc < 0.13 THEN 2 ELSE 1 END,
       '', '', '', false, '', '', '', '', s.created, LEAST(%(now)s, s.created + r.work * interval '3 days'),
       CASE WHEN s.status <> 'new' THEN LEAST(%(now)s, s.created + r.fr * interval '10 hours') END,
       CASE WHEN s.status IN ('resolved', 'closed')
            THEN LEAST(%(now)s, s.created + r.work * interval '3 days') END,
       CASE WHEN s.status = 'closed'
            THEN LEAST(%(now)s, s.created + r.work * interval '3 days' + interval '2 days') END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN 'fixed' ELSE '' END, '',
       CASE WHEN r.reo < 0.05 THEN 1 ELSE 0 END, CASE WHEN r.esc < 0.13 THEN 1 ELSE 0 END, 0
FROM generate_series(1, %(n)s) g
CROSS JOIN LATERAL (SELECT random() AS cat, random() AS pri, random() AS ch, random() AS st,
                           random() AS esc, random() AS reo, random() AS fr, random() AS work,
                           random() AS rc, random() AS ra, random() AS age, 0 * g AS z) r
CROSS JOIN LATERAL (SELECT 1 + floor(r.rc * cardinality(%(contacts)s::bigint[]))::int AS ci,
                           1 + floor(r.ra * cardinality(%(agents)s::bigint[]))::int AS ai,
                           %(now)s::timestamptz - r.age * interval '90 days' AS created,
                           CASE WHEN r.st < 0.05 THEN 'new' WHEN r.st < 0.12 THEN 'open'
                                WHEN r.st < 0.20 THEN 'in_progress'
                                WHEN r.st < 0.26 THEN 'waiting_customer'
                                WHEN r.st < 0.30 THEN 'waiting_third_party'
                                WHEN r.st < 0.70 THEN 'closed' ELSE 'resolved' END AS status) s
"""

# The measure row of each ticket: states and business seconds spread as on a desk
# (most targets met, some breached, open ones running — some overdue — or paused).
MEASURES_SQL = """
INSERT INTO reports_ticketmeasure
    (ticket_id, organisation_id, plan_id, priority_id, category_id, assignee_id, team_id, tier,
     channel, status, created_at, first_response_at, first_resolved_at, resolved_at,
     answer_due_at, fr_state, fr_seconds, fr_due_at, rp_state, rp_seconds, rp_due_at,
     res_state, res_seconds, res_due_at, paused_customer_seconds, paused_third_party_seconds,
     reopens, escalations_tier2, escalations_tier3, escalations_customer, refreshed_at)
SELECT t.id, t.organisation_id, o.plan_id, t.priority_id, t.category_id, t.assignee_id,
       t.team_id, t.tier, t.channel, t.status, t.created_at, t.first_response_at,
       t.resolved_at, t.resolved_at, date_trunc('day', t.created_at) + interval '42 hours',
       CASE WHEN t.first_response_at IS NULL THEN 1 WHEN r.a < 0.9 THEN 3 ELSE 4 END,
       CASE WHEN t.first_response_at IS NOT NULL THEN (r.b * r.b * 36000)::int END,
       CASE WHEN t.first_response_at IS NULL THEN t.created_at + interval '8 hours' END,
       CASE WHEN r.c < 0.25 THEN 0 WHEN t.resolved_at IS NOT NULL OR r.c > 0.6
            THEN (CASE WHEN r.a < 0.85 THEN 3 ELSE 4 END)
            WHEN t.status LIKE 'waiting%%' THEN 2 ELSE 1 END,
       CASE WHEN r.c >= 0.25 AND (t.resolved_at IS NOT NULL OR r.c > 0.6)
            THEN (r.d * 86400)::int END,
       CASE WHEN r.c >= 0.25 AND t.resolved_at IS NULL AND r.c <= 0.6
            AND t.status NOT LIKE 'waiting%%' THEN t.created_at + interval '1 day' END,
       CASE WHEN t.resolved_at IS NOT NULL THEN (CASE WHEN r.e < 0.82 THEN 3 ELSE 4 END)
            WHEN t.status LIKE 'waiting%%' THEN 2 ELSE 1 END,
       CASE WHEN t.resolved_at IS NOT NULL THEN (r.b * r.d * 259200)::int END,
       CASE WHEN t.resolved_at IS NULL AND t.status NOT LIKE 'waiting%%'
            THEN t.created_at + interval '3 days' END,
       CASE WHEN t.status = 'waiting_customer' OR r.f < 0.15 THEN (r.g * 90000)::int ELSE 0 END,
       CASE WHEN t.status = 'waiting_third_party' OR r.f > 0.95 THEN (r.g * 180000)::int
            ELSE 0 END,
       t.reopen_count, (t.tier >= 2)::int, (t.tier = 3)::int, (r.h < 0.02)::int, %(now)s
FROM tickets_ticket t
JOIN accounts_organisation o ON o.id = t.organisation_id
CROSS JOIN LATERAL (SELECT random() AS a, random() AS b, random() AS c, random() AS d,
                           random() AS e, random() AS f, random() AS g, random() AS h,
                           0 * t.id AS z) r
"""


def report(repeat: int, now: datetime, *, only: str = "") -> None:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from tierdesk.accounts.models import Agent, Organisation, User
    from tierdesk.reports import monthly, queries
    from tierdesk.reports.models import KpiTarget, TicketMeasure

    n = TicketMeasure.objects.count()
    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        version = cur.fetchone()[0].split(" on ")[0]
        cur.execute("SELECT count(*) FROM reports_satisfactionsurvey")
        surveys = cur.fetchone()[0]
    print(f"\n{datetime.now(UTC):%Y-%m-%d}  {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {version}")
    load = os.getloadavg()[0]
    print(f"{n:,} tickets (measure rows), {surveys:,} surveys; wall time: best and median of "
          f"{repeat} runs after a warm-up (load average {load:.1f} on {os.cpu_count()} cores); "
          f"CPU: this process + its PostgreSQL backend, serial plans, best of {repeat}\n")
    print(f"  {'report':<{WIDTH}}  {'best':>7}     {'median':>7}     {'CPU':>7}")

    start = (now - timedelta(days=92)).date()
    everything = queries.Filters(start=start, end=now.date(), zone="UTC")
    one_org = Organisation.objects.order_by("pk").first()
    kpis = list(KpiTarget.objects.filter(is_active=True))
    lead = Agent.objects.select_related("user").first()
    lead.role = Agent.Role.TEAM_LEAD
    lead.save()
    client = Client()
    client.force_login(User.objects.get(pk=lead.user_id))
    month = monthly.previous_month(now.date())
    qs = f"?start={start}&end={now.date()}"

    cases = [
        ("SLA table by month (shares, p50/p90, pauses, reopens, escalations)",
         lambda: queries.sla_table(everything, "month", now=now)),
        ("SLA table by priority", lambda: queries.sla_table(everything, "priority", now=now)),
        ("SLA table by agent", lambda: queries.sla_table(everything, "agent", now=now)),
        ("SLA table by organisation × filter priority", lambda: queries.sla_table(
            queries.Filters(start=start, end=now.date(), priority=1), "organisation", now=now)),
        ("The SLA page's two queries (table by agent, totals, KPIs, trend, priorities)",
         lambda: queries.sla_report(everything, "agent", now=now, trend="week", kpis=kpis)),
        ("Totals + KPI targets",
         lambda: queries.sla_totals(everything, now=now, kpis=kpis)),
        ("Trend by week (counts only)",
         lambda: queries.sla_table(everything, "week", now=now, times=False)),
        ("Satisfaction by agent", lambda: queries.satisfaction_table(everything, "agent")),
        ("Satisfaction by month", lambda: queries.satisfaction_table(everything, "month")),
        ("Drill-down: first page of breaches + count",
         lambda: (list(queries.drill(everything, "breached", now=now)[:50]),
                  queries.drill(everything, "breached", now=now).count())),
        ("Monthly report figures of one organisation",
         lambda: monthly.build_figures(one_org, month, now=now, language="en")),
        ("Page /reports/ (table, totals, KPIs, trend, breaches by priority)",
         lambda: client.get(reverse("reports:index") + qs)),
        ("Page /reports/satisfaction/", lambda: client.get(reverse("reports:satisfaction") + qs)),
        ("Page /reports/tickets/?show=breached",
         lambda: client.get(reverse("reports:tickets") + qs + "&show=breached")),
    ]
    from tierdesk.sla.models import TicketSLA

    if TicketSLA.objects.exists():
        cases.append(("Without the measure table: SLA by priority, tickets ⋈ SLA rows",
                      lambda: naive_by_priority(start, now)))
    for name, fn in cases:
        if only and only not in name:
            continue
        best, median = timed(fn, repeat)
        used = cpu(fn, repeat)
        used_ms = f"{used * 1000:7.0f} ms" if used is not None else "      -"
        print(f"  {name:<{WIDTH}}  {best * 1000:7.0f} ms  {median * 1000:7.0f} ms  {used_ms}",
              flush=True)


WIDTH = 72


def naive_by_priority(start, now) -> list:
    """The same shares and medians, joined from the normalised tables at report time."""
    from django.db import connection

    sql = """
        SELECT t.priority_id, count(*) AS tickets,
               count(*) FILTER (WHERE fr.state = 'met') AS fr_met,
               count(*) FILTER (WHERE fr.state = 'breached'
                                OR (fr.state = 'running' AND fr.due_at < %(now)s)) AS fr_breached,
               count(*) FILTER (WHERE res.state = 'met') AS res_met,
               count(*) FILTER (WHERE res.state = 'breached'
                                OR (res.state = 'running' AND res.due_at < %(now)s)) AS res_breached,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY CASE WHEN fr.met_at IS NOT NULL
                                                  THEN fr.elapsed_seconds END) AS fr_p50,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY CASE WHEN fr.met_at IS NOT NULL
                                                  THEN fr.elapsed_seconds END) AS fr_p90,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY CASE WHEN res.met_at IS NOT NULL
                                                  THEN res.elapsed_seconds END) AS res_p50,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY CASE WHEN res.met_at IS NOT NULL
                                                  THEN res.elapsed_seconds END) AS res_p90,
               count(*) FILTER (WHERE t.reopen_count > 0) AS reopened
        FROM tickets_ticket t
        LEFT JOIN sla_ticketsla fr ON fr.ticket_id = t.id AND fr.target = 'first_response'
        LEFT JOIN sla_ticketsla res ON res.ticket_id = t.id AND res.target = 'resolution'
        WHERE t.created_at >= %(start)s
        GROUP BY t.priority_id ORDER BY t.priority_id"""
    with connection.cursor() as cur:
        cur.execute(sql, {"now": now, "start": start})
        return cur.fetchall()


if __name__ == "__main__":
    main()
