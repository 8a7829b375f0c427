"""The worker's share of an API create, in one process (issue 8, the worker side).

    .venv/bin/python bench/worker_share.py --tickets 10000          # build var/bench-api, measure
    .venv/bin/python bench/worker_share.py --reuse                   # measure on it again
    .venv/bin/python bench/worker_share.py --reuse --code /tmp/old   # another checkout's code

Creates `--creates` tickets through `actions.create_ticket` in production mode (each records
its hook work for the worker; nothing consumes the queue), then lets the subscribers hear
them as the worker's task does (`hooks.run_pending`, batches of `hooks.BATCH`), and prints
the CPU ms a create (this process: Python and SQLite), by subscriber, the queries a batch,
and the longest write transaction (a batch holds SQLite's write lock for that long; measured
from the claim to the commit); then the search index's catch-up, which the worker's task
runs after the batches (SQLite), timed apart. `--code DIR` imports tierdesk from DIR instead (a checkout of
an earlier commit, for a before/after on the same database).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def heard_round(connection, hooks, search, timed_subscribers) -> str:
    """Let the subscribers hear what is pending; what it cost, as a line."""
    counted: list[str] = []
    batches: list[float] = []
    opened: list[float] = []

    def count(execute, sql, params, many, context):
        counted.append(sql)
        if sql.startswith("DELETE FROM tickets_hookwork"):
            opened.append(time.perf_counter())
        return execute(sql, params, many, context)

    spent: dict[str, float] = {}
    original_commit = connection.commit

    def commit() -> None:
        original_commit()
        if opened:
            batches.append(time.perf_counter() - opened.pop())

    connection.commit = commit
    load = loadavg()
    t, cpu = time.perf_counter(), time.process_time()
    try:
        with connection.execute_wrapper(count), timed_subscribers(spent):
            heard = hooks.run_pending()
    finally:
        del connection.commit
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    # The worker's task then lets the search index catch up (SQLite; nothing elsewhere).
    search_cpu = time.process_time()
    search.catch_up()
    search_cpu = time.process_time() - search_cpu
    batches = batches[:-1]  # the last claim found nothing
    n = max(heard, 1)
    nb = max(len(batches), 1)
    by = ", ".join(f"{k} {v / n * 1000:.2f}" for k, v in
                   sorted(spent.items(), key=lambda kv: -kv[1]) if v / n * 1000 >= 0.01)
    return (f"{heard} creates in {len(batches)} batches: CPU {cpu / n * 1000:.2f} ms a create "
            f"(wall {elapsed / n * 1000:.2f}), with the search catch-up "
            f"{(cpu + search_cpu) / n * 1000:.2f} (catch-up {search_cpu / n * 1000:.2f}); "
            f"{len(counted) / nb:.0f} queries a batch; write "
            f"transaction max {max(batches, default=0) * 1000:.0f} ms, mean "
            f"{sum(batches) / nb * 1000:.0f} ms; by subscriber: {by}; load {load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--code", default=str(ROOT), help="Where tierdesk is imported from.")
    parser.add_argument("--label", default="")
    parser.add_argument("--profile", default="",
                        help="Write a cProfile of the last round's hearing to this file.")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench import bulk

    sys.path.insert(0, args.code)  # tierdesk from here (bench's helpers stay this checkout's)
    for name in [m for m in sys.modules if m == "tierdesk" or m.startswith("tierdesk.")]:
        del sys.modules[name]
    bulk.setup_django(ROOT / "var" / "bench-api", fresh=not args.reuse)
    import tierdesk
    from tierdesk.accounts.models import Contact
    from tierdesk.tickets import actions, hooks, search
    from tierdesk.tickets.models import Ticket

    if not args.reuse:
        print(f"Writing {args.tickets:,} tickets…", flush=True)
        bulk.build_desk(args.tickets)
        bulk.analyze()
    from django.conf import settings
    from django.db import connection

    settings.TICKET_HOOKS_INLINE = False
    requesters = list(Contact.objects.select_related("organisation").order_by("pk")[:50])
    hooks.run_pending()
    search.catch_up()
    label = args.label or Path(tierdesk.__file__).resolve().parents[1].name
    print(f"# worker share — {label} — {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, "
          f"{Ticket.objects.count():,} tickets, load {loadavg()}",
          flush=True)
    sys.path.insert(0, str(ROOT / "bench"))
    from api import TimedSubscribers  # type: ignore[import-not-found]

    for _round in range(args.rounds):
        # The action itself (production mode: its hook-work row written, the task queued),
        # timed too: a create's whole CPU is the action's and the worker's.
        cpu = time.process_time()
        for i in range(args.creates):
            actions.create_ticket(actor=None, new=actions.NewTicket(
                requester=requesters[i % len(requesters)], subject=f"Bench {i}",
                description="Worker share.", channel="api", impact="one_user",
                urgency="degraded"))
        action_ms = (time.process_time() - cpu) / args.creates * 1000
        print(f"{label}: create_ticket CPU {action_ms:.2f} ms a create", flush=True)
        if args.profile and _round == args.rounds - 1:
            import cProfile

            with cProfile.Profile() as profile:
                line = heard_round(connection, hooks, search, TimedSubscribers)
            profile.dump_stats(args.profile)
        else:
            line = heard_round(connection, hooks, search, TimedSubscribers)
        print(f"{label}: {line}", flush=True)
    os.environ.pop("TIERDESK_VAR_DIR", None)


if __name__ == "__main__":
    main()
