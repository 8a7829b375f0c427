"""Benchmark: the web during a breach wave on SQLite (`make run`'s shape: granian 2 × 2 and
`tierdesk worker` beside it).

    .venv/bin/python bench/wave.py --build --tickets 20000            # the desk, once
    .venv/bin/python bench/wave.py --compare /path/to/main --rounds 2  # side by side

1. --build: a fresh desk in var/bench-wave/pristine (bench/bulk.py: 50 organisations, N
   tickets over the last 90 days, their timelines and SLA rows) that no worker has run on:
   every target of its open tickets long overdue, as a desk whose worker was down for a
   long time. Its first sweep breaches them all: a wave of steps, their follow-ups and the
   hook work they cause.
2. Each round, for this tree and each --compare tree in turn (alternated): the pristine
   desk copied to var/bench-wave/run, the web server and the worker of that tree started
   on it, --clients threads POSTing tickets all along. The wave starts at the worker's
   first sweep (the minute after it started); it is over when every step's follow-up is
   done and no hook work older than a few seconds is left. Reported: creates answered a
   second during the wave, errors (500 "database is locked"), p50/p95/max of a create,
   the longest stretch without an answer, and the wave's drain time, with the load average.
   Every ticket created during the wave is then checked: routed and acknowledged exactly once.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import api, bulk  # noqa: E402 (after the path that finds it)

BASE = ROOT / "var" / "bench-wave"
PRISTINE = BASE / "pristine"
RUN = BASE / "run"
DB = "tierdesk.sqlite3"


def build(n: int) -> None:
    bulk.setup_django(PRISTINE, fresh=True)
    from django.db import connection, connections

    from tierdesk.accounts.models import Contact

    print(f"Writing {n:,} tickets…", flush=True)
    bulk.build_desk(n)
    bulk.analyze()
    secrets = api.tokens()
    requester = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    (PRISTINE / "bench.json").write_text(json.dumps({"secret": secrets["agent"],
                                                     "requester": requester}))
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connections.close_all()
    for extra in PRISTINE.glob("queue.sqlite3*"):
        extra.unlink()
    print("Built.", flush=True)


def fresh_run_dir() -> None:
    from django.db import connections

    connections.close_all()
    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True)
    shutil.copy2(PRISTINE / DB, RUN / DB)


def state() -> tuple[int, int, int, int]:
    """(steps taken, steps whose follow-up is pending, hook work older than 5 s, tickets due)."""
    from datetime import timedelta

    from django.db import connections

    from tierdesk.automation.models import Firing
    from tierdesk.tickets.models import HookWork, Ticket

    now = datetime.now(UTC)
    try:
        return (Firing.objects.count(), Firing.objects.filter(done_at__isnull=True).count(),
                HookWork.objects.filter(created_at__lte=now - timedelta(seconds=5)).count(),
                Ticket.objects.filter(next_due_at__lte=now - timedelta(seconds=30)).count())
    finally:
        connections.close_all()


class Client:
    """--clients threads POSTing tickets until stopped, each on one keep-alive connection;
    every answer timed and put in its second."""

    def __init__(self, secret: str, requester: int, clients: int, tag: str) -> None:
        self.secret, self.requester, self.clients, self.tag = secret, requester, clients, tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, float, int]] = []  # (ended at, ms, status)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self.run, args=(k,)) for k in range(self.clients)]
        for th in self.threads:
            th.start()

    def run(self, k: int) -> None:
        import http.client

        headers = {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", api.PORT, timeout=60)
        i = 0
        while not self.stop.is_set():
            body = json.dumps({"subject": f"Load {self.tag} {k}-{i}",
                               "description": "Made by bench/wave.py.",
                               "requester": self.requester, "impact": "one_user",
                               "urgency": "degraded"}).encode()
            t = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/tickets/", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                conn.close()
                status = 0
            end = time.perf_counter()
            with self.lock:
                self.answers.append((end, (end - t) * 1000, status))
            i += 1
        conn.close()

    def finish(self) -> None:
        self.stop.set()
        for th in self.threads:
            th.join()

    def between(self, start: float, end: float) -> dict:
        with self.lock:
            rows = [a for a in self.answers if start <= a[0] < end]
        ok = sorted(ms for _at, ms, status in rows if status == 201)
        errors = [status for _at, _ms, status in rows if status != 201]
        seconds = max(end - start, 1e-9)
        # the longest stretch without a 201 answer
        times = [start, *sorted(at for at, _ms, status in rows if status == 201), end]
        gap = max(b - a for a, b in itertools.pairwise(times))
        answered_in = {int(at - start) for at, _ms, status in rows if status == 201}
        silent = sum(1 for k in range(int(seconds)) if k not in answered_in)
        return {"created": len(ok), "per_second": len(ok) / seconds, "errors": len(errors),
                "statuses": sorted(set(errors)),
                "p50": statistics.median(ok) if ok else 0.0,
                "p95": bulk.percentile(ok, 95) if ok else 0.0, "max": ok[-1] if ok else 0.0,
                "gap": gap, "silent": silent, "seconds": seconds}


def one_run(tree: Path, secret: str, requester: int, clients: int, tag: str,
            limit: float) -> dict:
    fresh_run_dir()
    api.VAR = RUN
    server = api.start_server(tree)
    # The worker's first sweep runs at the minute after its consumer started: start it
    # late in a minute so the wave comes soon.
    wait = (50 - datetime.now(UTC).second) % 60
    time.sleep(wait)
    client = Client(secret, requester, clients, tag)
    client.start()
    worker = api.start_worker(tree)
    started = datetime.now(UTC)
    # the minute after: the scheduler's first tick
    wave_at = time.perf_counter() + (60 - started.second - started.microsecond / 1e6)
    load0 = os.getloadavg()
    cpu0 = api.cpu_of([worker.pid])
    try:
        time.sleep(max(0.0, wave_at - time.perf_counter()))
        done_at = None
        samples = []
        while time.perf_counter() - wave_at < limit:
            time.sleep(2)
            taken, pending, hooks, due = state()
            samples.append((time.perf_counter() - wave_at, taken, pending, hooks, due))
            if taken and not pending and not hooks and not due:
                done_at = time.perf_counter()
                break
        end = done_at or time.perf_counter()
        worker_cpu = api.cpu_of([worker.pid]) - cpu0
        load1 = os.getloadavg()
        client.finish()
        api.drain(time.perf_counter())  # the last creates heard before the check
    finally:
        client.finish()
        api.stop(worker)
        api.stop(server)
    c = client.between(wave_at, end)
    c.update({"drained": (done_at - wave_at) if done_at else None, "steps": samples[-1][1],
              "load": (load0[0], load1[0]), "worker_cpu": worker_cpu,
              "samples": samples, "checked": api.check_handled(tag)})
    return c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--compare", type=Path, action="append", default=[])
    parser.add_argument("--only-compare", action="store_true",
                        help="Run the --compare trees only (not this one).")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--limit", type=float, default=900,
                        help="Give up on a wave after this many seconds.")
    args = parser.parse_args()
    print(f"# bench/wave.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n{api.machine()}\n",
          flush=True)
    if args.build:
        build(args.tickets)
        return
    bulk.setup_django(RUN, fresh=False)
    meta = json.loads((PRISTINE / "bench.json").read_text())
    trees = ([] if args.only_compare else [ROOT]) + [t.resolve() for t in args.compare]
    run = f"{time.time():.0f}"
    print(f"{args.clients} client threads POSTing tickets all along; the wave from the "
          "worker's first sweep until every follow-up is done and no hook work older than 5 s "
          "is left.\n")
    print("| round | tree | steps | drained in s | answered | a second | errors | p50 / p95 / "
          "max ms | longest without an answer, s | seconds without one | worker CPU s | "
          "routed once, acknowledged once | load avg (start, end) | UTC |\n"
          + "|---" * 14 + "|")
    for n in range(args.rounds):
        for k, tree in enumerate(trees if n % 2 == 0 else trees[::-1]):
            tag = f"{run}r{n}{k}"
            r = one_run(tree, meta["secret"], meta["requester"], args.clients, tag, args.limit)
            name = "this tree" if tree == ROOT else str(tree)
            drained = f"{r['drained']:.0f}" if r["drained"] else f"> {args.limit:.0f}"
            ch = r["checked"]
            print(f"| {n + 1} | {name} | {r['steps']:,} | {drained} | {r['created']:,} | "
                  f"**{r['per_second']:.1f}** | {r['errors']}"
                  f"{' ' + str(r['statuses']) if r['errors'] else ''} | "
                  f"{r['p50']:.0f} / {r['p95']:.0f} / {r['max']:.0f} | {r['gap']:.1f} | "
                  f"{r['silent']} | "
                  f"{r['worker_cpu']:.0f} | {ch['routed_once']:,}/{ch['tickets']:,}, "
                  f"{ch['acknowledged_once']:,}/{ch['tickets']:,} | "
                  f"{r['load'][0]:.1f}, {r['load'][1]:.1f} | {datetime.now(UTC):%H:%M:%S} |",
                  flush=True)
            trace = ", ".join(f"{s[0]:.0f}s {s[1]}/{s[2]}/{s[3]}/{s[4]}" for s in r["samples"][::5])
            print(f"<!-- progress (s: steps/pending follow-ups/hook work/due): {trace} -->",
                  flush=True)


if __name__ == "__main__":
    main()
