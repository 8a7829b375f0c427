"""How fast inbound mail is taken in, and whether it stays flat as tickets pile up.

    .venv/bin/python bench/mail_ingest.py [--messages 1000] [--sizes 1000,100000]
                                          [--processes 2] [--pipe 10] [--inline]

On a fresh SQLite database (WAL) in a temporary directory (nothing of var/ is
touched), for each ticket count in --sizes: tickets (and the mail that opened
them) are bulk-loaded up to that count, then --messages realistic messages go
through the whole inbound path — raw bytes stored and committed, parsed, quoted
history stripped, routed, the ticket action run (timeline, SLA rows, its one
hook-work row), the message's final state written and committed.

The doors, as production runs them:

- `ingest`: `inbound.ingest`, one message at a time — what `tierdesk mail ingest`
  does once Django has started;
- `imap-batch`: what the IMAP poller does with a fetched batch of 50
  (`receive_many`, one commit, then `process` each);
- with --processes 2, each door in two processes at once on the one database
  (two IMAP mailboxes polled by two consumers; an MTA delivering to two ingesting
  processes): wall clock from the start of both to the end of the last, CPU added up;
- `pipe` (--pipe N): the real command, `python -m tierdesk mail ingest`, one
  process per message as Postfix's pipe(8) runs it — start-up included.

The mix, from tests/mail/fixtures: 45% new tickets (Gmail, Outlook, Apple,
Thunderbird shapes, English and Spanish, attachments, HTML-only), 30% replies
to existing tickets (by subject code or by our Message-ID, quotes to strip),
10% automatic replies, 5% delivery reports, 10% duplicates (in the two-process
runs a duplicate may reach both processes at once, as from two mailboxes).
Warmed up first (templates, translations, policies loaded).

"everything" runs as in production: the subscribers of tickets.hooks (routing,
notices, webhooks, measures) are deferred to the worker, whose part is measured
right after each run (`run_pending`, in batches) and reported beside the
foreground; "everything, inline" (--inline) runs them inside each action, the
old mode; "mail path alone" replaces the ticket actions by look-ups.

Also printed: the time of parsing alone, and of the ticket actions alone, so
the share of each is visible, and the load average with every row.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "mail" / "fixtures"


def setup_django(var: str) -> None:
    os.environ["TIERDESK_VAR_DIR"] = var
    os.environ["DJANGO_SETTINGS_MODULE"] = "tierdesk.settings"
    os.environ.pop("DATABASE_URL", None)
    os.environ["LOG_LEVEL"] = "ERROR"
    os.environ.setdefault("DEFAULT_FROM_EMAIL", "support@helpful.test")
    os.environ.setdefault("MAIL_MESSAGE_ID_DOMAIN", "helpful.test")
    # Loops and limits are measured by the tests; here every sender is a busy one.
    os.environ["MAIL_NEW_TICKETS_PER_SENDER_HOUR"] = "1000000"
    os.environ["MAIL_MESSAGES_PER_SENDER_HOUR"] = "1000000"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def desk(contacts: int):
    """A provider, priorities, a 24x7 plan, 20 organisations with domains and contacts."""
    from tierdesk.accounts.models import (
        Agent,
        Contact,
        Organisation,
        OrganisationDomain,
        Provider,
        User,
    )
    from tierdesk.sla.models import BusinessCalendar, Plan
    from tierdesk.tickets.models import Priority

    Provider.objects.create(name="Helpful IT", support_address="support@helpful.test",
                            time_zone="Europe/Madrid", languages=["en", "es"])
    for rank, code in enumerate(["critical", "high", "medium", "low", "request"], start=1):
        Priority.objects.create(code=code, name=code.title(), rank=rank)
    week = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    cal = BusinessCalendar.objects.create(code="always", name="24x7",
                                          spec={"timezone": "UTC", "hours": week})
    targets = {"first_response": {"critical": 60, "high": 120, "medium": 480, "low": 1440,
                                  "request": 2880},
               "resolution": {"critical": 480, "high": 1440, "medium": 4320, "low": 7200,
                              "request": 7200}}
    plan = Plan.objects.create(code="premium", name="Premium", calendar=cal, targets=targets)
    orgs = []
    for i in range(20):
        org = Organisation.objects.create(name=f"Org {i}", plan=plan)
        OrganisationDomain.objects.create(organisation=org, domain=f"org{i}.test")
        orgs.append(org)
    OrganisationDomain.objects.create(organisation=orgs[0], domain="acme.test")
    people = []
    for i in range(contacts):
        org = orgs[i % len(orgs)]
        user = User.objects.create_user(f"person{i}@org{org.pk - orgs[0].pk}.test", None,
                                        full_name=f"Person {i}", language="es" if i % 3 else "en")
        people.append(Contact.objects.create(user=user, organisation=org))
    for name in ("alice", "bob"):
        user = User.objects.create_user(f"{name}@acme.test", None, full_name=name.title())
        people.append(Contact.objects.create(user=user, organisation=orgs[0]))
    Agent.objects.create(user=User.objects.create_user("tess@helpful.test", None,
                                                       full_name="Tess Tier1"))
    return people


def grow(target: int, people, at: datetime) -> bool:
    """Bulk-load tickets (with their created event, SLA rows and opening mail) up to `target`;
    whether any were loaded."""
    from tierdesk.mail.models import InboundMessage
    from tierdesk.sla.models import TicketSLA
    from tierdesk.tickets.models import Priority, Ticket, TicketCounter, TicketEvent

    have = Ticket.objects.count()
    medium = Priority.objects.get(code="medium")
    counter, _ = TicketCounter.objects.get_or_create(pk=1)
    number = counter.last
    batch = 5000
    while have < target:
        n = min(batch, target - have)
        tickets = []
        for _ in range(n):
            number += 1
            requester = people[number % len(people)]
            tickets.append(Ticket(number=number, organisation_id=requester.organisation_id,
                                  requester=requester, subject=f"Seeded {number}",
                                  description="Seeded.", priority=medium, channel="email",
                                  created_at=at, updated_at=at, status="open"))
        Ticket.objects.bulk_create(tickets, batch_size=1000)
        tickets = list(Ticket.objects.filter(number__gt=number - n).order_by("number"))
        TicketEvent.objects.bulk_create([TicketEvent(
            ticket=t, code="created", at=at, is_public=True, body="Seeded.",
            payload={"by": "contact", "priority": "medium", "channel": "email"}) for t in tickets],
            batch_size=1000)
        TicketSLA.objects.bulk_create([TicketSLA(
            ticket=t, target="first_response", state="running", elapsed_seconds=0,
            target_seconds=28800, due_at=at + timedelta(hours=8), plan_version=1,
            calendar_version=1, computed_at=at) for t in tickets], batch_size=1000)
        InboundMessage.objects.bulk_create([InboundMessage(
            dedupe_key=f"{t.number:064d}", message_id=f"seed-{t.number}@org.test", source="seed",
            raw=b"Subject: seeded\n\nSeeded.\n", size=24, received_at=at, state="processed",
            outcome="created", ticket=t) for t in tickets], batch_size=1000)
        have += n
    TicketCounter.objects.filter(pk=1).update(last=number)
    return number > counter.last


class Mix:
    """Realistic messages, each one new (its own Message-ID), from the fixtures."""

    NEW = ["gmail_new_en.eml", "gmail_new_es.eml", "outlook_new_en.eml", "apple_new_en.eml",
           "thunderbird_new_es_latin1.eml", "gmail_inline_image.eml", "gmail_attachment_pdf.eml",
           "html_only_es.eml", "outlook_forward_attachment.eml", "apple_attachment_no_name.eml"]
    REPLIES = ["gmail_reply_en.eml", "gmail_reply_es.eml", "outlook_reply_es.eml",
               "thunderbird_reply_en.eml", "apple_reply_es.eml", "bottom_post_reply.eml"]
    AUTO = ["outlook_auto_reply.eml", "outlook_auto_reply_es.eml", "outlook_read_receipt.eml"]
    BOUNCES = ["bounce_postfix.eml", "bounce_exchange_ndr.eml"]

    def __init__(self, people, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.raw = {p.name: p.read_bytes() for p in FIXTURES.glob("*.eml")}
        self.people = people
        self.serial = 0
        self.sent: list[bytes] = []

    def _unique(self, raw: bytes) -> bytes:
        self.serial += 1
        tag = f"bench{self.serial:08d}-{self.rng.random():.12f}".encode()
        for old in (b"Message-ID: <", b"Message-Id: <"):
            raw = raw.replace(old, old + tag + b".", 1)
        return raw

    def message(self, *, first: int, last: int) -> bytes:
        roll = self.rng.random()
        person = self.rng.choice(self.people).user.email.encode()
        if roll < 0.10 and self.sent:
            return self.rng.choice(self.sent)  # a duplicate (re-fetch, or two mailboxes)
        if roll < 0.55:
            raw = self.raw[self.rng.choice(self.NEW)]
            raw = raw.replace(b"alice@acme.test", person).replace(b"bob@acme.test", person)
        elif roll < 0.85:
            # A reply by the ticket's requester (grow() gave ticket n to people[n % len(people)]).
            number = self.rng.randint(first, last)
            requester = self.people[number % len(self.people)].user.email.encode()
            raw = self.raw[self.rng.choice(self.REPLIES)].replace(b"100001", str(number).encode())
            raw = raw.replace(b"alice@acme.test", requester).replace(b"bob@acme.test", requester)
        elif roll < 0.95:
            raw = self.raw[self.rng.choice(self.AUTO)].replace(b"100001", str(
                self.rng.randint(first, last)).encode())
        else:
            raw = self.raw[self.rng.choice(self.BOUNCES)].replace(b"100001", str(
                self.rng.randint(first, last)).encode())
        raw = self._unique(raw)
        self.sent.append(raw)
        return raw


def run(door: str, messages: list[bytes]) -> tuple[float, float, dict[str, int]]:
    """(wall seconds, CPU seconds of this process, states) for one door."""
    from tierdesk.mail import inbound
    from tierdesk.mail.models import InboundMessage

    states: dict[str, int] = {}
    cpu = time.process_time()
    started = time.perf_counter()
    if door == "ingest":
        for raw in messages:
            row = inbound.ingest(raw, source="bench")
            states[row.state] = states.get(row.state, 0) + 1
    else:
        for i in range(0, len(messages), 50):
            chunk = messages[i:i + 50]
            for raw, (row, _created) in zip(chunk, inbound.receive_many(chunk, source="bench"),
                                            strict=True):
                if row.state == InboundMessage.State.RECEIVED:
                    row.raw = raw  # as imap.poll does: the bytes are in hand
                    row = inbound.process(row)
                states[row.state] = states.get(row.state, 0) + 1
    return time.perf_counter() - started, time.process_time() - cpu, states


def _child(door: str, messages: list[bytes], start, out) -> None:
    from django.db import connections

    connections.close_all()  # a connection of its own
    start.wait()
    try:
        _wall, cpu, states = run(door, messages)
        out.put((cpu, states, ""))
    except Exception as exc:  # reported, not swallowed
        out.put((0.0, {}, f"{type(exc).__name__}: {exc}"))
    finally:
        connections.close_all()


def run_parallel(door: str, messages: list[bytes], processes: int
                 ) -> tuple[float, float, dict[str, int]]:
    """`run` in `processes` processes at once on the same database, the messages dealt
    round-robin. (wall seconds from the start of all to the end of the last, CPU seconds
    of all added up, states)."""
    from django.db import connections
    from huey.contrib.djhuey import HUEY

    connections.close_all()  # no connection (database or queue) crosses the fork
    HUEY.storage.close()
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(door, messages[i::processes], start, out))
             for i in range(processes)]
    for p in procs:
        p.start()
    start.wait()
    started = time.perf_counter()
    answers = [out.get() for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    errors = [e for _c, _s, e in answers if e]
    if errors:
        raise RuntimeError("; ".join(errors))
    states: dict[str, int] = {}
    for _cpu, st, _e in answers:
        for k, v in st.items():
            states[k] = states.get(k, 0) + v
    return elapsed, sum(c for c, _s, _e in answers), states


def run_pipe(messages: list[bytes], var: str) -> tuple[float, float, dict[str, int]]:
    """The MTA's door for real: `python -m tierdesk mail ingest` started once per message,
    as Postfix's pipe(8) does. (wall seconds, CPU seconds of the children, states)."""
    from django.db import connections

    from tierdesk.mail.models import InboundMessage

    connections.close_all()
    env = {**os.environ, "TIERDESK_VAR_DIR": var}
    before = InboundMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for raw in messages:
        done = subprocess.run(
            [sys.executable, "-m", "tierdesk", "mail", "ingest", "--source", "bench-pipe"],
            input=raw, capture_output=True, env=env, cwd=ROOT, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode(errors="replace")[-2000:])
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    states: dict[str, int] = {}
    for state in InboundMessage.objects.filter(pk__gt=before).values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    dupes = len(messages) - sum(states.values())
    if dupes:
        states["(duplicate)"] = dupes
    return elapsed, cpu, states


