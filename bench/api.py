"""Benchmark of the REST API on SQLite: the ticket list at 100,000 tickets, and ticket creation
through the web server `make run` starts (granian, two workers).

    .venv/bin/python bench/api.py                     # 100,000 tickets, 20 s of creates
    .venv/bin/python bench/api.py --tickets 20000 --create-seconds 10
    .venv/bin/python bench/api.py --reuse             # keep the data of a previous --keep run

1. A fresh database in var/bench-api/ (its own VAR_DIR: database, task queue, media):
   migrations, a desk of 50 organisations and 500 contacts (bench/bulk.py), N tickets with
   their timelines written with bulk_create, and their SLA rows by the bulk rebuild.
2. The list: GET /api/v1/tickets/ in the shapes clients use (an agent's first page, filters,
   a customer's, a search, page 40 by cursor), each REPEAT times through Django's full
   stack in process (middleware, token, throttle, serializers), after a warm-up; the
   p50/p95 and the queries of each. Then the agent's first page over HTTP from the web server.
3. Where a create's CPU goes, in one process: the action alone, the whole POST split into
   the token, validation, the action (with its commit and the worker's task queued), the
   answer and the rest (middleware, DRF, JSON); and the worker's share per subscriber.
4. Creates over HTTP: the web server as `make run` starts it (granian, 2 workers × 2
   threads) on loopback, --clients
   threads POSTing for --create-seconds, twice:
   a. with `tierdesk worker` running beside it, as `make run`: 201s a second, p50/p95;
      then how long the worker takes to drain what the burst left (the sustained rate:
      created and fully handled);
   b. the web side alone (the worker stopped, its work kept pending), then the worker
      started to drain the burst: the web's own ceiling and the worker's throughput.
   Every ticket of both bursts is then checked: routed (one `assigned` or `not_routed`
   event) and acknowledged (one `mail:created` outbox message), exactly once, and no
   hook work left. The server and the worker are stopped by pid.
5. --web-only instead: the web side's creates alone, for each server shape (--servers) and
   tree (this one, and an older checkout with --compare, its server on this database),
   alternated --rounds times: creates answered a second, p50/p95, the server's CPU a create
   and the client's. The client keeps one connection a thread and encodes bodies beforehand.
6. --list-only --compare OLD_TREE instead: the list's shapes (2.) from this tree and the older
   one, each run in a process of its own on this tree's desk, alternated --rounds times:
   p50/p95 of each run, CPU ms, queries, and for the searches each query's p95 (by its
   place in the request; SQLite's statements timed to their first row, as Django's own
   query log does).
7. --creates-only --compare OLD_TREE: `make run`'s shape (the server and `tierdesk worker`)
   of each tree in turn, alternated --rounds times: answered a second with the worker
   beside, the worker's CPU, the sustained rate, every ticket checked as in 4. With
   --trace-waits (5 and 7), `perf trace` counts the sleeps of SQLite's busy handler and
   the waits in flock() (a writer lock, as tried on branch s8-lock), the server's and the
   worker's apart. --variant 'LABEL:NAME=VALUE,...' adds this tree again with settings of
   its own (the server's and the worker's environment), alternated like --compare;
   --trace-batches times each batch of the worker's hook work (bench/traced_worker.py:
   rows, the wait for the write lock, its hold, CPU). Each row also gives the CPU seconds
   a second of the server, the worker and the client during the burst.
8. --creates-only --quiet N [--idle S]: a quiet desk instead (each tree and variant): N
   single creates S seconds apart, the worker idle between, and how long after each 201
   its follow-up has been heard.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import bulk  # noqa: E402 (after the path that finds it)

if "--code" in sys.argv:  # the list of another checkout (--list-only --compare): its tierdesk
    sys.path.insert(0, sys.argv[sys.argv.index("--code") + 1])

VAR = ROOT / "var" / "bench-api"
PORT = 0  # a free port, chosen at start
REPEAT = 100
CLIENTS = 8


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
        # The searches' other ways (tierdesk/tickets/search.py, _sqlite_matching).
        ("agent", "common word, 100 a page", "/api/v1/tickets/?q=looking&page_size=100"),
        ("agent", "common word, oldest first", "/api/v1/tickets/?q=looking&ordering=created_at"),
        ("agent", "two common words", "/api/v1/tickets/?q=looking%20into"),
        ("agent", "common word, status=active", "/api/v1/tickets/?q=looking&status=active"),
        ("agent", "common word, one organisation", f"/api/v1/tickets/?q=looking&organisation="
                                                   f"{admin.organisation_id}"),
        # "Benchmark": every ticket, 9 letters, no prefix index of its length.
        ("agent", "a long common word", "/api/v1/tickets/?q=benchmark"),
        # "ticket 1": its number starts with 1 in 11% of the tickets ("1"*, no prefix index).
        ("agent", "a word and a mid-frequent number", "/api/v1/tickets/?q=ticket%201"),
        ("agent", "a mid-frequent number prefix", "/api/v1/tickets/?q=ticket%2012"),
        ("admin", "customer admin, search a common word", "/api/v1/tickets/?q=looking"),
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
        queries = len(ctx.captured_queries)
        # Each query's own time (by its place in the request), over REPEAT // 2 more requests.
        each: list[list[float]] = [[] for _ in range(queries)]
        for _ in range(REPEAT // 2):
            spent: list[float] = []

            def timed(execute, sql, params, many, context, spent=spent):
                t = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    spent.append((time.perf_counter() - t) * 1000)

            with connection.execute_wrapper(timed):
                client.get(url)
            for k, ms in enumerate(spent[:queries]):
                each[k].append(ms)
        results.append({"who": who, "label": label, "url": url, "rows": rows,
                        "queries": queries, "p50": statistics.median(times),
                        "p95": bulk.percentile(times, 95), "max": max(times), "cpu": cpu_ms,
                        "each_p95": [bulk.percentile(t, 95) if t else 0.0 for t in each]})
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
                    "max": max(times), "cpu": (time.process_time() - cpu) / REPEAT * 1000,
                    "each_p95": []})
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
    for label, cpu in post_phases(api, n):
        results.append({"label": f"… of which {label}", "queries": None, "ms": None,
                        "cpu": cpu, "per_second": None})
    hooks.run_pending()
    # The worker's share: `repeat` creates recorded, then heard in batches.
    for _ in range(n):
        action()
    counted: list[str] = []

    def count(execute, sql, params, many, context):
        counted.append(sql)
        return execute(sql, params, many, context)

    spent: dict[str, float] = {}
    t, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count), TimedSubscribers(spent):
        heard = hooks.run_pending()
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    results.append({"label": f"worker: the subscribers hearing {heard} creates, batches of "
                             f"{hooks.BATCH} (per create)", "queries": round(len(counted) / heard),
                    "ms": elapsed / heard * 1000, "cpu": cpu / heard * 1000,
                    "per_second": heard / elapsed})
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        results.append({"label": f"… of which subscriber `{name}`", "queries": None, "ms": None,
                        "cpu": seconds / heard * 1000, "per_second": None})
    return results


def post_phases(post, n: int) -> list[tuple[str, float]]:
    """CPU ms a POST spends in each part of the API's create, by wrapping the functions
    the view calls (the rest: Django's middleware, DRF's dispatch, JSON in and out)."""
    from tierdesk.api import throttles, tokens
    from tierdesk.api.views import tickets as view
    from tierdesk.tickets import hooks

    parts = [(tokens, "authenticate", "the token"),
             (throttles.TokenRateThrottle, "allow_request", "the throttle"),
             (view.s.TicketCreateSerializer, "parse",
              "validation (the serializer, the requester's query)"),
             (view.actions, "create_ticket", "create_ticket, its commit and the task queued"),
             (hooks, "_kick", "… queueing the worker's task (inside the above)"),
             (view, "created", "the answer (its SLA rows: one query)")]
    spent = dict.fromkeys([label for *_x, label in parts], 0.0)
    saved = []
    for owner, name, label in parts:
        fn = getattr(owner, name)
        # put back as it was found (a classmethod stays one)
        saved.append((owner, name, vars(owner).get(name, fn)))

        def wrapped(*args, _fn=fn, _label=label, **kwargs):
            cpu = time.process_time()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[_label] += time.process_time() - cpu
        setattr(owner, name, wrapped)
    try:
        post()
        for key in spent:
            spent[key] = 0.0
        cpu = time.process_time()
        for _ in range(n):
            post()
        total = time.process_time() - cpu
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    inner = "… queueing the worker's task (inside the above)"
    rest = total - sum(v for k, v in spent.items() if k != inner)
    return ([(label, v / n * 1000) for label, v in spent.items()]
            + [("the rest (middleware, DRF dispatch, JSON, the test client)", rest / n * 1000)])


class TimedSubscribers:
    """CPU seconds each tickets.hooks subscriber spends, by name."""

    def __init__(self, spent: dict[str, float]):
        self.spent = spent

    def __enter__(self):
        from tierdesk.tickets import hooks

        self.saved = (list(hooks._subscribers), dict(hooks._batch))

        def timed(name, fn):
            def call(arg):
                cpu = time.process_time()
                try:
                    return fn(arg)
                finally:
                    self.spent[name] = self.spent.get(name, 0.0) + time.process_time() - cpu
            return call

        hooks._subscribers[:] = [(n, timed(n, f)) for n, f in self.saved[0]]
        hooks._batch.update({n: timed(n, f) for n, f in self.saved[1].items()})
        return self

    def __exit__(self, *exc):
        from tierdesk.tickets import hooks

        hooks._subscribers[:] = self.saved[0]
        hooks._batch.clear()
        hooks._batch.update(self.saved[1])


# Where one gunicorn worker's CPU goes (--profile): cumulative time of these functions,
# (file suffix, function name, label), per create answered.
PROFILED = [
    ("gunicorn/workers/gthread.py", "run", "gthread: the main loop (poll, accept, keep-alive)"),
    ("bench/gunicorn_profile.py", "profiled", "gthread: a pool thread's `handle` (all below)"),
    ("gunicorn/workers/sync.py", "handle", "sync: `handle` (all below)"),
    ("gunicorn/http/parser.py", "__next__", "gunicorn: parsing the request"),
    ("gunicorn/workers/gthread.py", "handle_request", "gunicorn: handle_request (WSGI and below)"),
    ("gunicorn/http/wsgi.py", "create", "gunicorn: the WSGI environ"),
    ("gunicorn/http/wsgi.py", "write", "gunicorn: writing the answer"),
    ("django/core/handlers/wsgi.py", "__call__", "Django: WSGIHandler (all below)"),
    ("django/core/handlers/wsgi.py", "__init__", "Django: WSGIRequest"),
    ("django/core/handlers/base.py", "_get_response", "Django: resolve + view (inside middleware)"),
    ("django/urls/resolvers.py", "resolve", "Django: URL resolving"),
    ("django/core/handlers/base.py", "get_response", "Django: middleware + view"),
    ("django/dispatch/dispatcher.py", "send", "Django: signals (request_started/finished...)"),
    ("django/db/__init__.py", "close_old_connections", "Django: close_old_connections"),
    ("django/http/response.py", "close", "Django: response.close (request_finished)"),
    ("rest_framework/views.py", "dispatch", "DRF: dispatch (all below)"),
    ("rest_framework/views.py", "initialize_request", "DRF: initialize_request"),
    ("rest_framework/views.py", "initial", "DRF: initial (negotiation, auth, permission, throttle)"),
    ("rest_framework/views.py", "perform_content_negotiation", "DRF: content negotiation"),
    ("rest_framework/views.py", "perform_authentication", "DRF: authentication"),
    ("rest_framework/views.py", "check_permissions", "DRF: permissions"),
    ("rest_framework/views.py", "check_throttles", "DRF: throttles"),
    ("rest_framework/request.py", "_parse", "DRF: parsing the body"),
    ("rest_framework/views.py", "finalize_response", "DRF: finalize_response"),
    ("rest_framework/response.py", "rendered_content", "DRF: rendering the JSON"),
    ("tierdesk/api/views/tickets.py", "post", "Tierdesk: TicketList.post (all below)"),
    ("tierdesk/api/serializers.py", "parse", "Tierdesk: validation"),
    ("tierdesk/tickets/actions/create.py", "create_ticket", "Tierdesk: create_ticket"),
    ("tierdesk/api/views/tickets.py", "created", "Tierdesk: the answer's dict"),
    ("django/utils/deprecation.py", "__call__", "middleware: MiddlewareMixin.__call__ (nested)"),
]


def profile_worker(args, secrets: dict[str, str]) -> None:
    """cProfile one gunicorn worker under the creates' load and summarise it per create."""
    import pstats
    import tempfile

    from django.db import connections

    from tierdesk.accounts.models import Contact

    requester = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    assert requester is not None
    connections.close_all()
    kind, _workers, threads = SERVERS[args.profile]
    out = Path(tempfile.mkdtemp(prefix="api-profile-"))
    proc = start_server(ROOT, args.profile, extra=(
        "-c", str(ROOT / "bench" / "gunicorn_profile.py"), "--workers", "1"),
        env_extra={"TIERDESK_PROFILE_DIR": str(out)})
    try:
        warm = load_creates(secrets["agent"], requester, 2, tag=f"{time.time():.0f}warm")
        load = os.getloadavg()[0]
        before = cpu_of([proc.pid])
        c = load_creates(secrets["agent"], requester, args.create_seconds,
                         tag=f"{time.time():.0f}p")
        web = (cpu_of([proc.pid]) - before) / max(c["created"], 1) * 1000
    finally:
        stop(proc)
    files = sorted(str(f) for f in out.glob("*.prof"))
    stats = pstats.Stats(*files)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    answered = c["created"] + warm["created"]  # the warm-up is in the profiles too
    print(f"\n## One gunicorn worker profiled ({kind}, 1 worker × {threads} threads), "
          f"{CLIENTS} clients, {args.create_seconds:.0f} s, load {load:.1f}\n")
    print(f"{c['created']:,} created, {c['per_second']:.0f} a second under the profiler, "
          f"{web:.1f} ms CPU a create (profiled: slower than without); the profiles hold "
          f"{total * 1000 / answered:.2f} ms a request over {answered:,} requests "
          f"(warm-up included).\n")
    print("| part | ms a create (cumulative, profiled) | share |\n|---|---|---|")
    for suffix, name, label in PROFILED:
        ct = sum(v[3] for (file, _line, fn), v in stats.stats.items()  # type: ignore[attr-defined]
                 if fn == name and file.endswith(suffix))
        if ct:
            print(f"| {label} | {ct * 1000 / answered:.2f} | {ct / total:.0%} |")
    print("\nEach middleware's own methods (cumulative, profiled):\n")
    print("| middleware method | ms a create |\n|---|---|")
    for (file, line, fn), v in sorted(stats.stats.items(),  # type: ignore[attr-defined]
                                      key=lambda kv: -kv[1][3]):
        if (("middleware" in file and fn != "__call__") or file.endswith(
                "accounts/middleware.py")) and v[3] * 1000 / answered >= 0.005:
            print(f"| {'/'.join(file.split('/')[-3:])}:{line} {fn} | "
                  f"{v[3] * 1000 / answered:.3f} |")
    print("\nTop functions by own time:\n")
    stats.sort_stats("tottime").print_stats(40)


