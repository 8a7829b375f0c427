"""Benchmark of the SLA engine, with businesstimedelta and pandas side by side.

Run from the repository root: ``.venv/bin/python bench/sla_engine.py``
(needs the ``bench`` extra: businesstimedelta and pandas).
``bench/sla_engine.py --against REF`` instead times the engine at git ref REF
and this tree's side by side, run by run, and compares their answers.

1. add() and elapsed() on Itsafer's calendar (seasons, Madrid's holidays),
   10,000 random calls over 2026-2035; inputs as the ORM gives them (UTC)
   and in the calendar's zone.
2. evaluate() on a 20-event timeline, and explain() on it.
3. Monday to Friday 9:00-18:00 with Madrid's holidays, the same 10,000
   (start, minutes) pairs through our add(), businesstimedelta and pandas'
   CustomBusinessHour: identical answers counted, speeds compared.

Each figure is the median, over several runs, of the mean time per call of a
run (so the timer's own cost is not in it), in CPU time of this process (the
machine is shared: other work must not count) with the best run beside it,
and in wall time.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import businesstimedelta
import holidays
import pandas as pd
import pytz

from tierdesk.sla.engine import Calendar, Policy, evaluate, explain

UTC = dt.UTC
PAIRS = 10_000
MAX_MINUTES = 1080  # two business days of 9 hours
RUNS = 9
WEEK = ("mon", "tue", "wed", "thu", "fri")
MADRID = "Europe/Madrid"
ITSAFER = {
    "timezone": MADRID,
    "hours": {day: ["09:00-18:00"] for day in WEEK},
    "seasons": [
        {
            "dates": ["07-01..08-31", "01-05", "12-24", "12-31"],
            "hours": {day: ["08:00-15:00"] for day in WEEK},
        }
    ],
    "holidays": {"country": "ES", "subdivision": "MD"},
}
PLAIN = {
    "timezone": MADRID,
    "hours": {day: ["09:00-18:00"] for day in WEEK},
    "holidays": {"country": "ES", "subdivision": "MD"},
}


def per_call(run: Callable[[], object], calls: int, runs: int = RUNS) -> tuple[float, float, float]:
    """Seconds per call of a run of ``calls`` calls, over ``runs`` runs: the median and the
    best in CPU time of this process (what the code costs, whatever else the machine runs),
    and the median in wall time."""
    cpu, wall = [], []
    for _ in range(runs):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        run()
        cpu.append((time.process_time() - cpu_start) / calls)
        wall.append((time.perf_counter() - wall_start) / calls)
    return statistics.median(cpu), min(cpu), statistics.median(wall)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.2f} µs"


def figures(timing: tuple[float, float, float]) -> str:
    return f"{us(timing[0])} CPU (best {us(timing[1]).strip()})  {us(timing[2])} wall"


def random_pairs(rng: random.Random) -> list[tuple[dt.datetime, int]]:
    """(start, minutes): starts anywhere in 2026-2035 to the second, up to two days of business time."""
    first = dt.datetime(2026, 1, 1, tzinfo=UTC)
    span = int((dt.datetime(2036, 1, 1, tzinfo=UTC) - first).total_seconds())
    return [
        (first + dt.timedelta(seconds=rng.randrange(span)), rng.randint(1, MAX_MINUTES))
        for _ in range(PAIRS)
    ]


def bench_calendar(pairs: Sequence[tuple[dt.datetime, int]]) -> dict[str, Any]:
    calendar = Calendar.from_dict(ITSAFER)
    started = time.perf_counter()
    calendar.elapsed(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2036, 1, 1, tzinfo=UTC))
    cold = time.perf_counter() - started

    starts = [start for start, _ in pairs]
    deltas = [dt.timedelta(minutes=minutes) for _, minutes in pairs]
    ends = [start + dt.timedelta(minutes=3 * minutes) for start, minutes in pairs]
    zone = calendar.zone
    starts_local = [start.astimezone(zone) for start in starts]
    ends_local = [end.astimezone(zone) for end in ends]
    add, elapsed = calendar.add, calendar.elapsed

    def adds(starts: list[dt.datetime] = starts) -> None:
        for start, delta in zip(starts, deltas, strict=True):
            add(start, delta)

    def elapseds(starts: list[dt.datetime] = starts, ends: list[dt.datetime] = ends) -> None:
        for start, end in zip(starts, ends, strict=True):
            elapsed(start, end)

    return {
        "ten years of blocks, built once (cold)": cold,
        "add, UTC inputs": per_call(adds, PAIRS),
        "elapsed, UTC inputs": per_call(elapseds, PAIRS),
        "add, Europe/Madrid inputs": per_call(lambda: adds(starts_local), PAIRS),
        "elapsed, Europe/Madrid inputs": per_call(lambda: elapseds(starts_local, ends_local), PAIRS),
    }


def timeline() -> tuple[list[dict[str, Any]], dt.datetime]:
    """20 events over two working days: replies, waits, a priority change, a reopen."""
    at = dt.datetime(2026, 11, 23, 8, 10, tzinfo=UTC)  # Monday 9:10 in Madrid
    steps = [
        ("created", "high"), ("status", "open"), ("first_response", None), ("status", "in_progress"),
        ("status", "waiting_customer"), ("status", "in_progress"), ("resolution_plan", None),
        ("priority", "critical"), ("status", "waiting_third_party"), ("status", "in_progress"),
        ("status", "waiting_customer"), ("status", "in_progress"), ("status", "resolved"),
        ("status", "closed"), ("status", "open"), ("status", "in_progress"), ("priority", "high"),
        ("status", "waiting_customer"), ("status", "in_progress"), ("status", "resolved"),
    ]
    events: list[dict[str, Any]] = []
    for kind, value in steps:
        event: dict[str, Any] = {"at": at, "type": kind}
        if kind in ("created", "priority"):
            event["priority"] = value
        elif kind == "status":
            event["status"] = value
        events.append(event)
        at += dt.timedelta(minutes=97)
    return events, at


def bench_evaluate() -> dict[str, tuple[float, float, float]]:
    events, now = timeline()
    assert len(events) == 20
    minutes = {
        "first_response": {"critical": 30, "high": 60},
        "resolution_plan": {"critical": 120, "high": 240},
        "resolution": {"critical": 480, "high": 960},
    }
    days = {
        "first_response": {"critical": 30, "high": {"end_of_business_day": 1}},
        "resolution_plan": {"critical": 120, "high": {"business_days": 1}},
        "resolution": {"critical": 480, "high": {"business_days": 3}},
    }
    pauses = ["waiting_customer", "waiting_third_party"]
    calendar = Calendar.from_dict(ITSAFER)
    by_minutes = Policy.from_dict({"calendar": calendar, "targets": minutes, "pause_statuses": pauses})
    by_days = Policy.from_dict({"calendar": calendar, "targets": days, "pause_statuses": pauses})
    calls = 2_000

    def run(
        policy: Policy, function: Callable[..., object] = evaluate, calls: int = calls
    ) -> Callable[[], None]:
        def loop() -> None:
            for _ in range(calls):
                function(policy, events, now)

        return loop

    return {
        "evaluate, 20 events, targets in minutes": per_call(run(by_minutes), calls),
        "evaluate, 20 events, day-based targets": per_call(run(by_days), calls),
        "explain, 20 events": per_call(run(by_minutes, explain, calls // 10), calls // 10),
    }


def bench_side_by_side(pairs: Sequence[tuple[dt.datetime, int]]) -> None:
    calendar = Calendar.from_dict(PLAIN)
    zone = pytz.timezone(MADRID)
    madrid_days = sorted(holidays.country_holidays("ES", subdiv="MD", years=range(2026, 2037)))
    rules = businesstimedelta.Rules([
        businesstimedelta.WorkDayRule(
            start_time=dt.time(9), end_time=dt.time(18), working_days=[0, 1, 2, 3, 4], tz=zone
        ),
        businesstimedelta.HolidayRule(frozenset(madrid_days), tz=zone),
    ])
    hour = pd.offsets.CustomBusinessHour(start="09:00", end="18:00", holidays=madrid_days)
    whole_hours = sorted({max(1, round(minutes / 60)) for _, minutes in pairs})
    offsets = {n: hour * n for n in whole_hours}  # built outside the timed loops
    deltas = [dt.timedelta(minutes=minutes) for _, minutes in pairs]
    hour_deltas = [max(1, round(minutes / 60)) for _, minutes in pairs]
    starts = [start for start, _ in pairs]
    local_naive = [pd.Timestamp(start.astimezone(calendar.zone).replace(tzinfo=None)) for start in starts]

    ours = [calendar.add(start, delta) for start, delta in zip(starts, deltas, strict=True)]
    theirs = [start + businesstimedelta.BusinessTimeDelta(rules, timedelta=delta)
              for start, delta in zip(starts, deltas, strict=True)]
    ours_hours = [
        calendar.add(start, dt.timedelta(hours=n)) for start, n in zip(starts, hour_deltas, strict=True)
    ]
    pandas = [ts + offsets[n] for ts, n in zip(local_naive, hour_deltas, strict=True)]

    same_btd = sum(a == b for a, b in zip(ours, theirs, strict=True))
    same_pd = 0
    pd_at_close = 0
    for a, b in zip(ours_hours, pandas, strict=True):
        wall = pd.Timestamp(a.replace(tzinfo=None))
        if wall == b:
            same_pd += 1
        elif a.time() == dt.time(18) and pd.Timestamp(calendar.next_open(a).replace(tzinfo=None)) == b:
            pd_at_close += 1  # pandas never returns the close: it moves on to the next opening

    def run_ours() -> None:
        add = calendar.add
        for start, delta in zip(starts, deltas, strict=True):
            add(start, delta)

    def run_btd() -> None:
        for start, delta in zip(starts[:1000], deltas[:1000], strict=True):
            start + businesstimedelta.BusinessTimeDelta(rules, timedelta=delta)

    def run_pandas() -> None:
        for ts, n in zip(local_naive[:1000], hour_deltas[:1000], strict=True):
            ts + offsets[n]

    ours_t = per_call(run_ours, PAIRS)
    btd_t = per_call(run_btd, 1000, runs=5)
    pd_t = per_call(run_pandas, 1000, runs=5)
    print("\nMon-Fri 9:00-18:00, Madrid's holidays, the same 10,000 (start, minutes) pairs")
    print(f"  tierdesk add()                      {figures(ours_t)}")
    for name, timing in (("businesstimedelta", btd_t), ("pandas CustomBusinessHour", pd_t)):
        print(f"  {name:36s}{figures(timing)}   ours {timing[0] / ours_t[0]:4.0f}× faster (CPU)")
    print(f"  identical to businesstimedelta:     {same_btd} of {PAIRS}")
    print(f"  identical to pandas (whole hours):  {same_pd} of {PAIRS}; {pd_at_close} more where pandas "
          "gives the next opening instead of the close (18:00) the time runs out at")


def engine_at(ref: str) -> Any:
    """The engine package as it was at git ref, imported under another name."""
    import importlib
    import io
    import tarfile
    import tempfile

    root = Path(__file__).resolve().parents[1]
    folder = Path(tempfile.mkdtemp(prefix="sla_engine_"))
    archive = subprocess.run(["git", "-C", str(root), "archive", ref, "tierdesk/sla/engine"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "tierdesk" / "sla" / "engine").rename(folder / "engine_then")
    sys.path.insert(0, str(folder))
    return importlib.import_module("engine_then")


def against(ref: str, runs: int) -> None:
    """add, elapsed and evaluate of the engine at ref and of this one, interleaved run by
    run in one process (the machine's load hits both alike), and their answers compared."""
    import tierdesk.sla.engine as now_engine

    then_engine = engine_at(ref)
    pairs = random_pairs(random.Random(2026))
    starts = [start for start, _ in pairs]
    deltas = [dt.timedelta(minutes=minutes) for _, minutes in pairs]
    ends = [start + dt.timedelta(minutes=3 * minutes) for start, minutes in pairs]
    events, now = timeline()
    targets = {"first_response": {"critical": 30, "high": 60},
               "resolution_plan": {"critical": 120, "high": 240},
               "resolution": {"critical": 480, "high": 960}}
    pauses = ["waiting_customer", "waiting_third_party"]

    def loops(engine: Any) -> dict[str, tuple[Callable[[], object], int]]:
        calendar = engine.Calendar.from_dict(ITSAFER)
        policy = engine.Policy.from_dict({"calendar": calendar, "targets": targets, "pause_statuses": pauses})
        calendar.elapsed(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2036, 1, 1, tzinfo=UTC))
        add, elapsed, evaluate_ = calendar.add, calendar.elapsed, engine.evaluate
        return {
            "add": (lambda: [add(s, d) for s, d in zip(starts, deltas, strict=True)], PAIRS),
            "elapsed": (lambda: [elapsed(s, e) for s, e in zip(starts, ends, strict=True)], PAIRS),
            "evaluate, 20 events": (lambda: [evaluate_(policy, events, now) for _ in range(1000)], 1000),
        }

    then, mine = loops(then_engine), loops(now_engine)
    for name in then:
        if name == "evaluate, 20 events":
            a, b = then[name][0]()[0], mine[name][0]()[0]
            same = {k: (v.state, v.elapsed, v.due, v.met_at, v.breached_at) for k, v in a.items()} == {
                k: (v.state, v.elapsed, v.due, v.met_at, v.breached_at) for k, v in b.items()}
        else:
            same = then[name][0]() == mine[name][0]()
        times: dict[str, list[float]] = {"then": [], "now": []}
        for _ in range(runs):
            for which, table in (("then", then), ("now", mine)):
                run, calls = table[name]
                start = time.process_time()
                run()
                times[which].append((time.process_time() - start) / calls)
        a_t, b_t = statistics.median(times["then"]), statistics.median(times["now"])
        print(f"  {name:22s} {ref}: {us(a_t)} (best {us(min(times['then'])).strip()})   this tree: "
              f"{us(b_t)} (best {us(min(times['now'])).strip()})   {a_t / b_t:.2f}×   "
              f"same answers: {same}")


def main() -> None:
    warnings.simplefilter("ignore")  # holidays warns about years it does not know yet
    if len(sys.argv) == 3 and sys.argv[1] == "--against":
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
              f"{os.getloadavg()[0]:.1f}; CPU per call, medians of {RUNS} interleaved runs")
        against(sys.argv[2], RUNS)
        return
    model = next(
        (line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()
         if line.startswith("Model name")),
        platform.processor(),
    )
    print(f"{dt.date.today()}  Python {platform.python_version()}  {model}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"Medians of {RUNS} runs; (start, minutes) pairs: minutes from 1 to {MAX_MINUTES}")
    pairs = random_pairs(random.Random(2026))
    print("\nItsafer's calendar (seasons, Madrid's holidays), 10,000 random calls over 2026-2035")
    for name, timing in bench_calendar(pairs).items():
        figure = f"{timing * 1e3:8.2f} ms wall" if "cold" in name else figures(timing)
        print(f"  {name:40s}{figure}")
    print("\nA ticket's timeline")
    for name, timing in bench_evaluate().items():
        print(f"  {name:40s}{figures(timing)}")
    bench_side_by_side(pairs)


if __name__ == "__main__":
    main()
