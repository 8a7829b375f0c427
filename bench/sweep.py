"""Benchmark of the SLA sweep on PostgreSQL: 1,000,000 open tickets, 1,000 of them due.

Run from the repository root, with a PostgreSQL the tierdesk role may create
databases on (``source .ci/services.sh && start_postgres`` gives one):

    TIERDESK_TEST_PG_URL=postgres://tierdesk:tierdesk@127.0.0.1:5432/tierdesk \\
        .venv/bin/python bench/sweep.py [--tickets 1000000] [--due 1000] [--repeat 5]

1. Creates a database of its own (``<name>_bench_sweep``, dropped first), migrates
   it, installs the default policy and its rules, and opens two template tickets
   through the actions on the 24x7 plan (medium: first response in 2 hours): one
   opened 3 hours ago (its first response is past due: the sweep announces the
   breach) and one opened now (nothing due for 90 minutes).
2. Clones them with INSERT ... SELECT generate_series — tickets, their `created`
   events, SLA rows and alarms — into `--due` due tickets and the rest not due.
3. Times, each `--repeat` times (median and worst reported):
   - a sweep with nothing due (`now` before every deadline);
   - stage 1 of a sweep with `--due` tickets due (claim, record, reschedule),
     then its stage 2 drained (tell the people — in-app rows and mails written and
     queued — and apply the rules) for the same steps, wall and CPU of each and of
     both: the sweep;
   - then, apart, the hook work the sweep's steps left for the worker (every app's
     subscribers: report measures, webhooks…; `tickets.hooks.run_pending`, as the
     `run_hooks` task runs it after the commit), drained by the bench itself;
   and resets the due tickets between runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_url(base: str, name: str = "") -> tuple[str, str]:
    parts = urlsplit(base)
    name = name or parts.path.lstrip("/") + "_bench_sweep"
    return urlunsplit(parts._replace(path="/" + name)), name


def recreate_database(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def columns(cursor, table: str) -> list[str]:
    cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                   "ORDER BY ordinal_position", [table])
    return [r[0] for r in cursor.fetchall()]


def clone(cursor, table: str, *, where: str, n: int, replace: dict[str, str],
          params: list | None = None) -> None:
    """INSERT n copies of the rows matching `where`, with `replace` expressions (g = 1..n)."""
    cols = [c for c in columns(cursor, table) if c != "id"]
    select = ", ".join(replace.get(c, f"t.{c}") for c in cols)
    cursor.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} "
                   f"FROM {table} t, generate_series(1, {n}) g WHERE {where}", params or [])


def populate(total: int, due: int, now: datetime) -> dict:
    from django.db import connection, transaction

    from bench.bulk import make_desk
    from tierdesk.sla.models import Plan
    from tierdesk.tickets import actions
    from tierdesk.tickets.models import Priority

    desk = make_desk(organisations=4, contacts_per_org=2)
    contact = desk.contacts[0]
    contact.organisation.plan = Plan.objects.get(code="24x7")  # medium: first response 2 h
    contact.organisation.save()
    medium = Priority.objects.get(code="medium")
    late = actions.create_ticket(actor=None, at=now - timedelta(hours=3), new=actions.NewTicket(
        requester=contact, subject="Due", description="due", priority=medium))
    fresh = actions.create_ticket(actor=None, at=now, new=actions.NewTicket(
        requester=contact, subject="Not due", description="not due", priority=medium))
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT max(number) FROM tickets_ticket")
        base = cur.fetchone()[0]
        for template, n, offset in ((late, due, 0), (fresh, total - due, due)):
            cur.execute("SELECT max(id) FROM tickets_ticket")
            first_id = cur.fetchone()[0] + 1
            clone(cur, "tickets_ticket", where="t.id = %s", n=n, params=[template.pk],
                  replace={"number": f"{base + offset} + g", "subject": "'Bench ' || g"})
            # The clones got ids first_id .. first_id + n - 1, in g order.
            clone(cur, "tickets_ticketevent", where="t.ticket_id = %s", n=n, params=[template.pk],
                  replace={"ticket_id": f"{first_id - 1} + g"})
            clone(cur, "sla_ticketsla", where="t.ticket_id = %s", n=n, params=[template.pk],
                  replace={"ticket_id": f"{first_id - 1} + g"})
            clone(cur, "automation_alarm", where="t.ticket_id = %s", n=n, params=[template.pk],
                  replace={"ticket_id": f"{first_id - 1} + g"})
    with connection.cursor() as cur:
        for table in ("tickets_ticket", "tickets_ticketevent", "sla_ticketsla",
                      "automation_alarm"):
            cur.execute(f"ANALYZE {table}")
        cur.execute("SELECT count(*) FROM tickets_ticket WHERE status NOT IN ('resolved', 'closed')")
        open_count = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM tickets_ticket WHERE next_due_at <= %s", [now])
        due_count = cur.fetchone()[0]
    return {"populate_s": time.perf_counter() - t0, "open": open_count, "due": due_count}


def reused() -> tuple[datetime, dict]:
    """`now` of the run that built the database: when its not-due template was opened."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT created_at FROM tickets_ticket WHERE subject = 'Not due'")
        row = cur.fetchone()
        if row is None:
            sys.exit("--reuse: this database was not built by bench/sweep.py")
        now = row[0]
        # Put the due tickets (opened 3 hours before `now`) back as built, whatever an earlier
        # run left: their deadline and alarm lie where the not-due template's lie, 3 h earlier.
        reset(([], []))
        cur.execute("UPDATE tickets_ticket d SET next_due_at = d.created_at + "
                    "(f.next_due_at - f.created_at) FROM tickets_ticket f "
                    "WHERE f.subject = 'Not due' AND d.created_at <= %s",
                    [now - timedelta(hours=3)])
        cur.execute("UPDATE automation_alarm a SET at = d.created_at + (fa.at - f.created_at) "
                    "FROM tickets_ticket d, tickets_ticket f, automation_alarm fa "
                    "WHERE a.ticket_id = d.id AND f.subject = 'Not due' AND fa.ticket_id = f.id "
                    "AND d.created_at <= %s", [now - timedelta(hours=3)])
        cur.execute("SELECT count(*) FROM tickets_ticket WHERE status NOT IN ('resolved', 'closed')")
        open_count = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM tickets_ticket WHERE next_due_at <= %s", [now])
        due_count = cur.fetchone()[0]
    return now, {"open": open_count, "due": due_count}


