"""What the two ticket actions of every channel cost by themselves: `create_ticket` and `add_reply`.

    .venv/bin/python bench/actions.py --base DIR [--tickets 10000] [--n 300] [--rounds 3]
                                      [--profile create|reply] [--queries] [--against REF]

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

With --against REF, the actions as they were at REF run beside this tree's in the same
process, interleaved round by round (the order turned each round), on the same desk:
the side-by-side figure that a shared machine's moods do not skew; and one create and
reply through each, compared row by row.

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
import statistics
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
    parser.add_argument("--against", metavar="REF",
                        help="also the actions at git ref REF, interleaved in this process")
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


def actions_at(ref: str):
    """The two actions as they were at git ref `ref`, loaded beside this tree's in this
    process: that ref's tickets/actions/base.py, create.py, conversation.py and
    sla/adapter.py as modules of their own (the rest — models, hooks, workflow, the
    engine — is this tree's). Its add_reply is only timed on replies that move no status
    (workflow's `move` records through this tree's base)."""
    import subprocess
    import types

    def load(name: str, path: str, swaps: dict[str, types.ModuleType]):
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{path}"], check=True,
                                capture_output=True, text=True).stdout
        module = types.ModuleType(name)
        module.__file__ = f"{ref}:{path}"
        sys.modules[name] = module
        saved = {k: sys.modules[k] for k in swaps}
        sys.modules.update(swaps)
        try:
            exec(compile(source, module.__file__, "exec"), module.__dict__)  # our own code at ref
        finally:
            sys.modules.update(saved)
        for key, swapped in swaps.items():
            for attr, value in list(module.__dict__.items()):
                if value is saved[key]:
                    setattr(module, attr, swapped)
        return module

    adapter = load("bench_then.adapter", "tierdesk/sla/adapter.py", {})
    base = load("bench_then.base", "tierdesk/tickets/actions/base.py",
                {"tierdesk.sla.adapter": adapter})
    swaps = {"tierdesk.sla.adapter": adapter, "tierdesk.tickets.actions.base": base}
    create = load("bench_then.create", "tierdesk/tickets/actions/create.py", swaps)
    conversation = load("bench_then.conversation", "tierdesk/tickets/actions/conversation.py",
                        swaps)
    return create, conversation


def measure(args) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tierdesk.accounts.models import Contact
    from tierdesk.mail import route
    from tierdesk.mail.route import find_user
    from tierdesk.sla.models import TicketSLA
    from tierdesk.tickets import actions
    from tierdesk.tickets.models import Ticket, TicketEvent

    people = list(Contact.objects.select_related("user", "organisation__plan")
                  .filter(held_for_review=False).order_by("pk"))
    numbers = list(Ticket.objects.values_list("number", flat=True))
    rng = random.Random(7)
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    trees = {"this tree": (actions.create_ticket, actions.NewTicket, actions.add_reply)}
    if args.against:
        create, conversation = actions_at(args.against)
        trees = {args.against: (create.create_ticket, create.NewTicket, conversation.add_reply),
                 **trees}

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

    def creates(tree, n):
        create_ticket, new_ticket, _reply = trees[tree]
        who = [contact() for _ in range(n)]
        cpu, wall = time.process_time(), time.perf_counter()
        for person in who:
            create_ticket(actor=None, at=at, new=new_ticket(
                requester=person, subject="Bench create", description="Bench description.",
                channel="email"))
        return (time.process_time() - cpu) / n, (time.perf_counter() - wall) / n

    def replies(tree, n):
        add_reply = trees[tree][2]
        ts = tickets(n)
        cpu, wall = time.process_time(), time.perf_counter()
        for t, user in ts:
            add_reply(actor=user, ticket=t, body="Bench reply.", at=at, via="email")
        return (time.process_time() - cpu) / n, (time.perf_counter() - wall) / n

    print(f"# Tierdesk ticket actions — {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, tree {ROOT}, "
          f"{Ticket.objects.count():,} tickets, load average {os.getloadavg()[0]:.2f}, "
          f"calibration {calibration():.0f} ms")
    for tree in trees:
        creates(tree, 30)
        replies(tree, 30)
    spent: dict[str, tuple[list[float], list[float]]] = {}
    for r in range(args.rounds):
        # Interleaved, the order turned every round: the machine's moods hit both alike.
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for tree in order:
            c_cpu, c_wall = creates(tree, args.n)
            r_cpu, r_wall = replies(tree, args.n)
            spent.setdefault(tree, ([], []))
            spent[tree][0].append(c_cpu)
            spent[tree][1].append(r_cpu)
            print(f"round {r + 1}, {tree:>9}: create_ticket {1000 * c_cpu:.3f} ms CPU "
                  f"({1000 * c_wall:.3f} wall) | add_reply {1000 * r_cpu:.3f} ms CPU "
                  f"({1000 * r_wall:.3f} wall) | load {os.getloadavg()[0]:.2f}", flush=True)
    for tree, (c, r) in spent.items():
        print(f"median of {len(c)} rounds, {tree:>9}: create_ticket {1000 * statistics.median(c):.3f}"
              f" ms CPU (best {1000 * min(c):.3f}) | add_reply {1000 * statistics.median(r):.3f} ms CPU"
              f" (best {1000 * min(r):.3f})")
    if args.against:
        # The same input through both: the same rows, ids and numbers aside.
        who = contact()
        made = []
        for tree in trees:
            create_ticket, new_ticket, add_reply = trees[tree]
            t = create_ticket(actor=None, at=at, new=new_ticket(
                requester=who, subject="Same", description="Same.", channel="email"))
            t = route._ticket(pk=t.pk)
            add_reply(actor=who.user, ticket=t, body="Same reply.", at=at, via="email")
            made.append((
                {k: v for k, v in Ticket.objects.filter(pk=t.pk).values()[0].items()
                 if k not in ("id", "number")},
                [{k: v for k, v in e.items() if k not in ("id", "ticket_id")}
                 for e in TicketEvent.objects.filter(ticket=t).order_by("pk").values()],
                [{k: v for k, v in e.items() if k not in ("id", "ticket_id")}
                 for e in TicketSLA.objects.filter(ticket=t).order_by("pk").values()]))
        print(f"same rows written by both (ticket, events, SLA rows): {made[0] == made[1]}")
    if args.queries:
        for tree in trees:
            create_ticket, new_ticket, add_reply = trees[tree]
            for name in ("create_ticket", "add_reply"):
                who = contact() if name == "create_ticket" else tickets(1)[0]
                with CaptureQueriesContext(connection) as ctx:
                    if name == "create_ticket":
                        create_ticket(actor=None, at=at, new=new_ticket(
                            requester=who, subject="Bench create", description="Bench.",
                            channel="email"))
                    else:
                        add_reply(actor=who[1], ticket=who[0], body="Bench.", at=at, via="email")
                print(f"\n{tree}, {name}: {len(ctx.captured_queries)} statements")
                for q in ctx.captured_queries:
                    print("   ", q["sql"][:100])
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        (creates if args.profile == "create" else replies)("this tree", args.n)
        prof.disable()
        pstats.Stats(prof).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(45)


if __name__ == "__main__":
    main()
