"""A maintained rollup of the measure rows, for unfiltered reports (PostgreSQL).

A report over a million measure rows spends its time counting them (twenty FILTER counts)
and sorting every target's business seconds for exact percentiles (docs/PERFORMANCE.md,
"Reports"). Almost all of a row's figures do not depend on the report's `now`: only a
running target turns breached when `now` passes its due instant, and an unanswered ticket
turns "not answered by the next business day" when `now` passes `answer_due_at`
(`models.LIVE_Q` names the rows that can). Everything else is added up ahead, per UTC day
of creation and value of one dimension:

- `RollupCount`: the counts and sums of a table row (tickets, met, breached *as stored*,
  pauses...) and the KPIs' counts; per dimension, for `dim = ""` every row (periods,
  totals), and for `dim = "pc"` priority × channel (KPIs scoped to both). A report
  filtered to one dimension's value reads that value's rows as the whole (`scope`).
- `RollupTime`: per target, how many business seconds fall in each bucket of `EDGES`
  (about 10 % wide): enough to find in which bucket a group's median or p90 lies.

Triggers on the measure table keep both exact in every transaction that writes measure
rows (`install`): one statement-level trigger per INSERT / UPDATE / DELETE appends the
difference the statement made (old rows subtracted, new ones added) as new rows, never
updating a row another transaction could hold, so writers do not wait for each other
here; `compact` (the worker, every five minutes) sums a key's rows into one.

A report (`figures`) then reads:
1. the rollup over the UTC days that lie wholly inside the period and inside one of its
   periods (month, week, day in the report's zone);
2. of those days' live rows, only what `now` decides: the running targets past due and
   the unanswered tickets past due (a partial covering index, `rm_live`: index-only);
3. every row of the other, partial UTC days (a period's edges in a zone other than UTC),
   live, as the live query reads them;
4. for percentiles, the bucket of each rank from the histograms, then the exact values of
   those buckets only, from one scan that sorts a few percent of the values (`_times`).
Every figure is the one the live query gives (tests/reports/test_reports_rollup.py). A
report with two filters, a filter beside a grouping by a dimension, or periods a clock
change makes uneven keeps the live query (`queries._rolled`); so does SQLite, where a
desk is small.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import F, Q

from .aggregates import KEY_SHIFT
from .models import LIVE_Q, RollupCount, RollupTime, TicketMeasure

ENABLED = True  # False: every report reads the measure rows live (the bench compares both)
STRICT = False  # True (tests): a rollup that does not add up raises instead of reading live

MEASURE = TicketMeasure._meta.db_table
COUNTS = RollupCount._meta.db_table
TIMES = RollupTime._meta.db_table
TARGETS = ("fr", "rp", "res")  # RollupTime.target is the index here

# Bucket lower bounds of business seconds: 0, 60, then ×RATIO (bucket b is [EDGES[b-1],
# EDGES[b]) as width_bucket numbers them, the last one unbounded).
RATIO = 1.1
EDGES: tuple[int, ...] = (0, *sorted({int(60 * RATIO ** k) for k in range(
    int(math.log((2**31 - 1) / 60, RATIO)) + 1)}))

# Each count over the rows of a delta (`sign` is +1 or -1), as the live query counts them
# (queries._count_aggregates, KPIs: `_kpi_fraction`) but for what `now` decides: a
# running target past due (breached) and an unanswered ticket past due (answered late)
# are counted live (`figures`).
COUNT_SQL = {
    "tickets": "sum(sign)",
    "paused_customer": "sum(sign * paused_customer_seconds)",
    "paused_third_party": "sum(sign * paused_third_party_seconds)",
    "resolved": "sum(sign) FILTER (WHERE first_resolved_at IS NOT NULL)",
    "reopened": "sum(sign) FILTER (WHERE reopens > 0 AND first_resolved_at IS NOT NULL)",
    "escalated_tier2": "sum(sign * escalations_tier2)",
    "escalated_tier3": "sum(sign * escalations_tier3)",
    "escalated_customer": "sum(sign * escalations_customer)",
    **{name: sql for prefix in TARGETS for name, sql in (
        (f"{prefix}_met", f"sum(sign) FILTER (WHERE {prefix}_state = 3)"),
        (f"{prefix}_breached", f"sum(sign) FILTER (WHERE {prefix}_state = 4)"),
        (f"{prefix}_n", f"sum(sign) FILTER (WHERE {prefix}_seconds IS NOT NULL)"))},
    "answered_on_time": "sum(sign) FILTER (WHERE first_response_at <= answer_due_at)",
    "answered_late": "sum(sign) FILTER (WHERE first_response_at > answer_due_at)",
}
# A dimension's value as text ("" for none), as queries._DIM_FIELD names its column.
DIM_SQL = {
    "": "''",
    "priority": "COALESCE(priority_id::text, '')",
    "category": "COALESCE(category_id::text, '')",
    "organisation": "COALESCE(organisation_id::text, '')",
    "plan": "COALESCE(plan_id::text, '')",
    "tier": "tier::text",
    "agent": "COALESCE(assignee_id::text, '')",
    "team": "COALESCE(team_id::text, '')",
    "channel": "channel",
    "pc": "COALESCE(priority_id::text, '') || ':' || channel",
}
TIMED_DIMS = ("", "priority", "category", "organisation", "plan", "tier", "agent", "team",
              "channel")


# --------------------------------------------------------------------------- maintenance


def cuts_of(zone: str) -> list[int]:
    """The minutes after UTC midnight at which `zone`'s days begin (each offset it has had
    or will have from 2020 to 2035; at most four, e.g. 1320 and 1380 for Europe/Madrid)."""
    tz = ZoneInfo(zone)
    found: set[int] = set()
    day = date(2020, 1, 1)
    while day < date(2036, 1, 1):
        instant = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        minutes = instant.hour * 60 + instant.minute
        if minutes and instant.second == 0:
            found.add(minutes)
        day += timedelta(days=7)
    return sorted(found)[:4]


def _segment_sql(cuts: list[int]) -> str:
    """The start of the segment of d.created_at: its UTC midnight or the latest cut after."""
    day = "date_trunc('day', d.created_at AT TIME ZONE 'UTC')"
    local = "(d.created_at AT TIME ZONE 'UTC')"
    cases = " ".join(f"WHEN {local} >= {day} + interval '{c} minutes' "
                     f"THEN {day} + interval '{c} minutes'" for c in sorted(cuts, reverse=True))
    return f"(CASE {cases} ELSE {day} END) AT TIME ZONE 'UTC'" if cuts else (
        f"{day} AT TIME ZONE 'UTC'")


def _delta_sql(sources: list[tuple[int, str]], cuts: list[int],
               timed: tuple[str, ...] = TIMED_DIMS) -> list[str]:
    """The statements that append what the rows of `sources` ((sign, relation)) add to
    the rollup: the counts, then the histograms of the dimensions `timed`. Our own
    identifiers and constants only."""
    rows = " UNION ALL ".join(f"SELECT {sign} AS sign, m.* FROM {relation} m"  # noqa: S608
                              for sign, relation in sources)

    def spread(dims: tuple[str, ...]) -> str:
        values = ", ".join(f"('{dim}', {DIM_SQL[dim]})" for dim in dims)
        return (f"WITH d AS ({rows}), e AS (SELECT d.*, {_segment_sql(cuts)} AS start, "  # noqa: S608
                f"v.dim, v.value FROM d CROSS JOIN LATERAL (VALUES {values}) v(dim, value))")

    names = ", ".join(COUNT_SQL)
    sums = ", ".join(f"COALESCE({sql}, 0)" for sql in COUNT_SQL.values())
    nonzero = " OR ".join(f"COALESCE({sql}, 0) <> 0" for sql in COUNT_SQL.values())
    edges = "ARRAY[" + ", ".join(map(str, EDGES)) + "]::int[]"
    targets = ", ".join(f"({i}, e.{prefix}_seconds)" for i, prefix in enumerate(TARGETS))
    return [
        f"{spread(tuple(DIM_SQL))} INSERT INTO {COUNTS} (start, dim, value, {names}) "  # noqa: S608
        f"SELECT start, dim, value, {sums} FROM e GROUP BY start, dim, value HAVING {nonzero}",
        f"{spread(timed)} INSERT INTO {TIMES} (start, week, dim, value, target, bucket, n) "  # noqa: S608
        f"SELECT w.start, w.week, dim, value, t.target, width_bucket(t.seconds::int, {edges}), "
        f"sum(sign) FROM e CROSS JOIN LATERAL (VALUES {targets}) t(target, seconds) "
        f"CROSS JOIN LATERAL (VALUES (e.start, false), (date_trunc('week', e.created_at "
        f"AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', true)) w(start, week) "
        f"WHERE t.seconds IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0",
    ]


_TRIGGERS = {  # trigger: (event, REFERENCING, sources)
    "reports_rollup_ins": ("INSERT", "NEW TABLE AS new_rows", [(1, "new_rows")]),
    "reports_rollup_upd": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                           [(-1, "old_rows"), (1, "new_rows")]),
    "reports_rollup_del": ("DELETE", "OLD TABLE AS old_rows", [(-1, "old_rows")]),
}


def install(*, zone: str | None = None, rebuild: bool = True) -> None:
    """(Re)create the triggers that keep the rollup (PostgreSQL), its segments cut at the
    local midnights of `zone` (the provider's), and rebuild it from the measure rows. Run by
    migration 0004 and by `tierdesk reports rollup` (after the provider's zone changes:
    reports stay exact meanwhile, reading the days the segments no longer fit live)."""
    if connection.vendor != "postgresql":
        return
    if zone is None:
        from tierdesk.accounts.models import Provider

        zone = Provider.objects.order_by("pk").values_list("time_zone", flat=True).first()
    cuts = cuts_of(zone or "UTC")
    with transaction.atomic(), connection.cursor() as cur:
        _create_triggers(cur, cuts)
        if rebuild:
            _rebuild(cur, cuts)


def time_also(dims: tuple[str, ...]) -> None:
    """Keep the histograms of `dims` too, dimensions this code added to TIMED_DIMS: the
    installed triggers made again (with their cuts) and those histograms built from the
    measure rows, the rest of the rollup left as it is (for a migration: a fraction of a
    rebuild's time). Until then a report by such a dimension reads live (`Stale`)."""
    if connection.vendor != "postgresql" or (cuts := installed_cuts()) is None:
        return
    with transaction.atomic(), connection.cursor() as cur:
        _create_triggers(cur, cuts)
        cur.execute(f"DELETE FROM {TIMES} WHERE dim = ANY(%s)", [list(dims)])  # noqa: S608
        cur.execute(_delta_sql([(1, MEASURE)], cuts, timed=dims)[1])
        cur.execute(f"ANALYZE {TIMES}")


def _create_triggers(cur: Any, cuts: list[int]) -> None:
    cur.execute(f"LOCK TABLE {MEASURE} IN SHARE MODE")  # no writer until the commit
    for name, (event, referencing, sources) in _TRIGGERS.items():
        body = ";\n".join(_delta_sql(sources, cuts))
        cur.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
                    f"AS $fn$ BEGIN {body}; RETURN NULL; END $fn$")
        cur.execute(f"DROP TRIGGER IF EXISTS {name} ON {MEASURE}")
        cur.execute(f"CREATE TRIGGER {name} AFTER {event} ON {MEASURE} REFERENCING "
                    f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    array = "ARRAY[" + ", ".join(map(str, cuts)) + "]::int[]"
    cur.execute(f"CREATE OR REPLACE FUNCTION reports_rollup_cuts() RETURNS int[] "
                f"LANGUAGE sql IMMUTABLE AS $fn$ SELECT {array} $fn$")


def uninstall() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        for name in _TRIGGERS:
            cur.execute(f"DROP TRIGGER IF EXISTS {name} ON {MEASURE}")
            cur.execute(f"DROP FUNCTION IF EXISTS {name}()")
        cur.execute("DROP FUNCTION IF EXISTS reports_rollup_cuts()")


def _rebuild(cur: Any, cuts: list[int]) -> None:
    # Writers of measure rows wait (their triggers would append to what is rebuilt).
    cur.execute(f"LOCK TABLE {MEASURE} IN SHARE MODE")
    cur.execute(f"TRUNCATE {COUNTS}, {TIMES}")
    for sql in _delta_sql([(1, MEASURE)], cuts):
        cur.execute(sql)
    cur.execute(f"ANALYZE {COUNTS}")
    cur.execute(f"ANALYZE {TIMES}")


def rebuild() -> None:
    """The rollup made again from every measure row, with the installed triggers' cuts."""
    if connection.vendor != "postgresql":
        return
    cuts = installed_cuts()
    if cuts is None:
        install()
        return
    with transaction.atomic(), connection.cursor() as cur:
        _rebuild(cur, cuts)


def installed_cuts() -> list[int] | None:
    """The cuts the installed triggers use; None without them (the rollup is not kept)."""
    with connection.cursor() as cur:
        cur.execute("SELECT to_regprocedure('reports_rollup_cuts()') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT reports_rollup_cuts()")
        return list(cur.fetchone()[0])


def follow_zone() -> bool:
    """Re-install the rollup if the provider's time zone is not the one its segments were
    cut for (a desk set up after the migration, or its zone changed). Reports stay exact
    meanwhile, only slower (the days that no longer fit are read live); the rebuild holds
    measure writers back while it runs (40–100 s at a million tickets). True: re-installed."""
    if connection.vendor != "postgresql":
        return False
    from tierdesk.accounts.models import Provider

    installed = installed_cuts()
    if installed is None:  # not kept here (`uninstall`): nothing to follow
        return False
    zone = Provider.objects.order_by("pk").values_list("time_zone", flat=True).first()
    if installed == cuts_of(zone or "UTC"):
        return False
    install(zone=zone or "UTC")
    return True


def compact() -> int:
    """Sum the delta rows of each key into one (only the segments that have several); returns
    how many rows went. Safe beside writers: their deltas are new rows, left alone until the
    next time; one statement a table, so a report sees the rows before or after it."""
    if connection.vendor != "postgresql":
        return 0
    gone = 0
    names = ", ".join(COUNT_SQL)
    sums = ", ".join(f"sum({name})" for name in COUNT_SQL)
    nonzero = " OR ".join(f"sum({name}) <> 0" for name in COUNT_SQL)
    with transaction.atomic(), connection.cursor() as cur:
        for table, keys, columns, total, keep in (
                (COUNTS, "start, dim, value", names, sums, nonzero),
                (TIMES, "start, week, dim, value, target, bucket", "n", "sum(n)", "sum(n) <> 0")):
            cur.execute(
                f"WITH busy AS (SELECT DISTINCT start FROM {table} GROUP BY {keys} "  # noqa: S608
                f"HAVING count(*) > 1), gone AS (DELETE FROM {table} WHERE start IN "
                f"(SELECT start FROM busy) RETURNING *), kept AS (INSERT INTO {table} "
                f"({keys}, {columns}) SELECT {keys}, {total} FROM gone GROUP BY {keys} "
                f"HAVING {keep} RETURNING 1) "
                f"SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)")
            gone += cur.fetchone()[0]
    return gone


# --------------------------------------------------------------------------- reading


class Stale(Exception):
    """The rollup and the measure rows disagree (a commit between two statements outside a
    repeatable-read transaction, or a rollup not maintained): read live instead."""


@dataclass
class Axis:
    """A grouping a report asks for: `group` (a period or a dimension) and its key in SQL
    (queries._Key: for a period, the period's number among `midnights`)."""

    group: str
    expression: Any
    midnights: list[datetime] = field(default_factory=list)  # periods only

    @property
    def dim(self) -> str:
        return "" if self.midnights else self.group

    def day_key(self, day_start: datetime) -> int:
        """The key of every row created on a whole UTC day (a period's number, from 1)."""
        return bisect_right(self.midnights, day_start)

    def read(self, value: str) -> Any:
        if self.group == "channel":
            return value
        return int(value) if value != "" else None


@dataclass
class Rolled:
    axes: dict[str, dict[Any, dict[str, Any]]]  # axis name: {key as SQL answers it: figures}
    total: dict[str, Any]
    times: dict[Any, dict[str, Any]]  # the first axis's keys: their percentiles
    total_times: dict[str, Any]


@dataclass
class Kpi:
    """Where a KPI's fraction lies in the rollup: one dimension's value, summed columns
    (the part `now` decides is counted live, `queries._kpi_late`)."""

    name: str  # kNN, as queries names the live aggregates
    dim: str
    value: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]


def kpi_spec(kpi: Any) -> Kpi | None:
    m = type(kpi).Measure
    prefix = {m.FIRST_RESPONSE_MET: "fr", m.RESOLUTION_PLAN_MET: "rp",
              m.RESOLUTION_MET: "res"}.get(kpi.measure)
    num: tuple[str, ...]
    den: tuple[str, ...]
    if prefix is not None:
        num, den = (f"{prefix}_met",), (f"{prefix}_met", f"{prefix}_breached")
    elif kpi.measure == m.ANSWERED_NEXT_BUSINESS_DAY:
        num, den = ("answered_on_time",), ("answered_on_time", "answered_late")
    elif kpi.measure == m.REOPEN_RATE:
        num, den = ("reopened",), ("resolved",)
    else:
        return None
    if kpi.channel and kpi.priority_id:
        dim, value = "pc", f"{kpi.priority_id}:{kpi.channel}"
    elif kpi.channel:
        dim, value = "channel", kpi.channel
    elif kpi.priority_id:
        dim, value = "priority", str(kpi.priority_id)
    else:
        dim, value = "", ""
    return Kpi(f"k{kpi.pk}", dim, value, num, den)


def _segments(lo: datetime, hi: datetime, axes: list[Axis], cuts: list[int]) -> tuple[
        dict[datetime, datetime], list[tuple[datetime, datetime]]]:
    """The rollup's segments (UTC days cut at `cuts`) wholly inside [lo, hi) and inside one
    period of every period axis ({start: end}), and the instant ranges of the rest."""
    whole: dict[datetime, datetime] = {}
    starts = sorted({m for axis in axes for m in axis.midnights})
    day = lo.astimezone(UTC).date()
    while True:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if midnight >= hi:
            break
        bounds = [midnight + timedelta(minutes=c) for c in (0, *cuts)]
        bounds.append(midnight + timedelta(days=1))
        for start, end in itertools.pairwise(bounds):
            # Inside the report, and no period starts strictly inside the segment.
            if (start >= lo and end <= hi
                    and bisect_right(starts, start) == bisect_left(starts, end)):
                whole[start] = end
        day += timedelta(days=1)
    rest: list[tuple[datetime, datetime]] = []
    at = lo
    for start, end in whole.items():
        if start > at:
            rest.append((at, start))
        at = end
    if at < hi:
        rest.append((at, hi))
    return whole, rest


def _add(into: dict[Any, Any], values: dict[str, Any]) -> None:
    for name, value in values.items():
        into[name] = into.get(name, 0) + (value or 0)


def figures(queryset: Any, lo: datetime, hi: datetime, axes: dict[str, Axis], *,
            edge_aggregates: dict[str, Any], stopped: dict[str, Any],
            late_aggregates: dict[str, Any], kpis: list[Kpi], times: bool,
            total: bool, scope: tuple[str, list[str]] | None = None) -> Rolled:
    """The counts of every axis, the total and the KPI fractions; the percentiles of the
    first axis (and of the whole if `total`) when `times`.

    `queryset` is the period's measure rows, [lo, hi) its instants; with a `scope`
    (dimension, its values as DIM_SQL writes them) only the rows of one of those values:
    then every axis is a period and every KPI unscoped (the rollup holds one dimension a
    row), and the scope's rows stand for the whole;
    `edge_aggregates` and `stopped` the live query's aggregates (queries._count_aggregates
    and the KPI fractions; the stopped counts), read over the partial days' rows;
    `late_aggregates` count what `now` adds to the rollup's columns of the same names
    (running targets past due in `*_breached`, the KPIs' denominators), read over the
    whole days' live rows. Raises Stale if the rollup does not add up."""
    cuts = installed_cuts()
    if cuts is None:
        raise Stale("the rollup is not kept here")
    whole, rest = _segments(lo, hi, list(axes.values()), cuts)
    days = sorted(whole)
    edges_q = Q(pk__in=[])
    for a, b in rest:
        edges_q |= Q(created_at__gte=a, created_at__lt=b)
    names = list(COUNT_SQL)
    keys = {name: axis.expression for name, axis in axes.items()}

    # 1. The rollup's counts: per day for every row (periods, totals), per value otherwise.
    dims = sorted({axis.dim for axis in axes.values()} | {""} | {k.dim for k in kpis})
    rolled: dict[tuple[str, str, datetime | None], list[int]] = {}
    if scope is None:
        keyed, where = "dim, value, CASE WHEN dim = '' THEN start END", "dim = ANY(%s)"
        params: list[Any] = [dims]
    else:  # the scope's rows, as the whole's
        keyed, where, params = "'', '', start", "dim = %s AND value = ANY(%s)", list(scope)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {keyed}, {', '.join(f'sum({n})::bigint' for n in names)} "  # noqa: S608
            f"FROM {COUNTS} WHERE {where} AND start = ANY(%s::timestamptz[]) GROUP BY 1, 2, 3",
            [*params, days])
        for dim, value, day, *row in cur.fetchall():
            rolled[dim, value, day] = row
    # 2. What `now` adds over the whole days (index-only, rm_live), and 3. the partial days.
    late = queryset.filter(LIVE_Q) if not rest else queryset.filter(LIVE_Q).exclude(edges_q)
    parts = [[dict(c) for c in late.values(**keys).annotate(**late_aggregates)]]
    edges = queryset.filter(edges_q) if rest else None
    if edges is not None:
        parts.append([dict(c) for c in edges.values(**keys).annotate(
            **edge_aggregates, **stopped)])

    out: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in axes}
    sums: dict[str, Any] = {}
    for (dim, value, day), row in rolled.items():
        values = dict(zip(names, row, strict=True))
        if dim == "":
            _add(sums, values)
        for axis_name, axis in axes.items():
            if axis.dim != dim:
                continue
            key = axis.day_key(day) if day is not None else axis.read(value)
            _add(out[axis_name].setdefault(key, {}), values)
        for kpi in kpis:
            if kpi.dim == dim and kpi.value == value:
                _add(sums, {f"{kpi.name}_num": sum(values[c] for c in kpi.numerator),
                            f"{kpi.name}_den": sum(values[c] for c in kpi.denominator)})
    for combos in parts:
        for combo in combos:
            figures = {n: v for n, v in combo.items() if n not in axes}
            for axis_name in axes:
                _add(out[axis_name].setdefault(combo[axis_name], {}), figures)
            _add(sums, figures)
    for by in out.values():  # a key whose rows all went leaves rows of zeros behind
        for key in [k for k, v in by.items() if not v.get("tickets")]:
            del by[key]
    result = Rolled(axes=out, total=sums, times={}, total_times={})
    if times:
        first = next(iter(axes))
        result.times, result.total_times = _times(
            queryset, edges, axes[first], whole, out[first], result.total, total=total,
            scope=scope)
    return result


