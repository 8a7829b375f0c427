"""Benchmark: rebuild the SLA rows of N open tickets (issue target: 1,000,000 in ≤ 3 min on
PostgreSQL, 2 cores).

    .venv/bin/python bench/sla_rebuild.py --db postgres://tierdesk:tierdesk@127.0.0.1:5432/tierdesk \
        --tickets 1000000 --processes 2

Writing 1,000,000 tickets one by one takes the best part of an hour on a shared
machine, so --base of them (50,000) are written with varied timelines and the rest
are copies of those made inside PostgreSQL, moved back in time (about 2 h per copy).

It creates (and drops at the end unless --keep) a database `<name>_bench_rebuild` beside the
one named, migrates it, writes the tickets with bench/bulk.py, then times the rebuild with
1 process and with --processes processes, side by side in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a local process (a PostgreSQL backend), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCPU:
    """The CPU time of the bench database's PostgreSQL backends (the server runs on this
    machine), sampled every 0.2 s while a rebuild runs: a backend's last sample counts
    (a worker's backend ends with it, losing at most its last 0.2 s)."""

    def __init__(self, url: str, datname: str) -> None:
        import threading

        self.url, self.datname = url, datname
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            me = conn.info.backend_pid
            while not self.stop.wait(0.2):
                for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                           [self.datname]).fetchall():
                    cpu = _cpu_seconds(pid)
                    if pid != me and cpu is not None:
                        self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    def __enter__(self) -> BackendCPU:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def seconds(self, before: dict[int, float]) -> float:
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in self.seen.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=os.environ.get("TIERDESK_TEST_PG_URL",
                                                       "postgres://tierdesk:tierdesk@127.0.0.1:5432/tierdesk"))
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep the bench database.")
    parser.add_argument("--reuse", action="store_true", help="Reuse a kept database as it is.")
    parser.add_argument("--name", help="The bench database's name (default: <name of --db>_bench_rebuild).")
    parser.add_argument("--base", type=int, default=50_000,
                        help="Tickets written one by one (varied timelines); the rest are copies "
                             "of them made in the database, moved in time (bench/bulk.py).")
    parser.add_argument("--write-only", action="store_true",
                        help="Write the tickets and stop (keeps the database, for --reuse).")
    parser.add_argument("--limit", type=int,
                        help="Rebuild only the first N open tickets (by id): per-ticket costs on a "
                             "part of a big database.")
    parser.add_argument("--only", type=int, action="append",
                        help="Time only these process counts (repeatable; default: 1 and --processes).")
    args = parser.parse_args()

    parts = urlsplit(args.db)
    bench_name = args.name or parts.path.lstrip("/") + "_bench_rebuild"
    admin_url = args.db
    bench_url = urlunsplit(parts._replace(path="/" + bench_name))
    import psycopg

    if not args.reuse:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}"')
            conn.execute(f'CREATE DATABASE "{bench_name}"')
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.bulk import bulk_tickets, make_desk, replicate_tickets
    from tierdesk.lib import clock
    from tierdesk.sla.models import TicketSLA
    from tierdesk.sla.rebuild import open_tickets, rebuild_parallel
    from tierdesk.tickets.models import Ticket

    if not args.reuse:
        call_command("migrate", verbosity=0)
        print(f"writing {args.tickets:,} tickets …", flush=True)
        t0 = time.perf_counter()
        base = min(args.tickets, args.base)
        bulk_tickets(make_desk(), base, open_share=1.0)
        if args.tickets > base:
            copies = -(-args.tickets // base) - 1
            print(f"{base:,} written; copying them {copies} times in the database …", flush=True)
            replicate_tickets(copies)
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        print(f"written in {time.perf_counter() - t0:.0f} s", flush=True)
    if args.write_only:
        connection.close()
        return

    tickets = open_tickets()
    if args.limit:
        last = tickets.order_by("pk").values_list("pk", flat=True)[args.limit - 1]
        tickets = tickets.filter(pk__lte=last)
    count = tickets.count()
    print(f"open tickets: {count:,}")
    results = []
    for processes in sorted(set(args.only or [1, args.processes])):
        # Every timed run starts from the same state, no SLA rows and no
        # deadlines, so that it writes every ticket (a run after another would
        # find most deadlines unchanged and skip their updates).
        TicketSLA.objects.all().delete()
        Ticket.objects.exclude(next_due_at=None).update(next_due_at=None)
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC, load average "
              f"{os.getloadavg()[0]:.1f}: rebuilding with {processes} process(es) …", flush=True)
        before = {pid: cpu for pid in [connection.connection.info.backend_pid]
                  if (cpu := _cpu_seconds(pid)) is not None}
        t0, cpu0 = time.perf_counter(), os.times()
        with BackendCPU(admin_url, bench_name) as backends:
            done = rebuild_parallel(tickets, now=clock.now(), processes=processes)
        elapsed, cpu1 = time.perf_counter() - t0, os.times()
        pg_cpu = backends.seconds(before)
        # This process and its workers (reaped by the pool); PostgreSQL's backends are apart.
        cpu = sum(cpu1[:4]) - sum(cpu0[:4])
        rows = TicketSLA.objects.count()
        results.append((processes, done, rows, elapsed))
        print(f"processes={processes}: rebuilt {done:,} tickets ({rows:,} SLA rows) in "
              f"{elapsed:.1f} s — {done / elapsed:,.0f} tickets/s, {elapsed / done * 1e6:,.0f} µs a ticket; "
              f"CPU: Python {cpu:.1f} s ({cpu / done * 1e6:,.0f} µs a ticket), PostgreSQL backends "
              f"{pg_cpu:.1f} s ({pg_cpu / done * 1e6:,.0f} µs a ticket); load average after "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    connection.close()
    if not args.keep:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}"')


if __name__ == "__main__":
    main()
