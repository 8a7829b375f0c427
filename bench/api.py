"""Benchmark of the REST API on SQLite: the ticket list at 100,000 tickets, and ticket creation
through gunicorn with two workers.

    .venv/bin/python bench/api.py                     # 100,000 tickets, 20 s of creates
    .venv/bin/python bench/api.py --tickets 20000 --create-seconds 10
    .venv/bin/python bench/api.py --reuse             # keep the data of a previous --keep run

1. A fresh database in var/bench-api/ (its own VAR_DIR: database, task queue, media):
   migrations, a desk of 50 organisations and 500 contacts (bench/bulk.py), N tickets with
   their timelines written with bulk_create, and their SLA rows by the bulk rebuild.
2. The list: GET /api/v1/tickets/ in the shapes clients use (an agent's first page, filters,
   a customer's, a search, page 40 by cursor), each REPEAT times through Django's full
   stack in process (middleware, token, throttle, serializers), after a warm-up; the
   p50/p95 and the queries of each. Then the agent's first page over HTTP from gunicorn.
3. Creates: gunicorn with 2 workers (2 threads each) and `tierdesk worker` beside it, as
   `make run`, on loopback; CLIENTS threads POST tickets for --create-seconds; tickets a
   second answered and latency, then how long the worker takes to hear what is left (the
   sustained rate: created and fully handled). gunicorn and the worker are stopped by pid.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import bulk  # noqa: E402 (after the path that finds it)

VAR = ROOT / "var" / "bench-api"
PORT = 0  # a free port, chosen at start
REPEAT = 100
CLIENTS = 6


def setup_django(fresh: bool) -> None:
    bulk.setup_django(VAR, fresh=fresh)


def build(n: int) -> None:
    bulk.build_desk(n)
    bulk.analyze()


def tokens() -> dict[str, str]:
    """Tokens for an agent, an organisation admin and a member (no rate limit for the bench)."""
    from tierdesk.accounts.models import Agent, Contact
    from tierdesk.api.tokens import issue_token

    agent = Agent.objects.select_related("user").order_by("pk").first()
    admin = Contact.objects.select_related("user").filter(role="admin").order_by("pk").first()
    member = Contact.objects.select_related("user").filter(role="member").order_by("pk").first()
    assert agent and admin and member
    return {who: issue_token(user=user, name="bench", scopes=["read", "write"],
                             rate_per_minute=10**9).secret
            for who, user in (("agent", agent.user), ("admin", admin.user),
                              ("member", member.user))}



def list_scenarios(secrets: dict[str, str]) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tierdesk.accounts.models import Contact
    from tierdesk.tickets.models import Ticket

    some = Ticket.objects.order_by("-pk").values_list("number", flat=True)[500]
    admin = Contact.objects.filter(role="admin").order_by("pk").first()
    assert admin is not None
    theirs = Ticket.objects.filter(organisation_id=admin.organisation_id,
                                   subject__startswith="Bench ticket ").order_by(
        "-pk").values_list("subject", flat=True)[10]  # "Bench ticket 12345": one ticket
    scenarios = [
        ("agent", "first page", "/api/v1/tickets/"),
        ("agent", "status=active", "/api/v1/tickets/?status=active"),
        ("agent", "unassigned, open, oldest first",
         "/api/v1/tickets/?assignee=none&status=new,open&ordering=created_at"),
        ("agent", "100 a page", "/api/v1/tickets/?page_size=100"),
        ("agent", "by reference", f"/api/v1/tickets/?q=TD-{some}"),
        ("agent", "search words", "/api/v1/tickets/?q=ticket%2099999"),
        # Every reply of the bench says "Looking into it.": a word in 86% of the tickets.
        ("agent", "search a word most tickets hold", "/api/v1/tickets/?q=looking"),
        ("admin", "customer admin (own org)", "/api/v1/tickets/"),
        ("admin", "customer admin, active", "/api/v1/tickets/?status=active"),
        ("admin", "customer admin, search words", f"/api/v1/tickets/?q={quote(theirs)}"),
        ("member", "customer member (own + CC)", "/api/v1/tickets/"),
        ("member", "customer member, search a common word", "/api/v1/tickets/?q=looking"),
    ]
    results = []
    for who, label, url in scenarios:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secrets[who]}")
        for _ in range(5):
            assert client.get(url).status_code == 200
        times = []
        cpu = time.process_time()
        for _ in range(REPEAT):
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
        cpu_ms = (time.process_time() - cpu) / REPEAT * 1000
        with CaptureQueriesContext(connection) as ctx:
            rows = len(client.get(url).json()["results"])
        results.append({"who": who, "label": label, "url": url, "rows": rows,
                        "queries": len(ctx.captured_queries), "p50": statistics.median(times),
                        "p95": bulk.percentile(times, 95), "max": max(times), "cpu": cpu_ms})
    # Page 40 by cursor: the cost of a deep page is that of the first.
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secrets['agent']}")
    url = "/api/v1/tickets/"
    for _ in range(39):
        url = client.get(url).json()["next"]
    times = []
    cpu = time.process_time()
    for _ in range(REPEAT):
        t = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append((time.perf_counter() - t) * 1000)
    results.append({"who": "agent", "label": "page 40 by cursor", "url": url[:60] + "…",
                    "rows": 25, "queries": results[0]["queries"],
                    "p50": statistics.median(times), "p95": bulk.percentile(times, 95),
                    "max": max(times), "cpu": (time.process_time() - cpu) / REPEAT * 1000})
    return results


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def creates_in_process(secret: str, requester_id: int, n: int = 100) -> list[dict]:
    """Where a create's time goes, in one process: the action in production mode (its hook
    work recorded for the worker), the same with every subscriber inline (as before the
    deferred mode), the API's whole create (no HTTP), and the worker's share: the
    subscribers hearing the pending creates in batches (`hooks.run_pending`)."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from tierdesk.accounts.models import Contact
    from tierdesk.tickets import hooks

    requester = Contact.objects.select_related("organisation").get(pk=requester_id)
    # Tasks are queued as in production; no consumer runs yet: this process drains them,
    # measured apart below.
    hooks.run_pending()

    def action() -> None:
        from tierdesk.tickets import actions

        actions.create_ticket(actor=None, new=actions.NewTicket(
            requester=requester, subject="Bench", description="In process.", channel="api",
            impact="one_user", urgency="degraded"))

    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = json.dumps({"subject": "Bench", "description": "In process.", "requester": requester_id,
                       "impact": "one_user", "urgency": "degraded"})

    def api() -> None:
        assert client.post("/api/v1/tickets/", body, content_type="application/json").status_code == 201

    names = ", ".join(name for name, _fn in hooks._subscribers)
    results = []

    def measure(label: str, fn, *, inline: bool, repeat: int = n) -> None:
        settings.TICKET_HOOKS_INLINE = inline
        try:
            fn()
            counted: list[str] = []

            def count(execute, sql, params, many, context, counted=counted):
                counted.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                fn()
            t, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeat):
                fn()
            elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        finally:
            settings.TICKET_HOOKS_INLINE = False
        results.append({"label": label, "queries": len(counted), "ms": elapsed / repeat * 1000,
                        "cpu": cpu / repeat * 1000, "per_second": repeat / elapsed})

    measure("create_ticket, deferred (production: the action and its hook-work row)", action,
            inline=False)
    measure(f"create_ticket, every subscriber inline ({names})", action, inline=True)
    measure("POST /api/v1/tickets/ in process, deferred (all of it, no HTTP)", api, inline=False)
    hooks.run_pending()
    # The worker's share: `repeat` creates recorded, then heard in batches.
    for _ in range(n):
        action()
    counted: list[str] = []

    def count(execute, sql, params, many, context):
        counted.append(sql)
        return execute(sql, params, many, context)

    t, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        heard = hooks.run_pending()
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    results.append({"label": f"worker: the subscribers hearing {heard} creates, batches of "
                             f"{hooks.BATCH} (per create)", "queries": round(len(counted) / heard),
                    "ms": elapsed / heard * 1000, "cpu": cpu / heard * 1000,
                    "per_second": heard / elapsed})
    return results