@contextmanager
def actions_stubbed(rng: random.Random):
    """The ticket actions replaced by look-ups of existing rows: what the mail path costs by itself.

    Everything else runs as in production: raw bytes stored and committed, parsing,
    quote stripping, routing (its queries included), the message's final state."""
    from tierdesk.tickets import actions
    from tierdesk.tickets.models import Ticket, TicketEvent

    pool = list(Ticket.objects.order_by("-pk").values_list("pk", flat=True)[:500])
    tickets = Ticket.objects.in_bulk(pool)
    events = {e.ticket_id: e for e in TicketEvent.objects.filter(ticket_id__in=pool, code="created")}

    def create_ticket(*, actor, new, at=None):
        return tickets[rng.choice(pool)]

    from django.db import connection

    def event_of(*, ticket, **kwargs):
        # A look-up by the index, without the ORM's query compilation (which would be
        # measured as the mail path's): the ticket's first event, as a bare instance.
        found = events.get(ticket.pk)
        if found is None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT MIN(id) FROM tickets_ticketevent WHERE ticket_id = %s",
                               [ticket.pk])
                found = TicketEvent(pk=cursor.fetchone()[0], ticket_id=ticket.pk)
        return found

    saved = {n: getattr(actions, n) for n in ("create_ticket", "add_reply", "add_internal_note")}
    actions.create_ticket = create_ticket  # type: ignore[assignment]
    actions.add_reply = event_of  # type: ignore[assignment]
    actions.add_internal_note = event_of  # type: ignore[assignment]
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(actions, name, fn)