# Server shapes: (worker class, workers, threads). Two workers is what issue 8 names.
# granian (a Rust HTTP server with a WSGI interface, Python threads in its worker
# processes: --blocking-threads) is what `make run` starts; gunicorn, the server before it,
# comes with the bench extra (`pip install -e '.[bench]'`) to measure against it.
MAKE_RUN = "granian-2x2"
SERVERS = {"gthread-2x2": ("gthread", 2, 2), "gthread-2x1": ("gthread", 2, 1),
           "gthread-2x4": ("gthread", 2, 4), "sync-2": ("sync", 2, 1),
           "granian-2x1": ("granian", 2, 1), "granian-2x2": ("granian", 2, 2),
           # as `make run` starts it: an access log line a request (to a file here)
           "gthread-2x2-log": ("gthread", 2, 2)}


def start_server(tree: Path = ROOT, server: str = "", extra: tuple[str, ...] = (),
                 env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    """The web server on loopback, serving `tree` (this one, or an older checkout for a
    side-by-side run) on this bench's database; `server` one of SERVERS, else as `make run`
    starts it (`MAKE_RUN`)."""
    global PORT
    PORT = free_port()
    env = {**os.environ, "TIERDESK_VAR_DIR": str(VAR), "DEBUG": "false", **(env_extra or {})}
    shape: list[str] = []
    server = server or MAKE_RUN
    kind = SERVERS[server][0]
    if kind == "granian":
        _kind, workers, threads = SERVERS[server]
        # the tree's code first; $GRANIAN_PATH: another granian, installed apart
        env["PYTHONPATH"] = os.pathsep.join(
            [str(tree), *filter(None, [os.environ.get("GRANIAN_PATH")])])
        command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1",
                   "--no-ws", "--workers", str(workers), "--blocking-threads", str(threads),
                   "--host", "127.0.0.1", "--port", str(PORT), "--log-level", "warning",
                   *extra, "tierdesk.wsgi:application"]
    else:
        kind, workers, threads = SERVERS[server]
        shape = ["--worker-class", kind, "--workers", str(workers), "--threads", str(threads)]
        if not (ROOT / ".venv" / "bin" / "gunicorn").exists():
            raise SystemExit(f"{server}: gunicorn is in the bench extra: "
                             ".venv/bin/pip install -e '.[bench]'")
        if server.endswith("-log"):
            shape += ["--access-logfile", str(VAR / "access.log")]
        command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "tierdesk.wsgi", "--bind",
                   f"127.0.0.1:{PORT}", *shape, "--log-level", "warning", *extra]
    proc = subprocess.Popen(command, cwd=tree, env=env)
    for _ in range(150):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            conn.request("GET", "/api/v1/tickets/")  # cheap: a 401 problem without a token
            if conn.getresponse().status == 401:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{server} did not start")