def start_gunicorn() -> subprocess.Popen:
    global PORT
    PORT = free_port()
    env = {**os.environ, "TIERDESK_VAR_DIR": str(VAR), "DEBUG": "false"}
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "tierdesk.wsgi", "--bind",
         f"127.0.0.1:{PORT}", "--workers", "2", "--threads", "2", "--log-level", "warning"],
        cwd=ROOT, env=env)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            conn.request("GET", "/api/schema/")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def start_worker() -> subprocess.Popen:
    """`tierdesk worker`, as `make run` starts it beside gunicorn: it hears the creates.
    Returns once its consumer is up (its log says so)."""
    env = {**os.environ, "TIERDESK_VAR_DIR": str(VAR), "DEBUG": "false"}
    log = VAR / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tierdesk", "worker"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and "consumer started" not in log.read_text():
        if proc.poll() is not None:
            raise SystemExit(f"the worker stopped: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


def pending_work() -> int:
    from django.db import connections

    from tierdesk.tickets.models import HookWork

    try:
        return HookWork.objects.count()
    finally:
        connections.close_all()


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def http_list(secret: str, n: int = REPEAT) -> dict:
    times = []
    for _ in range(n + 5):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        t = time.perf_counter()
        conn.request("GET", "/api/v1/tickets/", headers={"Authorization": f"Bearer {secret}"})
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - t) * 1000)
        assert response.status == 200
        conn.close()
    times = times[5:]
    return {"p50": statistics.median(times), "p95": bulk.percentile(times, 95), "max": max(times)}