@contextmanager
def subscribers_timed(spent: dict[str, float]):
    """Each tickets.hooks subscriber's CPU time, added up in `spent` (seconds by name):
    where a ticket action's time goes, whichever app it belongs to (batch handlers too)."""
    from tierdesk.tickets import hooks

    saved = list(hooks._subscribers)
    saved_batch = dict(hooks._batch)

    def timed(name, fn):
        def run(happened):
            started = time.process_time()
            try:
                fn(happened)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - started
        return run

    hooks._subscribers[:] = [(name, timed(name, fn)) for name, fn in saved]
    hooks._batch.update({name: timed(name, fn) for name, fn in saved_batch.items()})
    try:
        yield
    finally:
        hooks._subscribers[:] = saved
        hooks._batch.clear()
        hooks._batch.update(saved_batch)


def drain() -> tuple[float, float, int]:
    """The worker's part of the deferred mode: every pending hook work, in batches, then
    the search index's catch-up (SQLite), as the `run_hooks` task does. (wall seconds, CPU
    seconds, tickets heard)."""
    from tierdesk.tickets import hooks, search

    cpu = time.process_time()
    started = time.perf_counter()
    heard = hooks.run_pending()
    catch_up = getattr(search, "catch_up", None)  # older code: the index written inline
    if catch_up is not None:
        catch_up()
    return time.perf_counter() - started, time.process_time() - cpu, heard