def start_worker(tree: Path = ROOT, batches: Path | None = None) -> subprocess.Popen:
    """`tierdesk worker` of `tree`, as `make run` starts it beside the server: it hears the
    creates. Returns once its consumer is up (its log says so). With `batches`, each batch
    of the hooks' work is timed into that file (bench/traced_worker.py)."""
    env = {**os.environ, "TIERDESK_VAR_DIR": str(VAR), "DEBUG": "false"}
    command = [sys.executable, "-m", "tierdesk", "worker"]
    if batches is not None:
        env["BENCH_BATCH_LOG"] = str(batches)
        command = [sys.executable, str(ROOT / "bench" / "traced_worker.py")]
    log = VAR / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
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


WAITS = ("clock_nanosleep", "nanosleep", "flock")


def start_trace(pids: list[int], name: str = "waits") -> subprocess.Popen | None:
    """`perf trace -s` of these processes' (and their threads') sleeps and flock()s, for
    --trace-waits: SQLite's busy handler sleeps (usleep: clock_nanosleep) between its
    tries for the write lock; the lock file's waiters block in flock()."""
    out = VAR / f"{name}.txt"
    proc = subprocess.Popen(["perf", "trace", "-s", "-e", ",".join(WAITS), "-o", str(out),
                             "-p", ",".join(str(p) for p in pids)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # perf attaches
    return proc


def stop_trace(proc: subprocess.Popen | None, name: str = "waits") -> str:
    """What the processes waited: calls and milliseconds a syscall of WAITS, summed over
    their threads (perf's summary is per thread)."""
    if proc is None:
        return ""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    calls: dict[str, int] = {}
    msec: dict[str, float] = {}
    for line in (VAR / f"{name}.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] in WAITS and parts[1].isdigit():
            calls[parts[0]] = calls.get(parts[0], 0) + int(parts[1])
            msec[parts[0]] = msec.get(parts[0], 0.0) + float(parts[3])
    return "; ".join(f"{name} {calls[name]:,} calls, {msec[name]:,.0f} ms" for name in WAITS
                     if name in calls) or "none"


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


def load_creates(secret: str, requester: int, seconds: float, *, tag: str) -> dict:
    """CLIENTS threads POST tickets until the time is up (a bounded loop), each on one
    keep-alive connection (reopened when the server closes it, as a sync worker does
    after every answer), with the body and headers encoded beforehand: the client shares
    the two cores with the server, so it does as little as an honest client can. Its
    own CPU (this process's, all threads) is returned per create."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    head, tail = (part.encode() for part in json.dumps({
        "subject": f"Load {tag} \x00", "description": "Made by bench/api.py.",
        "requester": requester, "impact": "one_user", "urgency": "degraded"}).split("\\u0000"))
    deadline = time.perf_counter() + seconds

    def worker(k: int) -> None:
        i = 0
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        mine: list[float] = []
        failed: list[str] = []
        while time.perf_counter() < deadline:
            body = b"%s%d-%d%s" % (head, k, i, tail)
            t = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/tickets/", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 201:
                    mine.append((time.perf_counter() - t) * 1000)
                else:
                    failed.append(str(response.status))
            except OSError as exc:
                conn.close()
                failed.append(str(exc))
            i += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    started, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"created": len(latencies), "errors": len(errors), "seconds": elapsed,
            "finished_at": time.perf_counter(), "client_cpu": cpu / max(len(latencies), 1) * 1000,
            "per_second": len(latencies) / elapsed, "p50": statistics.median(latencies),
            "p95": bulk.percentile(latencies, 95), "error_sample": errors[:5]}


def drain(started: float) -> tuple[int, float]:
    """Hook work left now, and the seconds from `started` until none is left."""
    left = pending_work()
    while pending_work() and time.perf_counter() - started < 900:
        time.sleep(0.1)
    return left, time.perf_counter() - started


def cpu_of(pids: list[int], *, system: bool = False) -> float:
    """CPU seconds (user + system; with `system`, system only) used so far by these
    processes and their children."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        for p in [pid, *children(pid)]:
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[12]) if system else int(fields[11]) + int(fields[12])) / tick
    return total


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found] + [g for c in found for g in children(int(c))]


