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
of them answered, and the rollup of the measure rows is built as a desk gets it
(`tierdesk reports rollup`: tierdesk/reports/rollup.py). Then it times each report,
--repeat runs after a warm-up, with the settings production has (parallel plans where
PostgreSQL picks them): wall time, and the CPU time of this process, its PostgreSQL
backend and the parallel workers the backend started (read from /proc:
`ParallelWorkers`); the load average before and after. `--rollup` times the SLA cases
and the page with the rollup and read live, alternated. With `--build pipeline` also
the same figures computed from the normalised tables (tickets ⋈ SLA rows, the way a
report without the measure table would do it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ParallelWorkers:
    """The CPU time of the parallel workers PostgreSQL starts for one backend's queries.

    A parallel worker is a process that lives for one query, titled "postgres: parallel
    worker for PID <leader>". A thread of this process lists /proc every `interval`
    seconds and keeps the last CPU time read of each worker of our backend; what a
    worker spends after the last poll before it exits (at most `interval`) is missed, so the sum is a lower
    bound by at most that much per worker. The thread's own CPU is measured and
    subtracted from this process's by the caller (`own`).
    """

    def __init__(self, leader: int, interval: float = 0.002) -> None:
        self.leader, self.interval = leader, interval
        self.title = f"parallel worker for PID {leader}".encode()
        with open(f"/proc/{leader}/stat") as stat:
            postmaster = int(stat.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{postmaster}/cmdline", "rb") as f:
            self.postmaster = f.read()
        self.seen: dict[int, float] = {}
        self.others: set[int] = set()
        self.own = 0.0
        self.started = 0

    def _poll(self) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid in self.others:
                continue
            try:
                if pid not in self.seen:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmdline = f.read()
                    if self.title not in cmdline:
                        # Just forked, a process still has the postmaster's command line
                        # until it sets its title: look again at the next poll.
                        if cmdline != self.postmaster:
                            self.others.add(pid)
                        continue
                    self.started += 1
                self.seen[pid] = cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                pass

    def __enter__(self) -> ParallelWorkers:
        import threading

        self._stop = threading.Event()

        def run() -> None:
            t0 = time.thread_time()
            while not self._stop.is_set():
                self._poll()
                self._stop.wait(self.interval)
            self._poll()
            self.own = time.thread_time() - t0

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu(self) -> float:
        return sum(self.seen.values())


@dataclass
class Run:
    wall: float
    cpu: float | None  # this process + its backend + the backend's parallel workers
    workers_cpu: float | None
    workers: int


def measure(fn, repeat: int, *, warm: bool = True) -> list[Run]:
    """Wall and CPU time of each of `repeat` runs of fn after a warm-up, with the settings
    production has (parallel plans where PostgreSQL chooses them). On a shared machine the
    CPU time is what the report costs whoever else is running; wall time also counts the
    wait for a core."""
    from django.db import connection

    if warm:
        fn()  # warm-up: caches, plans
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    local = os.path.exists(f"/proc/{pid}/stat")  # else PostgreSQL is on another machine
    runs = []
    for _ in range(repeat):
        if not local:
            t0 = time.perf_counter()
            fn()
            runs.append(Run(time.perf_counter() - t0, None, None, 0))
            continue
        with ParallelWorkers(pid) as workers:
            p0, b0, t0 = time.process_time(), cpu_seconds(pid), time.perf_counter()
            fn()
            t1, p1, b1 = time.perf_counter(), time.process_time(), cpu_seconds(pid)
        runs.append(Run(t1 - t0, p1 - p0 - workers.own + b1 - b0 + workers.cpu,
                        workers.cpu, workers.started))
    return runs


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
    parser.add_argument("--grouped", action="store_true", help=(
        "Side by side: every case that takes percentiles also with them grouped in SQL "
        "(the way before keyed percentiles), the two alternated run by run."))
    parser.add_argument("--rollup", action="store_true", help=(
        "Side by side: every SLA case and the /reports/ page also with the rollup off "
        "(read live, as before it), the two alternated run by run."))
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
    report(args.repeat, now, only=args.only, grouped=args.grouped, rollup=args.rollup)
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
    build_rollup()


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
    build_rollup()


def build_rollup() -> None:
    """`tierdesk reports rollup`: the rollup's triggers cut at the provider's midnights (the
    desk was made after the migration), and the rollup built again from the measure rows."""
    from django.core.management import call_command
    from django.db import connection

    t0 = time.perf_counter()
    call_command("reports", "rollup")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE reports_ticketmeasure")  # the live rows' index: index-only
    print(f"rollup built in {time.perf_counter() - t0:.0f} s (`tierdesk reports rollup`)",
          flush=True)


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


def report(repeat: int, now: datetime, *, only: str = "", grouped: bool = False,
           rollup: bool = False) -> None:
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
    print(f"{n:,} tickets (measure rows), {surveys:,} surveys; {repeat} runs of each report "
          f"after a warm-up, with production's settings (parallel plans where PostgreSQL "
          f"picks them). wall: median and best; CPU: this process + its PostgreSQL backend + "
          f"the backend's parallel workers (workers: their share, how many started a run), "
          f"median and best; load: 1-minute load average before and after\n")
    print(f"  {'report':<{WIDTH}}  {'wall med':>8} {'best':>6}  {'CPU med':>8} {'best':>6}  "
          f"{'workers':>12}  {'load':>9}")

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
        # A filter the most tickets pass: by period, the rollup's rows of that value (the
        # page's breaches by priority and its KPI of a channel counted live beside them);
        # beside a grouping by a dimension, every row it counts read live.
        ("SLA table by month × filter tier 1", lambda: queries.sla_table(
            queries.Filters(start=start, end=now.date(), tier=1), "month", now=now)),
        ("SLA table by channel", lambda: queries.sla_table(everything, "channel", now=now)),
        ("Page /reports/ × filter tier 1",
         lambda: client.get(reverse("reports:index") + qs + "&tier=1")),
        ("SLA table by agent × filter tier 1 (live)", lambda: queries.sla_table(
            queries.Filters(start=start, end=now.date(), tier=1), "agent", now=now)),
        ("Page /reports/ × filter tier 1, by agent (live)",
         lambda: client.get(reverse("reports:index") + qs + "&tier=1&group=agent")),
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
        if (grouped or rollup) and any(word in name for word in ("SLA", "Page /reports/ (")):
            other, tag = (live, "live") if rollup else (grouped_percentiles, "grouped")
            both: dict[str, list[Run]] = {name: [], f"{name[:WIDTH - 10]} ({tag})": []}
            load0 = os.getloadavg()[0]
            fn(), other(fn)()  # warm-up
            for _ in range(repeat):
                both[name] += measure(fn, 1, warm=False)
                both[f"{name[:WIDTH - 10]} ({tag})"] += measure(other(fn), 1, warm=False)
            load1 = os.getloadavg()[0]
            for label, runs in both.items():
                print_runs(label, runs, load0, load1)
            continue
        load0 = os.getloadavg()[0]
        runs = measure(fn, repeat)
        load1 = os.getloadavg()[0]
        print_runs(name, runs, load0, load1)


def live(fn):
    """fn with the rollup off: every figure read from the measure rows, as before it."""
    from tierdesk.reports import rollup

    def run():
        rollup.ENABLED = False
        try:
            return fn()
        finally:
            rollup.ENABLED = True
    return run


def grouped_percentiles(fn):
    """fn with every percentile grouped in SQL: no keyed path, as before it."""
    from tierdesk.reports import queries

    def run():
        keyed, snapshot = queries._keyed_times, queries._snapshot
        queries._keyed_times, queries._snapshot = (lambda *a, **k: None), object
        try:
            return fn()
        finally:
            queries._keyed_times, queries._snapshot = keyed, snapshot
    return run


def print_runs(name: str, runs: list[Run], load0: float, load1: float) -> None:
    walls = [r.wall for r in runs]
    line = (f"  {name:<{WIDTH}}  {statistics.median(walls) * 1000:6.0f} ms "
            f"{min(walls) * 1000:6.0f}")
    if runs[0].cpu is not None:
        cpus = [r.cpu or 0.0 for r in runs]
        workers = statistics.median([r.workers_cpu or 0.0 for r in runs])
        started = max(r.workers for r in runs)
        line += (f"  {statistics.median(cpus) * 1000:6.0f} ms {min(cpus) * 1000:6.0f}  "
                 f"{workers * 1000:6.0f} ms ×{started}")
    print(f"{line}  {load0:4.1f}→{load1:4.1f}", flush=True)


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