@contextmanager
def inline_hooks():
    """The subscribers inside each action's transaction, as before the deferred mode."""
    from django.conf import settings

    settings.TICKET_HOOKS_INLINE = True
    try:
        yield
    finally:
        settings.TICKET_HOOKS_INLINE = False


def parse_only(messages: list[bytes]) -> float:
    from tierdesk.mail import parse
    from tierdesk.mail.quotes import strip_quotes

    started = time.perf_counter()
    for raw in messages:
        mail = parse.parse(raw)
        strip_quotes(mail.text)
        parse.dedupe_key(raw)
    return time.perf_counter() - started


def actions_only(people, n: int, *, first: int, last: int) -> float:
    """The ticket actions by themselves (no mail): what any channel pays."""
    from tierdesk.tickets import actions
    from tierdesk.tickets.models import Ticket

    rng = random.Random(3)
    started = time.perf_counter()
    for i in range(n):
        person = rng.choice(people)
        if i % 5 < 3:
            actions.create_ticket(actor=None, new=actions.NewTicket(
                requester=person, subject="Bench", description="Bench.", channel="email"))
        else:
            ticket = Ticket.objects.select_related("organisation").get(
                number=rng.randint(first, last))
            actions.add_reply(actor=ticket.requester.user, ticket=ticket, body="Bench reply.",
                              via="email")
    return time.perf_counter() - started