def explain(now: datetime) -> None:
    """The plans of the sweep's two reads of due tickets: index range scans, not table scans."""
    from django.db import connection

    from tierdesk.automation import sweeps

    with connection.cursor() as cur:
        for label, sql in (("deadlines", "SELECT id FROM tickets_ticket WHERE next_due_at <= %s "
                                         "ORDER BY next_due_at LIMIT %s"),
                           ("alarms", "SELECT ticket_id FROM automation_alarm WHERE at <= %s "
                                      "ORDER BY at LIMIT %s")):
            cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql,
                        [now, sweeps.SWEEP_BATCH])
            print(f"plan of the {label} read:")
            for (line,) in cur.fetchall():
                print("    " + line)


def snapshot(now: datetime) -> tuple[list, list]:
    """The due tickets' deadlines and alarms, to put back between runs."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT id, next_due_at FROM tickets_ticket WHERE next_due_at <= %s", [now])
        due = cur.fetchall()
        cur.execute("SELECT ticket_id, at FROM automation_alarm WHERE at <= %s", [now])
        alarms = cur.fetchall()
    return due, alarms


def reset(saved: tuple[list, list]) -> None:
    """Undo a sweep: drop what it wrote and put the due tickets' deadlines back."""
    from django.db import connection, transaction

    due, alarms = saved
    with transaction.atomic(), connection.cursor() as cur:
        for table in ("automation_firing", "notifications_notification",
                      "notifications_outboxmessage", "tickets_hookwork"):
            cur.execute(f"DELETE FROM {table}")
        cur.execute("DELETE FROM tickets_ticketevent WHERE code IN "
                    "('sla_warning', 'sla_breached', 'auto_escalated', 'automation_failed')")
        cur.executemany("UPDATE tickets_ticket SET next_due_at = %s WHERE id = %s",
                        [(at, pk) for pk, at in due])
        cur.executemany("UPDATE automation_alarm SET at = %s WHERE ticket_id = %s",
                        [(at, pk) for pk, at in alarms])