def check_handled(tag: str) -> dict:
    """Every ticket of the burst `tag`: routed and acknowledged exactly once."""
    from django.db import connections
    from django.db.models import Count, Q

    from tierdesk.notifications.models import OutboxMessage
    from tierdesk.tickets.models import Ticket

    try:
        tickets = (Ticket.objects.filter(subject__startswith=f"Load {tag} ")
                   .annotate(routed=Count("events", filter=Q(events__code__in=[
                       "assigned", "not_routed"]))))
        routed = dict(tickets.values_list("pk", "routed"))
        acks: dict[int, int] = {}
        for ticket_id in OutboxMessage.objects.filter(
                ticket_id__in=list(routed), key__startswith="mail:created:").values_list(
                "ticket_id", flat=True):
            acks[ticket_id] = acks.get(ticket_id, 0) + 1
        return {"tickets": len(routed),
                "routed_once": sum(1 for n in routed.values() if n == 1),
                "acknowledged_once": sum(1 for pk in routed if acks.get(pk) == 1)}
    finally:
        connections.close_all()


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
    global CLIENTS
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--create-seconds", type=float, default=20)
    parser.add_argument("--reuse", action="store_true", help="Reuse var/bench-api as it is.")
    parser.add_argument("--keep", action="store_true", help="Keep var/bench-api afterwards.")
    parser.add_argument("--list-only", action="store_true", help="The list, not the creates.")
    parser.add_argument("--creates-only", action="store_true", help="The creates, not the list.")
    parser.add_argument("--clients", type=int, default=8,
                        help="Client threads POSTing tickets (default 8).")
    parser.add_argument("--web-only", action="store_true",
                        help="Only the web side's creates (no worker), per server shape and "
                             "tree, alternated --rounds times.")
    parser.add_argument("--compare", type=Path, action="append", default=None,
                        help="With --web-only, or --creates-only (then with the worker "
                             "beside, as `make run`), or --list-only: an older checkout run "
                             "side by side, alternated --rounds times (its server and worker, "
                             "or its list, on this database). May be given more than once.")
    parser.add_argument("--trace-waits", action="store_true",
                        help="With --compare: count the servers' (and the worker's) sleeps "
                             "in SQLite's busy handler and waits in flock() (perf trace).")
    parser.add_argument("--trace-batches", action="store_true",
                        help="With --creates-only --compare/--servers/--variant: time each "
                             "batch of the worker's hook work (bench/traced_worker.py): "
                             "rows, the wait for the write lock, the hold, CPU.")
    parser.add_argument("--variant", action="append", default=None,
                        help="With --creates-only: this tree once more with settings of its "
                             "own, 'LABEL:NAME=VALUE[,NAME=VALUE]' (the server's and the "
                             "worker's environment), alternated like --compare.")
    parser.add_argument("--quiet", type=int, default=0,
                        help="With --creates-only: a quiet desk instead, N single creates "
                             "--idle seconds apart (each tree, --compare, --variant): how "
                             "long until each one's follow-up is heard.")
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--servers", default="",
                        help=f"With --web-only or --creates-only --compare: shapes to compare, of "
                             f"{', '.join(SERVERS)} "
                             "(default: as `make run` starts it, granian 2 × 2).")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true",
                        help="With --list-only: the list's figures as one JSON line (what "
                             "--list-only --compare reads from each tree).")
    parser.add_argument("--code", type=Path, default=None,
                        help="With --list-only --json: import tierdesk from this checkout "
                             "(the older tree of --list-only --compare).")
    parser.add_argument("--forget-pending", action="store_true",
                        help="First drop the hook work and queued tasks earlier --web-only "
                             "runs left on a reused desk (their tickets stay unrouted), so "
                             "a worker starts with nothing but this run's creates.")
    parser.add_argument("--profile", choices=sorted(SERVERS), default="",
                        help="cProfile ONE gunicorn worker of this shape under the creates' "
                             "load (--create-seconds) and print where its CPU goes.")
    args = parser.parse_args()

    if args.list_only and args.compare:
        lists_side_by_side(args)
        return
    if not args.json:
        print(f"# bench/api.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n{machine()}\n",
              flush=True)
    setup_django(fresh=not args.reuse)
    from tierdesk.tickets.models import Ticket

    if not args.reuse:
        print(f"Writing {args.tickets:,} tickets…", flush=True)
        build(args.tickets)
    count = Ticket.objects.count()
    if args.forget_pending:
        from huey.contrib.djhuey import HUEY

        from tierdesk.tickets.models import HookWork

        dropped, tasks = HookWork.objects.all().delete()[0], HUEY.pending_count()
        HUEY.flush()
        print(f"Dropped {dropped:,} rows of hook work and {tasks:,} queued tasks left by "
              f"earlier runs; {count:,} tickets on the desk.", flush=True)
    secrets = tokens()
    CLIENTS = args.clients
    if args.profile:
        profile_worker(args, secrets)
    elif args.web_only:
        web_alone(args, secrets)
    elif args.json:
        results = list_scenarios(secrets)
        print(json.dumps({"tickets": count, "load": os.getloadavg()[0], "results": results}))
    else:
        if not args.creates_only:
            ticket_list(count, secrets)
        if not args.list_only and args.quiet:
            quiet_latency(args, secrets)
        elif not args.list_only and (args.compare or args.servers or args.variant):
            with_worker_side_by_side(args, secrets)
        elif not args.list_only:
            creates(args, secrets)
    if not args.keep and not args.reuse:
        shutil.rmtree(VAR, ignore_errors=True)