SHARES = (0.5, 0.9)  # as queries.SHARES
_ALL = object()  # the whole set's "group" while picking


def _ranges(buckets: set[int]) -> list[tuple[int, int | None]]:
    """Buckets as ranges of seconds [lo, hi) (hi None: unbounded), adjacent ones merged."""
    out: list[tuple[int, int | None]] = []
    for b in sorted(buckets):
        lo, hi = EDGES[b - 1], (EDGES[b] if b < len(EDGES) else None)
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _within(column: str, buckets: set[int]) -> str:
    return "(" + " OR ".join(f"({column} >= {lo}" + (f" AND {column} < {hi})" if hi is not None
                                                     else ")")
                             for lo, hi in _ranges(buckets)) + ")"


def _times(queryset: Any, edges: Any, axis: Axis, whole: dict[datetime, datetime],
           groups: dict[Any, dict[str, Any]], totals: dict[str, Any], *,
           total: bool, scope: tuple[str, list[str]] | None = None) -> tuple[
               dict[Any, dict[str, Any]], dict[str, Any]]:
    """Each group's percentiles (and the whole set's if `total`), exact: the histograms
    (rollup + live rows) say in which bucket each rank lies and how many values come
    before it; one scan then sorts only the values of those buckets and picks them."""
    by_period = axis.dim == ""
    # A UTC week all of whose segments are whole and in one period reads as one row.
    weeks: dict[datetime, list[datetime]] = defaultdict(list)
    for start in whole:
        monday = start - timedelta(days=start.weekday(), hours=start.hour, minutes=start.minute)
        weeks[monday].append(start)
    units: list[datetime] = []
    unit_keys: list[int] = []
    kinds: list[bool] = []
    for monday, starts in weeks.items():
        periods = {axis.day_key(start) if by_period else 0 for start in starts}
        full = (sum((whole[start] - start for start in starts), timedelta()) == timedelta(days=7)
                and len(periods) == 1)
        for start in [monday] if full else starts:
            units.append(start)
            unit_keys.append(axis.day_key(start) if by_period else 0)
            kinds.append(full)
    # {(group key or _ALL, target): {bucket: count}}
    hist: dict[tuple[Any, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    with connection.cursor() as cur:
        # Summed in SQL by the segments' period (for a period axis), else by value.
        params: list[Any]
        if scope is None:
            dim, where, params = "r.dim", "r.dim = ANY(%s)", [sorted({axis.dim, ""})]
        else:  # the scope's rows, as the whole's (the axis is a period)
            dim, where, params = "''", "r.dim = %s AND r.value = ANY(%s)", [*scope]
        cur.execute(
            f"SELECT {dim}, r.value, s.key, r.target, r.bucket, sum(r.n)::bigint "  # noqa: S608
            f"FROM unnest(%s::timestamptz[], %s::int[], %s::bool[]) s(start, key, week) "
            f"JOIN {TIMES} r ON r.start = s.start AND r.week = s.week AND {where} "
            f"GROUP BY 1, 2, 3, 4, 5",
            [units, unit_keys, kinds, *params])
        for dim, value, period, target, bucket, n in cur.fetchall():
            if dim == axis.dim:
                key = period if by_period else axis.read(value)
                hist[key, target][bucket] += n
            if dim == "":
                hist[_ALL, target][bucket] += n
        if edges is not None:  # the partial days' rows, live
            sql, params = edges.values(k=axis.expression, s0=F("fr_seconds"),
                                       s1=F("rp_seconds"), s2=F("res_seconds")).query.sql_with_params()
            cur.execute(
                f"SELECT q.k, t.target, width_bucket(t.s::int, %s::int[]), count(*) "  # noqa: S608
                f"FROM ({sql}) q CROSS JOIN LATERAL (VALUES (0, q.s0), (1, q.s1), (2, q.s2)) "
                f"t(target, s) WHERE t.s IS NOT NULL GROUP BY 1, 2, 3", [list(EDGES), *params])
            for key, target, bucket, n in cur.fetchall():
                hist[key, target][bucket] += n
                hist[_ALL, target][bucket] += n

    # Where each rank lies: (group, target, share) -> (bucket, rank within the bucket).
    wanted: dict[tuple[Any, int, float], tuple[int, int]] = {}
    buckets: dict[tuple[bool, int], set[int]] = defaultdict(set)  # (whole set?, target)
    keys: list[Any] = list(groups)
    if total:
        keys.append(_ALL)
    for key in keys:
        for target, prefix in enumerate(TARGETS):
            counts = hist.get((key, target), {})
            n = sum(counts.values())
            expected = (totals if key is _ALL else groups[key]).get(f"{prefix}_n") or 0
            if n != expected:
                raise Stale(f"{prefix} of {key}: {n} values in the histograms, {expected} counted")
            if not n:
                continue
            for share in SHARES:
                rank, below = max(math.ceil(share * n), 1), 0
                for bucket in sorted(counts):
                    if below + counts[bucket] >= rank:
                        break
                    below += counts[bucket]
                wanted[key, target, share] = (bucket, rank - below)
                buckets[key is _ALL, target].add(bucket)

    # The position of each wanted value among the values the scan keeps, sorted by
    # (group, seconds): the kept counts of the groups before, of its buckets before, its rank.
    order = sorted((k for k in groups), key=lambda k: -1 if k is None else k)
    # A key in the sort: the id itself, or a text key's place in `order` (the channel).
    texts = [k for k in order if isinstance(k, str)]
    slot = "array_position(%s::text[], q.k)" if texts else "q.k"
    rank_of: dict[Any, int] = {k: i + 1 for i, k in enumerate(texts)}
    columns, conditions, picks, texts_of_columns = [], [], [], []
    for (whole_set, target), chosen in sorted(buckets.items(), key=lambda i: (i[0][0], i[0][1])):
        members = [_ALL] if whole_set else order
        offsets, at = {}, 0
        for key in members:
            counts = hist.get((key, target), {})
            running = at
            for bucket in sorted(counts):
                if bucket in chosen:
                    offsets[key, bucket] = running
                    running += counts[bucket]
            at = running
        kept = at
        fractions, asked = [], []
        for key in members:
            for share in SHARES:
                if (key, target, share) in wanted:
                    bucket, rank = wanted[key, target, share]
                    fractions.append((offsets[key, bucket] + rank - 0.5) / kept)
                    asked.append((key, share, bucket))
        condition = _within(f"q.s{target}", chosen)
        ordered = f"q.s{target}" if whole_set else (
            f"COALESCE({slot}, -1)::bigint * {KEY_SHIFT} + q.s{target}")
        array = "ARRAY[" + ", ".join(repr(f) for f in fractions) + "]::float8[]"
        if texts and not whole_set:  # the text keys' array, once for each sort by group
            texts_of_columns.append(texts)
        columns.append(f"percentile_disc({array}) WITHIN GROUP (ORDER BY {ordered}) "
                       f"FILTER (WHERE {condition}), count(*) FILTER (WHERE {condition})")
        conditions.append(condition)
        picks.append((target, asked, kept))
    times: dict[Any, dict[str, Any]] = {key: {} for key in groups}
    whole_times: dict[str, Any] = {}
    if total:
        whole_times = {f"{prefix}_p{round(share * 100)}": None
                       for prefix in TARGETS for share in SHARES}
    if not columns:
        return times, whole_times
    sql, params = queryset.values(k=axis.expression, s0=F("fr_seconds"), s1=F("rp_seconds"),
                                  s2=F("res_seconds")).query.sql_with_params()
    with connection.cursor() as cur:
        # JIT compiles this statement's many conditions for longer than it saves (60-100 ms).
        cur.execute("SET LOCAL jit = off")
        cur.execute(f"SELECT {', '.join(columns)} FROM ({sql}) q "  # noqa: S608 - our own numbers
                    f"WHERE {' OR '.join(conditions)}", [*texts_of_columns, *params])
        answer = cur.fetchone()
        cur.execute("SET LOCAL jit TO DEFAULT")
    for i, (target, asked, kept) in enumerate(picks):
        values, n = answer[2 * i], answer[2 * i + 1]
        if n != kept:
            raise Stale(f"{TARGETS[target]}: {n} values kept, {kept} expected")
        for value, (key, share, bucket) in zip(values, asked, strict=True):
            if key is _ALL:
                seconds = value
            else:
                group, seconds = divmod(value, KEY_SHIFT)
                if group != (-1 if key is None else rank_of.get(key, key)):
                    raise Stale(f"{value} is not of group {key}")
            if seconds < EDGES[bucket - 1] or (bucket < len(EDGES) and seconds >= EDGES[bucket]):
                raise Stale(f"{seconds} is not in bucket {bucket}")
            name = f"{TARGETS[target]}_p{round(share * 100)}"
            (whole_times if key is _ALL else times[key])[name] = float(seconds)
    return times, whole_times