def calibration() -> float:
    """Milliseconds for a fixed piece of pure Python (best of 5; lower is faster): how fast
    this machine ran, shared as it may be, when the figures were taken — to compare runs."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(300_000):
            total += i % 7
        best = min(best, time.perf_counter() - started)
    return 1000 * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--contacts", type=int, default=400)
    parser.add_argument("--processes", type=int, default=2,
                        help="also run each door in this many processes at once (1: not)")
    parser.add_argument("--pipe", type=int, default=10,
                        help="messages through the real `tierdesk mail ingest` command (0: not)")
    parser.add_argument("--inline", action="store_true",
                        help="also the old mode: the subscribers inside each action")
    parser.add_argument("--var", default="",
                        help="a directory of one's own for the database, kept after the run and "
                             "reused by the next run given it (the tickets already there count "
                             "towards --sizes; the code under test may differ between runs)")
    parser.add_argument("--seed", type=int, default=0,
                        help="of the message mix (0: 1 on a fresh database, else the clock's, "
                             "so that a reused database gets new Message-IDs)")
    parser.add_argument("--only", choices=["everything", "alone"], default="",
                        help="only the rows of the whole path, or of the mail path alone")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with (contextlib.nullcontext(args.var) if args.var else
          tempfile.TemporaryDirectory(prefix="tierdesk-bench-mail-")) as var:
        reused = Path(var, "tierdesk.sqlite3").exists()
        Path(var).mkdir(parents=True, exist_ok=True)
        setup_django(var)
        from django.db import connection

        if reused:
            from tierdesk.accounts.models import Contact

            people = list(Contact.objects.select_related("user").order_by("pk"))
        else:
            people = desk(args.contacts)
        at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        print(f"# Tierdesk inbound mail benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(f"# {platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}, SQLite {connection.Database.sqlite_version}, "
              f"load average {os.getloadavg()[0]:.1f}, pure-Python calibration {calibration():.0f} ms")
        seed = args.seed or (time.time_ns() % 10**9 if reused else 1)
        print(f"# {args.messages} messages per run; the mix is in the docstring (seed {seed}); "
              f"database {'reused' if reused else 'fresh'}; code under test {ROOT}\n")
        print("msg/s and ms/msg are wall-clock; CPU ms/msg is the CPU time of the processes "
              "that took the mail in (added up when there are two), which the other loads of a "
              "shared machine do not inflate; load is the load average when the row ended.\n")
        print("\"everything\" is the production mode: the message, the ticket action and its one "
              "hook-work row in the foreground; the subscribers (routing, notices, webhooks, "
              "measures) after the commit, in batches, by the worker — measured right after "
              "each run (\"worker CPU\"). \"inline\" runs the subscribers inside each action, "
              "as before. msg/s a core = 1000 / CPU ms.\n")
        print("| tickets before | what runs | door | processes | wall msg/s | CPU ms/msg | "
              "msg/s a core | worker CPU ms/msg | sustained msg/s a core | load | states |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        mix = Mix(people, seed)
        from tierdesk.tickets.models import Ticket

        # Tasks are queued as in production (SqliteHuey in the temporary directory); no
        # consumer runs them: the worker's part is measured by drain(), in this process.
        shares: dict[tuple[int, str, int], tuple[float, dict[str, float]]] = {}
        # Warm-up, not measured: templates compiled, translations and policies loaded, as
        # in a worker that has been running for a while.
        grow(sizes[0], people, at)
        run("ingest", [mix.message(first=100001, last=100000 + sizes[0]) for _ in range(40)])
        drain()

        plan = [("everything", "ingest", 1), ("everything", "imap-batch", 1)]
        if args.processes > 1:
            plan += [("everything", "ingest", args.processes),
                     ("everything", "imap-batch", args.processes)]
        if args.pipe:
            plan.append(("everything", "pipe", 1))
        if args.inline:
            plan.append(("everything, inline", "ingest", 1))
        plan += [("mail path alone", "ingest", 1), ("mail path alone", "imap-batch", 1)]
        if args.only:
            plan = [p for p in plan if (p[0] == "mail path alone") == (args.only == "alone")]
        for size in sizes:
            first, last = 100001, 100000 + size  # the bulk-loaded ones
            if grow(size, people, at):
                # A desk that grew to this size over months has its WAL checkpointed and
                # its hot pages cached; a bulk load of tens of thousands of tickets leaves
                # neither. Checkpoint, then warm up at this size (not measured).
                from django.db import connection
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                run("ingest", [mix.message(first=first, last=last) for _ in range(40)])
                drain()
            for what, door, processes in plan:
                count = args.pipe if door == "pipe" else args.messages
                messages = [mix.message(first=first, last=last) for _ in range(count)]
                before = Ticket.objects.count()
                worker_cpu = 0.0
                if what == "everything":
                    spent: dict[str, float] = {}
                    if door == "pipe":
                        elapsed, cpu, states = run_pipe(messages, var)
                    elif processes > 1:
                        elapsed, cpu, states = run_parallel(door, messages, processes)
                    else:
                        elapsed, cpu, states = run(door, messages)
                    with subscribers_timed(spent):
                        _w, worker_cpu, _heard = drain()
                    shares[(size, door, processes)] = (worker_cpu, spent)
                elif what == "everything, inline":
                    with inline_hooks():
                        elapsed, cpu, states = run(door, messages)
                else:
                    with actions_stubbed(random.Random(size)):
                        elapsed, cpu, states = run(door, messages)
                n = len(messages)
                shown = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
                sustained = n / (cpu + worker_cpu)
                rate = n / elapsed
                print(f"| {before:,} | {what} | {door} | {processes} | "
                      f"{rate:,.{0 if rate >= 10 else 1}f} | "
                      f"{1000 * cpu / n:.2f} | {n / cpu:,.0f} | "
                      f"{1000 * worker_cpu / n:.2f} | {sustained:,.0f} | "
                      f"{os.getloadavg()[0]:.1f} | {shown} |", flush=True)
        print("\nWhere the worker's CPU time goes: the tickets.hooks subscribers (CPU ms per "
              "message, each app's own code, batch handlers included), at each size:\n")
        names = sorted({n for _cpu, spent in shares.values() for n in spent})
        print("| tickets before | door | processes | worker total | " + " | ".join(names) + " |")
        print("|---:|---|---:|---:|" + "---:|" * len(names))
        for (size, door, processes), (total, spent) in shares.items():
            count = args.pipe if door == "pipe" else args.messages
            print(f"| {size:,} | {door} | {processes} | {1000 * total / count:.2f} | " + " | ".join(
                f"{1000 * spent.get(n, 0.0) / count:.2f}" for n in names) + " |")
        sample = [mix.message(first=first, last=last) for _ in range(args.messages)]
        cpu = time.process_time()
        parse_s = parse_only(sample)
        cpu = time.process_time() - cpu
        print(f"\nparse + strip quotes + dedupe key alone: {1000 * parse_s / len(sample):.2f} ms/msg "
              f"wall, {1000 * cpu / len(sample):.2f} ms/msg CPU ({len(sample) / cpu:,.0f} msg/s a core)")
        n = max(args.messages // 2, 100)
        cpu = time.process_time()
        act_s = actions_only(people, n, first=first, last=last)
        cpu = time.process_time() - cpu
        _w, worker_cpu, _heard = drain()
        print(f"ticket actions alone, any channel (60% create_ticket, 40% add_reply): "
              f"{1000 * act_s / n:.2f} ms/action wall, {1000 * cpu / n:.2f} ms CPU "
              f"({n / cpu:,.0f}/s a core); then the worker's subscribers (SLA follow-ups, "
              f"automation, reports, webhooks, outbound mail) {1000 * worker_cpu / n:.2f} ms CPU "
              f"an action")


if __name__ == "__main__":
    main()