def backend_cpu() -> float | None:
    """CPU seconds the PostgreSQL backend of our connection has used (same machine only)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default=os.environ.get("TIERDESK_TEST_PG_URL", ""))
    parser.add_argument("--db", default="",
                        help="Name of the benchmark's database (default <name>_bench_sweep).")
    parser.add_argument("--no-stage2", action="store_true",
                        help="Time stage 1 only.")
    parser.add_argument("--reuse", action="store_true",
                        help="Time the database an earlier finished run left (it puts the due "
                             "tickets back at its end) instead of building it again.")
    args = parser.parse_args()
    if not args.url.startswith("postgres"):
        sys.exit("Give a PostgreSQL URL (--url or TIERDESK_TEST_PG_URL).")
    url, name = bench_url(args.url, args.db)
    if not args.reuse:
        recreate_database(args.url, name)
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="tierdesk.settings",
                      HUEY_IMMEDIATE="true", EMAIL_URL="dummymail://", LOG_LEVEL="WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    from tierdesk.automation import sweeps

    call_command("migrate", verbosity=0)
    if args.reuse:
        now, facts = reused()
        print(f"reused {facts['open']:,} open tickets, {facts['due']:,} due")
    else:
        now = datetime.now(UTC).replace(microsecond=0)
        facts = populate(args.tickets, args.due, now)
        print(f"populated {facts['open']:,} open tickets, {facts['due']:,} due, "
              f"in {facts['populate_s']:.0f} s")
    explain(now)

    # Before the due tickets' first warning (1 h 30 ago) nothing at all is due.
    c0 = time.process_time()
    idle = timed(lambda: sweeps.sweep(now=now - timedelta(hours=2, minutes=50), follow=False),
                 max(args.repeat, 10))
    idle_cpu = (time.process_time() - c0) / max(args.repeat, 10)
    saved = snapshot(now)
    from tierdesk.tickets import hooks

    # The subscribers' work (report measures, webhooks…) is deferred like every action's:
    # after stage 1 commits, `_kick` would run it at once (Huey's immediate mode) inside the
    # stage's timing. The bench drains it itself instead, apart, as the worker's task does.
    kicked: list[int] = []
    hooks._kick = lambda: kicked.append(1)
    # Stage 2 writes the mails and queues their delivery after its commit; delivery is the
    # outbox's own task (a worker's, SMTP-bound), not timed here: the ids are kept instead.
    from tierdesk.notifications import outbox

    handed: list[int] = []
    outbox._schedule = handed.append
    outbox._schedule_many = handed.extend
    runs: list[dict] = []
    for _run in range(args.repeat):
        reset(saved)
        handed.clear()
        kicked.clear()
        run: dict = {}
        s0, t0, c0 = backend_cpu(), time.perf_counter(), time.process_time()
        report = sweeps.sweep(now=now, follow=False)
        s1, t1, c1 = backend_cpu(), time.perf_counter(), time.process_time()
        run.update(wall1=t1 - t0, cpu1=c1 - c0, server1=(s1 - s0) if s0 and s1 else 0.0,
                   steps=report.steps)
        if not args.no_stage2:
            done = sweeps.follow_up(report.claimed, now=now)
            s2, t2, c2 = backend_cpu(), time.perf_counter(), time.process_time()
            run.update(wall2=t2 - t1, cpu2=c2 - c1,
                       server2=(s2 - s1) if s1 and s2 else 0.0, done=done, mails=len(handed))
        s3, t3, c3 = backend_cpu(), time.perf_counter(), time.process_time()
        heard = hooks.run_pending()
        s4, t4, c4 = backend_cpu(), time.perf_counter(), time.process_time()
        run.update(wall3=t4 - t3, cpu3=c4 - c3, server3=(s4 - s3) if s3 and s4 else 0.0,
                   heard=heard, kicks=len(kicked))
        runs.append(run)
    reset(saved)  # leave it as it was built, for --reuse

    def fmt(xs: list[float]) -> str:
        each = ", ".join(f"{x * 1000:.0f}" for x in xs)
        return (f"median {statistics.median(xs) * 1000:.0f} ms, worst {max(xs) * 1000:.0f} ms "
                f"(runs in order: {each})")

    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip()
    with django.db.connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, PostgreSQL {pg}, commit {git}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"command: {' '.join(sys.argv)}")
    print(f"sweep, nothing due ({facts['open']:,} open): {fmt(idle)}; CPU of this process "
          f"{idle_cpu * 1000:.1f} ms per sweep")
    names = ", ".join(n for n, _f in hooks._subscribers)
    print(f"hook subscribers: {names}")
    print(f"load average at the end: {load_average()}")

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs) * 1000

    print(f"stage 1, {args.due:,} due: {fmt([r['wall1'] for r in runs])}; CPU of this process "
          f"median {med('cpu1'):.0f} ms, of its PostgreSQL backend median {med('server1'):.0f} ms"
          f"  (steps {runs[-1]['steps']})")
    if "wall2" in runs[0]:
        print(f"stage 2 drained (people told, rules applied; {runs[-1]['done']:,} steps, "
              f"{runs[-1]['mails']:,} mails queued): {fmt([r['wall2'] for r in runs])}; CPU "
              f"median {med('cpu2'):.0f} ms + backend {med('server2'):.0f} ms")
        print(f"THE SWEEP of {args.due:,} due, stage 1 + stage 2: "
              f"{fmt([r['wall1'] + r['wall2'] for r in runs])}; CPU median "
              f"{statistics.median(r['cpu1'] + r['cpu2'] for r in runs) * 1000:.0f} ms + backend "
              f"{statistics.median(r['server1'] + r['server2'] for r in runs) * 1000:.0f} ms")
    print(f"apart, the hook work the steps left ({runs[-1]['heard']:,} tickets heard by every "
          f"app's subscribers, drained after the commit; {runs[-1]['kicks']} task(s) asked): "
          f"{fmt([r['wall3'] for r in runs])}; CPU median {med('cpu3'):.0f} ms + backend "
          f"{med('server3'):.0f} ms")

if __name__ == "__main__":
    main()