def ticket_list(count: int, secrets: dict[str, str]) -> None:
    print(f"\n## Ticket list, {count:,} tickets, in process ({REPEAT} requests each)\n")
    print(f"Load average before: {os.getloadavg()[0]:.1f} (other work on the machine "
          "stretches wall times; CPU ms is this process's own time a request).\n")
    print("| who | request | rows | queries | p50 ms | p95 ms | max ms | CPU ms |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in list_scenarios(secrets):
        print(f"| {r['who']} | {r['label']} | {r['rows']} | {r['queries']} | {r['p50']:.1f} | "
              f"{r['p95']:.1f} | {r['max']:.1f} | {r['cpu']:.1f} |", flush=True)
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f}")


def lists_side_by_side(args) -> None:
    """--list-only --compare OLD_TREE: the list's shapes from this tree and each older one, on
    this tree's desk (var/bench-api), each run in a process of its own, the trees alternated
    (this, old; old, this; …) --rounds times. Per shape: p50 / p95 wall ms of each run, CPU
    ms, queries, and for the searches the p95 of each query (by its place in the request)."""
    trees = [ROOT, *[Path(t).resolve() for t in args.compare]]
    print(f"# bench/api.py --list-only --compare — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
          f"{machine()}\n\nTrees: " + ", ".join(f"{k}: {t}" for k, t in enumerate(trees))
          + f"; {REPEAT} requests a shape and run, after 5 of warm-up\n", flush=True)
    runs: dict[int, list[dict]] = {k: [] for k in range(len(trees))}
    for r in range(args.rounds):
        order = list(range(len(trees)))
        if r % 2:
            order.reverse()
        for k in order:
            before = os.getloadavg()[0]
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--reuse",
                                  "--list-only", "--json", "--code", str(trees[k])],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            data["load_before"] = before
            runs[k].append(data)
            print(f"round {r + 1}, tree {k}: load average {before:.1f} → {data['load']:.1f}",
                  flush=True)
    labels = [(x["who"], x["label"]) for x in runs[0][0]["results"]]
    print(f"\n{runs[0][0]['tickets']:,} tickets. Columns per tree: p50 / p95 wall ms of each "
          "round; CPU ms a request (median of the rounds); queries.\n")
    head = " | ".join(f"tree {k} p50/p95 | tree {k} CPU | tree {k} q" for k in range(len(trees)))
    print(f"| who | request | {head} |\n|---|---|" + "---|" * (3 * len(trees)))
    for i, (who, label) in enumerate(labels):
        cells = []
        for k in range(len(trees)):
            rs = [run["results"][i] for run in runs[k]]
            cells += [", ".join(f"{x['p50']:.1f} / {x['p95']:.1f}" for x in rs),
                      f"{statistics.median(x['cpu'] for x in rs):.1f}",
                      str(rs[0]["queries"])]
        print(f"| {who} | {label} | " + " | ".join(cells) + " |", flush=True)
    print("\nThe searches' queries, p95 ms of each (token, catch-up count, the index's first "
          "read, the page's keys, its rows, their SLA rows), worst round:\n")
    print("| who | request | " + " | ".join(f"tree {k}" for k in range(len(trees)))
          + " |\n|---|---|" + "---|" * len(trees))
    for i, (who, label) in enumerate(labels):
        if "q=" not in runs[0][0]["results"][i]["url"]:
            continue
        cells = []
        for k in range(len(trees)):
            each = [run["results"][i]["each_p95"] for run in runs[k]]
            worst = [max(column) for column in zip(*each, strict=True)] if each[0] else []
            cells.append(" · ".join(f"{t:.2f}" for t in worst))
        print(f"| {who} | {label} | " + " | ".join(cells) + " |")


