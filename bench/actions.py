"""What the two ticket actions of every channel cost by themselves: `create_ticket` and `add_reply`.

    .venv/bin/python bench/actions.py --base DIR [--tickets 10000] [--n 300] [--rounds 3]
                                      [--profile create|reply] [--queries]

A desk (20 organisations, 402 contacts, a 24x7 plan with first-response and resolution
targets, `bench/mail_ingest.py`'s) with --tickets tickets bulk-loaded is built once into
--base (SQLite, WAL; kept for the next run). Each run copies it to a temporary directory,
so that every run, of this tree or of another, starts from the same rows.

The calls are made as the mail door makes them, its reads outside the timed part: the
requester read with its user, organisation and plan (`route.find_user`; the API reads
the same); a reply's ticket with its organisation, plan and requester (`route._ticket`)
and its author by `find_user`. Creates by the system
(actor None, as mail and an agent's API call), channel email, no CC, no attachment; replies
by the requester (a contact), to tickets picked at random among the bulk-loaded ones (so a
reply to a ticket waiting on nobody: no status change). Hooks deferred (production).

Printed per round: CPU ms per call (time.process_time, the honest figure on a shared
machine) and wall ms, for creates and replies, with the load average; then the SQL one
call of each runs (--queries), or a cProfile of --profile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.mail_ingest import calibration, desk, grow, setup_django  # noqa: E402


def build(base: Path, tickets: int, contacts: int) -> None:
    base.mkdir(parents=True, exist_ok=True)
    setup_django(str(base))
    people = desk(contacts)
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    grow(tickets, people, at)
    from django.db import connection

    from tierdesk.tickets.models import Ticket

    # The deadline the bulk-loaded first-response rows (8 hours) say, as an action sets it.
    Ticket.objects.update(next_due_at=at + timedelta(hours=8))

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="directory of the built desk (kept)")
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=400)
    parser.add_argument("--n", type=int, default=300, help="creates and replies per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=["create", "reply"])
    parser.add_argument("--queries", action="store_true")
    args = parser.parse_args()
    base = Path(args.base)
    if not (base / "tierdesk.sqlite3").exists():
        import subprocess

        # Built in its own process: this one then starts on the copy.
        subprocess.run([sys.executable, "-c",
                        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                        f"from bench.actions import build; from pathlib import Path; "
                        f"build(Path({str(base)!r}), {args.tickets}, {args.contacts})"],
                       check=True)
    with tempfile.TemporaryDirectory(prefix="tierdesk-bench-actions-") as var:
        shutil.copy(base / "tierdesk.sqlite3", Path(var) / "tierdesk.sqlite3")
        setup_django(var)
        measure(args)


def measure(args) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tierdesk.accounts.models import Contact
    from tierdesk.mail import route
    from tierdesk.mail.route import find_user
    from tierdesk.tickets import actions
    from tierdesk.tickets.models import Ticket

    people = list(Contact.objects.select_related("user", "organisation__plan")
                  .filter(held_for_review=False).order_by("pk"))
    numbers = list(Ticket.objects.values_list("number", flat=True))
    rng = random.Random(7)
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def contact():
        # A fresh copy per call, read as the mail door reads the sender.
        return find_user(rng.choice(people).user.email).contact

    def tickets(n):
        # Each ticket and its replier read as the mail door reads them.
        out = []
        for number in rng.sample(numbers, n):
            t = route._ticket(number=number)
            out.append((t, find_user(t.requester.user.email)))
        return out

    def creates(n):
        who = [contact() for _ in range(n)]
        cpu, wall = time.process_time(), time.perf_counter()
        for person in who:
            actions.create_ticket(actor=None, at=at, new=actions.NewTicket(
                requester=person, subject="Bench create", description="Bench description.",
                channel="email"))
        return (time.process_time() - cpu) / n, (time.perf_counter() - wall) / n

    def replies(n):
        ts = tickets(n)
        cpu, wall = time.process_time(), time.perf_counter()
        for t, user in ts:
            actions.add_reply(actor=user, ticket=t, body="Bench reply.", at=at,
                              via="email")
        return (time.process_time() - cpu) / n, (time.perf_counter() - wall) / n

    print(f"# Tierdesk ticket actions — {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, tree {ROOT}, "
          f"{Ticket.objects.count():,} tickets, load average {os.getloadavg()[0]:.2f}, "
          f"calibration {calibration():.0f} ms")
    creates(30)
    replies(30)
    for r in range(args.rounds):
        c_cpu, c_wall = creates(args.n)
        r_cpu, r_wall = replies(args.n)
        print(f"round {r + 1}: create_ticket {1000 * c_cpu:.3f} ms CPU ({1000 * c_wall:.3f} wall)"
              f" | add_reply {1000 * r_cpu:.3f} ms CPU ({1000 * r_wall:.3f} wall)"
              f" | load {os.getloadavg()[0]:.2f}", flush=True)
    if args.queries:
        for name in ("create_ticket", "add_reply"):
            who = contact() if name == "create_ticket" else tickets(1)[0]
            with CaptureQueriesContext(connection) as ctx:
                if name == "create_ticket":
                    actions.create_ticket(actor=None, at=at, new=actions.NewTicket(
                        requester=who, subject="Bench create", description="Bench.",
                        channel="email"))
                else:
                    actions.add_reply(actor=who[1], ticket=who[0], body="Bench.",
                                      at=at, via="email")
            print(f"\n{name}: {len(ctx.captured_queries)} statements")
            for q in ctx.captured_queries:
                print("   ", q["sql"][:160])
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        (creates if args.profile == "create" else replies)(args.n)
        prof.disable()
        pstats.Stats(prof).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(45)


if __name__ == "__main__":
    main()