def load_creates(secret: str, requester: int, seconds: float) -> dict:
    """CLIENTS threads POST tickets until the time is up (a bounded loop)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(k: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            body = json.dumps({"subject": f"Load {k}-{i}", "description": "Made by bench/api.py.",
                               "requester": requester, "impact": "one_user",
                               "urgency": "degraded"})
            t = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                conn.request("POST", "/api/v1/tickets/", body=body, headers={
                    "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                conn.close()
                ok = response.status == 201
            except OSError as exc:
                ok, response = False, exc
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors.append(str(getattr(response, "status", response)))
            i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - started
    return {"created": len(latencies), "errors": len(errors), "seconds": elapsed,
            "finished_at": time.perf_counter(),
            "per_second": len(latencies) / elapsed, "p50": statistics.median(latencies),
            "p95": bulk.percentile(latencies, 95), "error_sample": errors[:5]}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {__import__('sqlite3').sqlite_version}, {platform.system()} {platform.release()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--create-seconds", type=float, default=20)
    parser.add_argument("--reuse", action="store_true", help="Reuse var/bench-api as it is.")
    parser.add_argument("--keep", action="store_true", help="Keep var/bench-api afterwards.")
    parser.add_argument("--list-only", action="store_true", help="The list, not the creates.")
    args = parser.parse_args()

    print(f"# bench/api.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n{machine()}\n", flush=True)
    setup_django(fresh=not args.reuse)
    from tierdesk.accounts.models import Contact
    from tierdesk.tickets.models import Ticket

    if not args.reuse:
        print(f"Writing {args.tickets:,} tickets…", flush=True)
        build(args.tickets)
    count = Ticket.objects.count()
    secrets = tokens()
    print(f"\n## Ticket list, {count:,} tickets, in process ({REPEAT} requests each)\n")
    print(f"Load average before: {os.getloadavg()[0]:.1f} (other work on the machine "
          "stretches wall times; CPU ms is this process's own time a request).\n")
    print("| who | request | rows | queries | p50 ms | p95 ms | max ms | CPU ms |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in list_scenarios(secrets):
        print(f"| {r['who']} | {r['label']} | {r['rows']} | {r['queries']} | {r['p50']:.1f} | "
              f"{r['p95']:.1f} | {r['max']:.1f} | {r['cpu']:.1f} |", flush=True)
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f}")
    if args.list_only:
        if not args.keep and not args.reuse:
            shutil.rmtree(VAR, ignore_errors=True)
        return

    requester = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    print("\n## Creating a ticket in one process (where the time goes)\n")
    print("| what | queries | ms each | CPU ms each | a second |\n|---|---|---|---|---|")
    for r in creates_in_process(secrets["agent"], requester):
        print(f"| {r['label']} | {r['queries']} | {r['ms']:.1f} | {r['cpu']:.1f} | "
              f"{r['per_second']:.0f} |", flush=True)
    from django.db import connections

    connections.close_all()  # gunicorn's processes own the database from here
    proc = start_gunicorn()
    try:
        r = http_list(secrets["agent"])
        print(f"\nOver HTTP from gunicorn (2 workers × 2 threads), the agent's first page: "
              f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, max {r['max']:.1f} ms")
        worker = start_worker()
        try:
            print(f"\nLoad average before the creates: {os.getloadavg()[0]:.1f}")
            c = load_creates(secrets["agent"], requester, args.create_seconds)
            left = pending_work()
            while pending_work() and time.perf_counter() - c["finished_at"] < 600:
                time.sleep(0.2)
            drained = time.perf_counter() - c["finished_at"]
        finally:
            stop(worker)
        print(f"\n## Creating tickets: POST /api/v1/tickets/, {CLIENTS} clients, "
              f"{c['seconds']:.0f} s, gunicorn and `tierdesk worker` side by side\n\n"
              f"{c['created']:,} created, {c['errors']} errors: "
              f"**{c['per_second']:.0f} tickets a second** answered; latency p50 {c['p50']:.0f} ms, "
              f"p95 {c['p95']:.0f} ms" + (f"; errors e.g. {c['error_sample']}"
                                           if c["errors"] else ""))
        print(f"\nThe worker: {left:,} creates still to hear when the clients stopped, all heard "
              f"{drained:.1f} s later: **sustained {c['created'] / (c['seconds'] + drained):.0f} "
              f"tickets a second** (created and fully handled: routed, notified, measured). "
              f"Load average after: {os.getloadavg()[0]:.1f}")
    finally:
        stop(proc)
    if not args.keep and not args.reuse:
        shutil.rmtree(VAR, ignore_errors=True)


if __name__ == "__main__":
    main()