def web_alone(args, secrets: dict[str, str]) -> None:
    """The web side's creates alone (hook work left pending for a worker), each server
    shape and tree in turn, `--rounds` times: the side-by-side figures of issue 8."""
    from django.db import connections

    from tierdesk.accounts.models import Contact

    requester = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    assert requester is not None
    connections.close_all()
    trees = [ROOT, *(tree.resolve() for tree in args.compare or [])]
    servers = [name for name in args.servers.split(",") if name] or [""]
    run = f"{time.time():.0f}"
    print(f"\n## The web side alone: POST /api/v1/tickets/, {CLIENTS} client threads, "
          f"{args.create_seconds:.0f} s a run after 2 s of warm-up\n")
    print("| round | tree | server | created | a second | errors | p50 ms | p95 ms | "
          "CPU ms a create: server (of which kernel) | client | load avg | UTC |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in range(args.rounds):
        # Every other round in the reverse order: the first run of a round tended to cost
        # more (0.3–0.7 ms CPU a create in 3 of 4 sets of rounds, whichever tree ran first).
        order = [(server, tree) for server in servers for tree in trees]
        for server, tree in order if n % 2 == 0 else order[::-1]:
            proc = start_server(tree, server)
            try:
                load_creates(secrets["agent"], requester, 2, tag=f"{run}warm")
                load = os.getloadavg()[0]
                tracer = start_trace(children(proc.pid)) if args.trace_waits else None
                before, kernel = cpu_of([proc.pid]), cpu_of([proc.pid], system=True)
                c = load_creates(secrets["agent"], requester, args.create_seconds,
                                 tag=f"{run}w")
                web = (cpu_of([proc.pid]) - before) / max(c["created"], 1) * 1000
                kernel = ((cpu_of([proc.pid], system=True) - kernel)
                          / max(c["created"], 1) * 1000)
                waits = stop_trace(tracer)
            finally:
                stop(proc)
            name = "this tree" if tree == ROOT else str(tree)
            print(f"| {n + 1} | {name} | {server or 'as make run'} | {c['created']:,} | "
                  f"**{c['per_second']:.0f}** | {c['errors']} | {c['p50']:.0f} | "
                  f"{c['p95']:.0f} | {web:.1f} ({kernel:.1f}) | {c['client_cpu']:.1f} | {load:.1f} | "
                  f"{datetime.now(UTC):%H:%M:%S} |"
                  + (f" errors e.g. {c['error_sample']}" if c["errors"] else "")
                  + (f" waits: {waits}" if waits else ""), flush=True)
    print(f"\nHook work left pending (for a worker): {pending_work():,}. "
          f"Load average after: {os.getloadavg()[0]:.1f}")


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """The processes started inside see `env` (a --variant's settings); then as it was."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _trees(args: argparse.Namespace) -> list[tuple[Path, str, dict[str, str]]]:
    """This tree, the --compare trees and the --variant settings of this tree: (root, label,
    environment)."""
    trees: list[tuple[Path, str, dict[str, str]]] = [(ROOT, "this tree", {})]
    trees += [(tree.resolve(), str(tree), {}) for tree in args.compare or []]
    for variant in args.variant or []:
        label, _sep, settings = variant.partition(":")
        trees.append((ROOT, f"this tree, {label}", dict(
            item.split("=", 1) for item in settings.split(",") if item)))
    return trees


def with_worker_side_by_side(args, secrets: dict[str, str]) -> None:
    """`make run`'s shape (the server as it starts it, `tierdesk worker` beside it) of this
    tree and of --compare's (and this tree with each --variant's settings), alternated
    --rounds times: creates answered a second with the worker hearing them meanwhile, and
    the sustained rate (created and fully handled)."""
    from django.db import connections

    from tierdesk.accounts.models import Contact

    requester = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    assert requester is not None
    connections.close_all()
    trees = _trees(args)
    servers = [name for name in args.servers.split(",") if name] or [""]
    shapes = [(tree, server) for tree in trees for server in servers]
    run = f"{time.time():.0f}"
    print(f"\n## With `tierdesk worker` beside the web: POST /api/v1/tickets/, {CLIENTS} "
          f"client threads, {args.create_seconds:.0f} s a run after 2 s of warm-up (heard "
          "before the run)\n")
    print("| round | tree | server | created | answered a second | errors | p50 ms | p95 ms | CPU ms a "
          "create: server, worker (till drained) | CPU s a second during the burst: server, "
          "worker, client | left at the end, drained in s | "
          "sustained a second | routed once, acknowledged once | load avg | UTC |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in range(args.rounds):
        for k, ((tree, name, env), server) in enumerate(shapes if n % 2 == 0 else shapes[::-1]):
            tag = f"{run}s{n}{k}"
            batches = VAR / f"batches-{tag}.jsonl" if args.trace_batches else None
            with _environment(env):
                proc = start_server(tree, server)
                worker = start_worker(tree, batches)
            try:
                load_creates(secrets["agent"], requester, 2, tag=f"{run}warm")
                drain(time.perf_counter())
                load = os.getloadavg()[0]
                tracer = start_trace(children(proc.pid)) if args.trace_waits else None
                worker_tracer = (start_trace([worker.pid], "worker-waits") if args.trace_waits
                                 else None)
                burst_at = time.time()
                web0, worker0 = cpu_of([proc.pid]), cpu_of([worker.pid])
                c = load_creates(secrets["agent"], requester, args.create_seconds, tag=tag)
                web_s, worker_s = cpu_of([proc.pid]) - web0, cpu_of([worker.pid]) - worker0
                burst_end = time.time()
                web = web_s / max(c["created"], 1) * 1000
                waits = stop_trace(tracer)
                worker_waits = stop_trace(worker_tracer, "worker-waits")
                left, drained = drain(c["finished_at"])
                left = min(left, c["created"])
                heard = (cpu_of([worker.pid]) - worker0) / max(c["created"], 1) * 1000
            finally:
                stop(worker)
                stop(proc)
            k_ = check_handled(tag)
            client_s = c["client_cpu"] * c["created"] / 1000
            print(f"| {n + 1} | {name} | {server or MAKE_RUN} | {c['created']:,} | "
                  f"**{c['per_second']:.0f}** | "
                  f"{c['errors']} | {c['p50']:.0f} | {c['p95']:.0f} | {web:.1f}, {heard:.1f} | "
                  f"{web_s / c['seconds']:.2f}, {worker_s / c['seconds']:.2f}, "
                  f"{client_s / c['seconds']:.2f} | "
                  f"{left:,}, {drained:.1f} | "
                  f"**{c['created'] / (c['seconds'] + drained):.0f}** | "
                  f"{k_['routed_once']:,}/{k_['tickets']:,}, "
                  f"{k_['acknowledged_once']:,}/{k_['tickets']:,} | {load:.1f} | "
                  f"{datetime.now(UTC):%H:%M:%S} |"
                  + (f" errors e.g. {c['error_sample']}" if c["errors"] else "")
                  + (f" waits: server {waits}; worker {worker_waits}" if waits else "")
                  + (f" batches: {batch_summary(batches, burst_at, burst_end)}"
                     if batches else ""), flush=True)
    print(f"\nHook work left: {pending_work()}. Load average after: {os.getloadavg()[0]:.1f}")


def quiet_latency(args, secrets: dict[str, str]) -> None:
    """A quiet desk (--quiet N): `make run`'s shape of each tree (and --variant) in turn, the
    worker idle for --idle seconds, then N single creates --idle seconds apart: how long
    from the 201 until its follow-up (routing, the acknowledgement) has been heard."""
    from django.db import connections

    from tierdesk.accounts.models import Contact

    requester = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    assert requester is not None
    connections.close_all()
    trees = _trees(args)
    headers = {"Authorization": f"Bearer {secrets['agent']}", "Content-Type": "application/json"}
    print(f"\n## A quiet desk: one create every {args.idle:.0f} s, the worker idle between; "
          "seconds from the 201 until its hook work is heard\n")
    print("| tree | heard after (s) | load avg | UTC |\n|---|---|---|---|")
    for tree, name, env in trees:
        with _environment(env):
            proc = start_server(tree)
            worker = start_worker(tree)
        took = []
        try:
            drain(time.perf_counter())
            for i in range(args.quiet):
                time.sleep(args.idle)
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                conn.request("POST", "/api/v1/tickets/", headers=headers, body=json.dumps({
                    "subject": f"Quiet {i}", "description": "One at a time.",
                    "requester": requester, "impact": "one_user", "urgency": "degraded"}))
                response = conn.getresponse()
                response.read()
                assert response.status == 201, response.status
                answered = time.perf_counter()
                while pending_work() and time.perf_counter() - answered < 60:
                    time.sleep(0.01)
                took.append(time.perf_counter() - answered)
        finally:
            stop(worker)
            stop(proc)
        print(f"| {name} | {', '.join(f'{t:.2f}' for t in took)} | {os.getloadavg()[0]:.1f} | "
              f"{datetime.now(UTC):%H:%M:%S} |", flush=True)


def batch_summary(path: Path, start: float, end: float) -> str:
    """The worker's batches that ended during the burst (bench/traced_worker.py's lines)."""
    try:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
    except OSError:
        return "none traced"
    during = [b for b in lines if start <= b["at"] <= end]
    full = [b for b in during if b["rows"]]
    if not full:
        return f"{len(during)} empty claims"
    rows = sorted(b["rows"] for b in full)
    seconds = end - start
    return (f"{len(full)} batches ({len(during) - len(full)} empty claims), rows median "
            f"{statistics.median(rows):.0f} (min {rows[0]}, max {rows[-1]}, mean "
            f"{sum(rows) / len(rows):.0f}); write lock waited {sum(b['wait'] for b in during):,.0f} ms "
            f"in all, held {sum(b['hold'] for b in full):,.0f} ms in all "
            f"({sum(b['hold'] for b in full) / seconds / 10:.0f} % of the burst; mean "
            f"{statistics.mean(b['hold'] for b in full):.0f} ms a batch); CPU "
            f"{statistics.mean(b['cpu'] for b in full):.1f} ms a batch, "
            f"{sum(b['cpu'] for b in full) / sum(rows):.2f} ms a row")


def creates(args, secrets: dict[str, str]) -> None:
    from tierdesk.accounts.models import Contact

    requester = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
    print("\n## Creating a ticket in one process (where the CPU goes)\n")
    print(f"Load average before: {os.getloadavg()[0]:.1f}\n")
    print("| what | queries | ms each | CPU ms each | a second |\n|---|---|---|---|---|")
    for r in creates_in_process(secrets["agent"], requester):
        if r["queries"] is None:
            print(f"| {r['label']} | | | {r['cpu']:.2f} | |", flush=True)
        else:
            print(f"| {r['label']} | {r['queries']} | {r['ms']:.1f} | {r['cpu']:.1f} | "
                  f"{r['per_second']:.0f} |", flush=True)
    from django.db import connections

    connections.close_all()  # the server's processes own the database from here
    proc = start_server()
    try:
        r = http_list(secrets["agent"])
        print(f"\nOver HTTP from the server (as `make run`: {MAKE_RUN}), the agent's first page: "
              f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, max {r['max']:.1f} ms")
        runs = []
        run = f"{time.time():.0f}"  # this run's tickets only (a reused desk keeps earlier ones)
        for tag, with_worker in ((f"{run}a", True), (f"{run}b", False)):
            worker = start_worker() if with_worker else None
            try:
                load = os.getloadavg()[0]
                pids = [proc.pid] + ([worker.pid] if worker else [])
                web_cpu, all_cpu = cpu_of([proc.pid]), cpu_of(pids)
                c = load_creates(secrets["agent"], requester, args.create_seconds, tag=tag)
                c["web_cpu"] = (cpu_of([proc.pid]) - web_cpu) / max(c["created"], 1) * 1000
                c["all_cpu"] = (cpu_of(pids) - all_cpu) / max(c["created"], 1) * 1000
                c["load"] = load
                if worker is None:
                    c["left_at_end"] = pending_work()
                    worker = start_worker()  # the burst's work waits for it
                    started = time.perf_counter()
                    cpu = cpu_of([worker.pid])
                    _left, c["drained"] = drain(started)
                    c["worker_cpu"] = (cpu_of([worker.pid]) - cpu) / max(c["created"], 1) * 1000
                else:
                    c["left_at_end"], c["drained"] = drain(c["finished_at"])
            finally:
                if worker is not None:
                    stop(worker)
            c["checked"] = check_handled(tag)
            runs.append(c)
        a, b = runs
        print(f"\n## Creating tickets: POST /api/v1/tickets/, {CLIENTS} client threads, "
              f"the server as `make run` starts it ({MAKE_RUN})\n")
        print(f"**a. With `tierdesk worker` beside it, as `make run`** ({a['seconds']:.0f} s, "
              f"load average {a['load']:.1f} before): {a['created']:,} created, {a['errors']} "
              f"errors: **{a['per_second']:.0f} answered a second** (201s); latency p50 "
              f"{a['p50']:.0f} ms, p95 {a['p95']:.0f} ms. CPU a create: server "
              f"{a['web_cpu']:.1f} ms, server + worker {a['all_cpu']:.1f} ms. "
              f"{a['left_at_end']:,} creates still to hear when the clients stopped, all heard "
              f"{a['drained']:.1f} s later: **sustained {a['created'] / (a['seconds'] + a['drained']):.0f}"
              f" a second** (created and fully handled)."
              + (f" Errors e.g. {a['error_sample']}" if a["errors"] else ""))
        print(f"\n**b. The web side alone, then the worker** ({b['seconds']:.0f} s, load "
              f"average {b['load']:.1f} before): {b['created']:,} created, {b['errors']} errors: "
              f"**{b['per_second']:.0f} answered a second**; p50 {b['p50']:.0f} ms, p95 "
              f"{b['p95']:.0f} ms; server {b['web_cpu']:.1f} ms CPU a create. The worker, "
              f"started after the burst, heard its {b['left_at_end']:,} creates in "
              f"{b['drained']:.1f} s (counted from its start; {b['worker_cpu']:.1f} ms CPU a create): "
              f"**{b['created'] / max(b['drained'], 1e-9):.0f} a second** drained."
              + (f" Errors e.g. {b['error_sample']}" if b["errors"] else ""))
        for name, c in (("a", a), ("b", b)):
            k = c["checked"]
            print(f"\nBurst {name}: {k['tickets']:,} tickets, {k['routed_once']:,} routed exactly "
                  f"once, {k['acknowledged_once']:,} acknowledged exactly once.")
        print(f"\nHook work left: {pending_work()}. Load average after: {os.getloadavg()[0]:.1f}")
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
