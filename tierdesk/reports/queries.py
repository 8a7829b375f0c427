"""The reports' figures: SQL aggregations over the measure rows and the surveys.

Every figure is a GROUP BY over `TicketMeasure` (one narrow row per ticket) or
`SatisfactionSurvey`, filtered by period and dimensions; nothing here loads
tickets into Python. A report is one query per table: counts with FILTER
clauses, sums, and percentiles (`aggregates.Percentile`).

Conventions, the same in every table, the CSV and the monthly report:

- The period is the ticket's creation (tickets opened in it), in the
  provider's time zone; surveys count in the period of the resolution asked about.
- A target's share met is met / (met + breached); targets still running or
  paused are "pending" and count in neither. A running target whose due
  instant has passed is breached, whether or not the sweep has said so yet.
- Times are business time counted by the SLA clock when the target stopped
  (pauses excluded: seed 004 leaves third-party time out), shown in hours.
- Reopen rate: tickets reopened at least once / tickets resolved at least once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, F, Func, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.models import Agent, Organisation, Team
from tierdesk.sla.models import Plan
from tierdesk.tickets.models import Category, Channel, Priority

from . import rollup
from .aggregates import KeyedPercentiles, Percentile, at_once, fractions_for, unkeyed
from .models import (
    RATING_BY_FACE,
    KpiTarget,
    MeasureState,
    Rating,
    SatisfactionSurvey,
    TicketMeasure,
)

TARGETS = (("fr", "first_response"), ("rp", "resolution_plan"), ("res", "resolution"))
PERIODS = ("month", "week", "day")
GROUPS: dict[str, Any] = {
    "month": _("Month"), "week": _("Week"), "day": _("Day"),
    "priority": _("Priority"), "category": _("Category"), "organisation": _("Organisation"),
    "plan": _("Plan"), "tier": _("Tier"), "agent": _("Agent"), "team": _("Team"),
    "channel": _("Channel"),
}
SATISFACTION_GROUPS = ("month", "week", "agent", "team", "organisation", "category", "priority")
NONE = "none"
REPORT_WORK_MEM = "64MB"  # per sort or hash of one report query: a million rows' keys fit
# The price of a row handed from a parallel worker to the leader, for grouped percentile
# queries only (`_sorted_in_parallel`); None: the server's (0.1), and they sort on one core.
PARALLEL_SORT_TUPLE_COST: float | None = 0.01
_DIM_FIELD = {"priority": "priority_id", "category": "category_id",
              "organisation": "organisation_id", "plan": "plan_id", "tier": "tier",
              "agent": "assignee_id", "team": "team_id", "channel": "channel"}


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """A period (dates, inclusive, in `zone`) and optional dimensions."""

    start: date
    end: date
    zone: str = "UTC"
    # Each dimension: an id (a code for the channel), or NONE for "not set"
    # (unassigned, no category, no team), or None for "any".
    organisation: int | str | None = None
    plan: int | str | None = None
    priority: int | str | None = None
    category: int | str | None = None
    tier: int | str | None = None
    agent: int | str | None = None
    team: int | str | None = None
    channel: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, time(), self.tz),
                datetime.combine(self.end + timedelta(days=1), time(), self.tz))

    def dims(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _DIM_FIELD
                if getattr(self, name) not in (None, "")}

    def measures(self) -> QuerySet[TicketMeasure]:
        lo, hi = self.bounds()
        q = Q(created_at__gte=lo, created_at__lt=hi)
        for name, value in self.dims().items():
            if value == NONE:
                q &= Q(**{f"{_DIM_FIELD[name]}__isnull": True})
            elif name == "category":
                q &= Q(category_id__in=category_and_below(int(value)))
            else:
                q &= Q(**{_DIM_FIELD[name]: value})
        return TicketMeasure.objects.filter(q)

    def surveys(self) -> QuerySet[SatisfactionSurvey]:
        lo, hi = self.bounds()
        q = Q(resolved_at__gte=lo, resolved_at__lt=hi)
        own = {"organisation": "organisation_id", "agent": "assignee_id", "team": "team_id",
               "priority": "priority_id"}
        for name, value in self.dims().items():
            column = own.get(name) or f"ticket__measure__{_DIM_FIELD[name]}"
            if value == NONE:
                q &= Q(**{f"{column}__isnull": True})
            elif name == "category":
                q &= Q(category_id__in=category_and_below(int(value)))
            elif name in own:
                q &= Q(**{own[name]: value})
            else:  # plan, tier, channel: the ticket's, through its measure row
                q &= Q(**{f"ticket__measure__{_DIM_FIELD[name]}": value})
        return SatisfactionSurvey.objects.filter(q)

    def params(self) -> dict[str, str]:
        """As query-string parameters (what the filter form reads)."""
        out = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        out.update({name: str(value) for name, value in self.dims().items()})
        return out

    def narrowed(self, group: str, key: Any) -> Filters:
        """These filters, narrowed to one row of a table grouped by `group`."""
        if group in PERIODS:
            start = key if isinstance(key, date) else date.fromisoformat(str(key))
            end = period_end(group, start)
            return replace(self, start=max(start, self.start), end=min(end, self.end))
        if group not in _DIM_FIELD:
            return self
        narrowed: dict[str, Any] = {group: NONE if key is None else key}
        return replace(self, **narrowed)


def period_end(granularity: str, start: date) -> date:
    if granularity == "day":
        return start
    if granularity == "week":
        return start + timedelta(days=6)
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return following - timedelta(days=1)


def category_and_below(category_id: int) -> list[int]:
    ids, frontier = {category_id}, {category_id}
    while frontier:
        frontier = set(Category.objects.filter(parent_id__in=frontier)
                       .values_list("pk", flat=True)) - ids
        ids |= frontier
    return sorted(ids)


class _PeriodIndex(Func):
    """`width_bucket(instant, ARRAY[period starts])`: the number of the period an instant
    falls in, 1 for the first (PostgreSQL; a binary search over fixed-width values)."""

    function = "width_bucket"
    template = "%(function)s(%(expressions)s::timestamptz[])"
    output_field = IntegerField()


MAX_PERIOD_STARTS = 1000  # a longer array of boundaries: truncate in the time zone instead


@dataclass(frozen=True)
class _Key:
    """A group's key in SQL, and how to read its values back (dates for periods)."""

    expression: Any
    starts: tuple[date, ...] = ()  # when `expression` is a _PeriodIndex: period n's start

    def read(self, value: Any) -> Any:
        if self.starts:
            return None if value is None else self.starts[value - 1]
        return _as_date(value)


def _key(group: str, filters: Filters, column: str = "created_at") -> _Key:
    """The key of `group` for rows in the filters' period.

    A period (the instant `column` truncated to its day, week or month in the filters'
    time zone) is, on PostgreSQL, the number of the period the instant falls in among
    the local midnights that start the periods (`_PeriodIndex`): the same grouping as
    converting every row's instant to local time and truncating it, at a fraction of the
    cost (docs/PERFORMANCE.md, "Reports"). Where a clock change skips or repeats one of
    those midnights (a zone that changes at midnight), local dates are no plain ranges
    of instants and the rows are truncated one by one, as on SQLite.
    """
    if group not in PERIODS:
        return _Key(F(_DIM_FIELD[group]))
    tz = filters.tz
    if connection.vendor == "postgresql":
        starts = _period_starts(group, filters.start, filters.end)
        midnights = [_midnight(day, tz) for day in starts]
        if len(starts) <= MAX_PERIOD_STARTS and None not in midnights:
            return _Key(_PeriodIndex(F(column), Value(midnights)), tuple(starts))
    if group == "month":
        return _Key(TruncMonth(column, tzinfo=tz))
    if group == "week":
        return _Key(TruncWeek(column, tzinfo=tz))
    return _Key(TruncDate(column, tzinfo=tz))


def _period_starts(granularity: str, start: date, end: date) -> list[date]:
    """The first day of every period from the one holding `start` to the one holding `end`."""
    if granularity == "month":
        day = start.replace(day=1)
    elif granularity == "week":
        day = start - timedelta(days=start.weekday())
    else:
        day = start
    starts: list[date] = []
    while day <= end and len(starts) <= MAX_PERIOD_STARTS:
        starts.append(day)
        day = period_end(granularity, day) + timedelta(days=1)
    return starts


def _midnight(day: date, tz: ZoneInfo) -> datetime | None:
    """The instant `day` begins in `tz`; None if a clock change skips or repeats its midnight."""
    local = datetime.combine(day, time())
    instant = local.replace(tzinfo=tz)
    if instant.replace(fold=1).utcoffset() != instant.utcoffset():
        return None  # repeated
    if instant.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None) != local:
        return None  # skipped
    return instant


def _as_date(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value


# --------------------------------------------------------------------------- SLA table


@dataclass
class TargetFigures:
    met: int = 0
    breached: int = 0
    p50: float | None = None  # business seconds
    p90: float | None = None

    @property
    def decided(self) -> int:
        return self.met + self.breached

    @property
    def share(self) -> float | None:
        return 100.0 * self.met / self.decided if self.decided else None


@dataclass
class SlaRow:
    key: Any
    label: str
    tickets: int = 0
    targets: dict[str, TargetFigures] = field(default_factory=dict)
    paused_customer: int = 0  # business seconds, summed
    paused_third_party: int = 0
    resolved: int = 0
    reopened: int = 0
    escalated_tier2: int = 0
    escalated_tier3: int = 0
    escalated_customer: int = 0

    @property
    def reopen_rate(self) -> float | None:
        return 100.0 * self.reopened / self.resolved if self.resolved else None

    @property
    def breaches(self) -> int:
        return sum(t.breached for t in self.targets.values())


def breached_q(prefix: str, now: datetime) -> Q:
    return (Q(**{f"{prefix}_state": MeasureState.BREACHED})
            | Q(**{f"{prefix}_state": MeasureState.RUNNING, f"{prefix}_due_at__lt": now}))


def _count_aggregates(now: datetime) -> dict[str, Any]:
    aggs: dict[str, Any] = {
        "tickets": Count("pk"),
        "paused_customer": Sum("paused_customer_seconds"),
        "paused_third_party": Sum("paused_third_party_seconds"),
        "resolved": Count("pk", filter=Q(first_resolved_at__isnull=False)),
        "reopened": Count("pk", filter=Q(reopens__gt=0, first_resolved_at__isnull=False)),
        "escalated_tier2": Sum("escalations_tier2"),
        "escalated_tier3": Sum("escalations_tier3"),
        "escalated_customer": Sum("escalations_customer"),
    }
    for prefix, _name in TARGETS:
        aggs[f"{prefix}_met"] = Count("pk", filter=Q(**{f"{prefix}_state": MeasureState.MET}))
        aggs[f"{prefix}_breached"] = Count("pk", filter=breached_q(prefix, now))
    return aggs


def _stopped_counts() -> dict[str, Any]:
    """How many values each target's percentiles are over (its stopped targets)."""
    return {f"{prefix}_n": Count(f"{prefix}_seconds") for prefix, _name in TARGETS}


SHARES = (0.5, 0.9)  # the median and p90 of every target


def _share_name(prefix: str, share: float) -> str:
    return f"{prefix}_p{round(share * 100)}"


def _time_aggregates(*prefixes: str) -> dict[str, Any]:
    """The percentiles of these targets (every target's if none), each over its stopped ones."""
    return {_share_name(prefix, share): Percentile(f"{prefix}_seconds", share)
            for prefix, _name in TARGETS if not prefixes or prefix in prefixes
            for share in SHARES}


@contextmanager
def _tuned() -> Iterator[None]:
    """Room for a report's hash tables and sorts: on PostgreSQL, in memory rather than on disk.

    The default work_mem (4 MB) makes the planner sort a million rows to disk to
    group them, and the percentiles' sorts spill too; a report is one query at a
    time from a few people, so it may take more, for its own transaction only.
    """
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # Every query of the report reads one snapshot (`_keyed_times` relies on it).
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SET LOCAL work_mem = %s", [REPORT_WORK_MEM])
        yield


def _snapshot() -> str | None:
    """What this statement sees (PostgreSQL): two equal readings mean that nothing was
    committed in between, so the statements between them saw the same rows."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return cursor.fetchone()[0]


@contextmanager
def _hashed() -> Iterator[None]:
    """Group counts and sums by hashing, not by sorting (PostgreSQL; inside `_tuned`).

    The planner has no statistics for a period key (the creation truncated in a
    time zone), so it guesses one group per row and sorts a million rows to
    group them into a few hundred: three times the CPU of a hash aggregate at
    1,000,000 tickets (docs/PERFORMANCE.md). Only around count queries:
    percentiles are ordered-set aggregates, which group by sorting anyway.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = on")


@contextmanager
def _sorted_in_parallel() -> Iterator[None]:
    """Sort a grouped percentile query's rows in parallel workers (PostgreSQL; inside `_tuned`).

    Percentiles are ordered-set aggregates: PostgreSQL computes them in one process, over
    rows sorted by the group. The sort before them can be split between parallel workers
    and merged (Gather Merge), but the planner prices handing a million rows from the
    workers to the leader (`parallel_tuple_cost`, 0.1 each) above sorting them alone, so
    it never does. A report is one person's request: for this query only, the price of a
    handed row is `PARALLEL_SORT_TUPLE_COST`, and the sort runs on every core
    (docs/PERFORMANCE.md, "Reports").
    """
    if connection.vendor != "postgresql" or PARALLEL_SORT_TUPLE_COST is None:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL parallel_tuple_cost = %s", [PARALLEL_SORT_TUPLE_COST])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL parallel_tuple_cost TO DEFAULT")


def _sla_row(key: Any, label: str, values: dict[str, Any]) -> SlaRow:
    row = SlaRow(key=key, label=label, tickets=values["tickets"] or 0,
                 paused_customer=values["paused_customer"] or 0,
                 paused_third_party=values["paused_third_party"] or 0,
                 resolved=values["resolved"] or 0, reopened=values["reopened"] or 0,
                 escalated_tier2=values["escalated_tier2"] or 0,
                 escalated_tier3=values["escalated_tier3"] or 0,
                 escalated_customer=values["escalated_customer"] or 0)
    for prefix, name in TARGETS:
        row.targets[name] = TargetFigures(
            met=values[f"{prefix}_met"] or 0, breached=values[f"{prefix}_breached"] or 0,
            p50=values.get(f"{prefix}_p50"), p90=values.get(f"{prefix}_p90"))
    return row


def sla_table(filters: Filters, group: str, *, now: datetime, times: bool = True) -> list[SlaRow]:
    """One row per value of `group` (a period or a dimension), in the group's order.

    Two queries: the counts (a hash aggregate, split between parallel workers on
    PostgreSQL) and, when `times`, the percentiles (`_group_times`).
    """
    key = _key(group, filters)
    rolled = _rolled(filters, {"g": (group, key)}, now=now, times=times, total=False)
    if rolled is not None:
        return _table(group, {key.read(raw): {**v, **rolled.times.get(raw, {})}
                              for raw, v in rolled.axes["g"].items()})
    grouped = filters.measures().values(key=key.expression)
    with _tuned():
        seen = _snapshot()
        with _hashed():
            counted = [dict(v) for v in grouped.annotate(
                **_count_aggregates(now), **(_stopped_counts() if times else {}))]
        times_by_key = (_group_times(filters, key, counted, seen, total=False)[0]
                        if times and counted else {})
    values: dict[Any, dict[str, Any]] = {}
    for row in counted:
        row.update(times_by_key.get(row["key"], {}))
        values[key.read(row["key"])] = row
    names = labels(group, values)
    table = [_sla_row(k, names.get(k, str(k)), v) for k, v in values.items()]
    _sort(group, table, names)
    return table


def sla_totals(filters: Filters, *, now: datetime, kpis: Iterable[KpiTarget] = ()) -> tuple[
        SlaRow, dict[int, tuple[int, int]]]:
    """The whole set in one row, and the KPI fractions it answers in the same scan."""
    kpi_aggs = {}
    for kpi in kpis:
        spec = _kpi_fraction(kpi, now)
        if spec is not None:
            kpi_aggs[f"k{kpi.pk}_num"], kpi_aggs[f"k{kpi.pk}_den"] = spec
    with _tuned():
        # The counts beside each target's sort, at once (`at_once`: one statement).
        values = at_once(filters.measures(), [{**_count_aggregates(now), **kpi_aggs},
                                              _time_aggregates("fr"),
                                              _time_aggregates("rp", "res")])
    fractions = {kpi.pk: (values[f"k{kpi.pk}_num"] or 0, values[f"k{kpi.pk}_den"] or 0)
                 for kpi in kpis if f"k{kpi.pk}_num" in values}
    return _sla_row(None, str(_("All")), values), fractions


@dataclass
class SlaReport:
    """The SLA page: the table by a group, its totals, the trend, breaches by priority, KPIs."""

    rows: list[SlaRow]
    totals: SlaRow
    trend: list[SlaRow]
    by_priority: list[SlaRow]
    fractions: dict[int, tuple[int, int]]


def sla_report(filters: Filters, group: str, *, now: datetime, trend: str,
               kpis: Iterable[KpiTarget] = ()) -> SlaReport:
    """Everything the SLA page shows, in two queries over the measure rows.

    1. Counts and sums grouped by (group, trend period, priority) at once. They
       add up, so the table, the trend, the priority chart, the totals and the
       KPI fractions are sums of its few rows (one scan instead of four).
    2. The percentiles of the group's rows and of the whole (`_group_times`): on
       PostgreSQL one scan, one sort a target for the groups and one for the whole.
    """
    kpis = list(kpis)
    kpi_aggs: dict[str, Any] = {}
    for kpi in kpis:
        spec = _kpi_fraction(kpi, now)
        if spec is not None:
            kpi_aggs[f"k{kpi.pk}_num"], kpi_aggs[f"k{kpi.pk}_den"] = spec
    counted = {**_count_aggregates(now), **kpi_aggs}
    stopped = _stopped_counts()
    keys = {"g": _key(group, filters), "t": _key(trend, filters), "p": _key("priority", filters)}
    rolled = _rolled(filters, {"g": (group, keys["g"]), "t": (trend, keys["t"]),
                               "p": ("priority", keys["p"])},
                     now=now, times=True, total=True, kpis=kpis)
    if rolled is not None:
        return _rolled_report(group, trend, keys, rolled, counted, kpis, kpi_aggs)
    with _tuned():
        seen = _snapshot()
        with _hashed():
            combos: list[dict[str, Any]] = [dict(c) for c in filters.measures().values(
                **{axis: key.expression for axis, key in keys.items()}).annotate(
                    **counted, **stopped)]
        by_group: dict[Any, dict[str, Any]] = {}
        for combo in combos:
            row = by_group.setdefault(combo["g"], {"key": combo["g"], **dict.fromkeys(stopped, 0)})
            for name in stopped:
                row[name] += combo[name]
        times, total_times = (_group_times(filters, keys["g"], list(by_group.values()), seen,
                                           total=True) if combos else ({}, {}))
    sums: dict[str, dict[Any, dict[str, Any]]] = {"g": {}, "t": {}, "p": {}}
    total: dict[str, Any] = dict.fromkeys(counted, 0)
    for combo in combos:
        for axis, by in sums.items():
            row = by.setdefault(keys[axis].read(combo[axis]), dict.fromkeys(counted, 0))
            for name in counted:
                row[name] += combo[name] or 0
        for name in counted:
            total[name] += combo[name] or 0
    for raw, figures in times.items():
        sums["g"][keys["g"].read(raw)].update(figures)
    total.update(total_times)
    fractions = {kpi.pk: (total[f"k{kpi.pk}_num"], total[f"k{kpi.pk}_den"])
                 for kpi in kpis if f"k{kpi.pk}_num" in total}
    return SlaReport(rows=_table(group, sums["g"]), totals=_sla_row(None, str(_("All")), total),
                     trend=_table(trend, sums["t"]), by_priority=_table("priority", sums["p"]),
                     fractions=fractions)


def _rolled_report(group: str, trend: str, keys: dict[str, _Key], rolled: rollup.Rolled,
                   counted: dict[str, Any], kpis: list[KpiTarget],
                   kpi_aggs: dict[str, Any]) -> SlaReport:
    """`sla_report`'s answer from `_rolled`'s figures."""
    sums = {axis: {keys[axis].read(raw): v for raw, v in by.items()}
            for axis, by in rolled.axes.items()}
    for raw, figures in rolled.times.items():
        sums["g"][keys["g"].read(raw)].update(figures)
    total = {**dict.fromkeys(counted, 0), **rolled.total, **rolled.total_times}
    fractions = {kpi.pk: (total[f"k{kpi.pk}_num"], total[f"k{kpi.pk}_den"])
                 for kpi in kpis if f"k{kpi.pk}_num" in kpi_aggs}
    return SlaReport(rows=_table(group, sums["g"]), totals=_sla_row(None, str(_("All")), total),
                     trend=_table(trend, sums["t"]), by_priority=_table("priority", sums["p"]),
                     fractions=fractions)


def _rolled(filters: Filters, axes: dict[str, tuple[str, _Key]], *, now: datetime, times: bool,
            total: bool, kpis: Iterable[KpiTarget] = ()) -> rollup.Rolled | None:
    """The figures of `axes` from the rollup of settled rows and the live rows beside it
    (rollup.py), or None where a report reads every row live: SQLite, two dimension
    filters, a filter beside a grouping by a dimension whose percentiles are asked (the
    rollup holds one dimension a row), periods a clock change makes uneven, or a rollup
    that does not add up (`rollup.Stale`, re-raised when `rollup.STRICT`).

    Under a filter, the other axes by a dimension (the SLA page's breaches by priority)
    and the KPIs of a channel or a priority are counted live, in one query with no
    percentile: a fifth of a live report's time (docs/PERFORMANCE.md, "Reports")."""
    dims = filters.dims()
    if not rollup.ENABLED or connection.vendor != "postgresql" or len(dims) > 1:
        return None
    scope = None
    if dims:  # the filter's dimension and its values, as rollup.DIM_SQL writes them
        ((dim, value),) = dims.items()
        scope = (dim, [""] if value == NONE else [str(c) for c in category_and_below(int(value))]
                 if dim == "category" else [str(value)])
    built: dict[str, rollup.Axis] = {}
    counted: dict[str, _Key] = {}  # under a filter, the axes by a dimension: counted live
    for name, (group, key) in axes.items():
        if group in PERIODS and not key.starts:
            return None
        if scope and group not in PERIODS:
            counted[name] = key
            continue
        midnights = [_midnight(day, filters.tz) for day in key.starts]
        built[name] = rollup.Axis(group, key.expression, midnights)  # type: ignore[arg-type]
    if not built or (times and next(iter(axes)) in counted):
        return None  # nothing the rollup answers, or a dimension's percentiles
    kpi_aggs: dict[str, Any] = {}
    # Counted over the partial covering index of the live rows (index-only: no column
    # outside it, hence created_at, never NULL, rather than the primary key).
    late = {f"{prefix}_breached": Count("created_at", filter=Q(**{
        f"{prefix}_state": MeasureState.RUNNING, f"{prefix}_due_at__lt": now}))
        for prefix, _name in TARGETS}
    specs = []
    counted_kpis: dict[str, Any] = {}  # under a filter, the KPIs of a channel or priority
    for kpi in kpis:
        spec = _kpi_fraction(kpi, now)
        if spec is None:
            continue
        rolled_spec = rollup.kpi_spec(kpi)
        if rolled_spec is None:
            return None
        if scope and rolled_spec.dim:
            counted_kpis[f"k{kpi.pk}_num"], counted_kpis[f"k{kpi.pk}_den"] = spec
            continue
        kpi_aggs[f"k{kpi.pk}_num"], kpi_aggs[f"k{kpi.pk}_den"] = spec
        specs.append(rolled_spec)
        late_q = _kpi_late(kpi, now)
        if late_q is not None:
            late[f"k{kpi.pk}_den"] = Count("created_at", filter=late_q)
    lo, hi = filters.bounds()
    with _tuned():
        seen = _snapshot()
        try:
            with _hashed():
                answer = rollup.figures(
                    filters.measures(), lo, hi, built,
                    edge_aggregates={**_count_aggregates(now), **kpi_aggs},
                    stopped=_stopped_counts(), late_aggregates=late, kpis=specs, times=times,
                    total=total, scope=scope)
                if counted or counted_kpis:
                    _count_beside(answer, filters, counted, counted_kpis, now=now)
        except rollup.Stale:
            if rollup.STRICT:
                raise
            return None
        if _snapshot() != seen:
            return None
    return answer


def _count_beside(answer: rollup.Rolled, filters: Filters, axes: dict[str, _Key],
                  kpi_aggs: dict[str, Any], *, now: datetime) -> None:
    """Add to a rollup's `answer` the counts of `axes` and the KPI fractions `kpi_aggs`,
    read live in one grouped query (`_rolled`, under a filter)."""
    rows = filters.measures()
    for name in axes:
        answer.axes[name] = {}
    if axes:
        combos = [dict(c) for c in rows.values(**{n: k.expression for n, k in axes.items()})
                  .annotate(**_count_aggregates(now), **kpi_aggs)]
    else:
        combos = [rows.aggregate(**kpi_aggs)]
    for combo in combos:
        figures = {n: v or 0 for n, v in combo.items() if n not in axes}
        for name in axes:
            into = answer.axes[name].setdefault(combo[name], {})
            for figure, value in figures.items():
                if figure not in kpi_aggs:
                    into[figure] = into.get(figure, 0) + value
        for figure in kpi_aggs:
            answer.total[figure] = answer.total.get(figure, 0) + figures[figure]


def _table(group: str, values: dict[Any, dict[str, Any]]) -> list[SlaRow]:
    names = labels(group, values)
    table = [_sla_row(k, names.get(k, str(k)), v) for k, v in values.items()]
    _sort(group, table, names)
    return table


def _group_times(filters: Filters, key: _Key, counted: list[dict[str, Any]], seen: str | None,
                 *, total: bool) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """({group's key as SQL answers it: its percentiles}, the whole set's if `total`).

    `counted` are the groups' rows of the counts query before (their "key" and the
    `_stopped_counts`), read after the snapshot `seen`. On PostgreSQL, with integer keys
    (a period's number, a dimension's id), `_keyed_times` picks every group's ranks from
    one sort a target; it relies on those counts, so its answer is kept only when the
    snapshot is still `seen` after it (always so in a report's own transaction, which is
    repeatable read: `_tuned`). Otherwise, the grouped query.
    """
    if connection.vendor == "postgresql" and all(
            row["key"] is None or type(row["key"]) is int for row in counted):
        answer = _keyed_times(filters, key, counted, total=total)
        if _snapshot() == seen:
            return answer()
    return _grouped_times(filters, key, total=total)


def _keyed_times(filters: Filters, key: _Key, counted: list[dict[str, Any]], *,
                 total: bool) -> Any:
    """One sort a target (`KeyedPercentiles`), and the whole set's percentiles if `total`,
    then in two arms at once (`at_once`; a table's sorts alone cost more CPU in two scans
    than they saved: docs/PERFORMANCE.md, "Reports"); returns how to read the answer,
    once it is known to be consistent."""
    ordered = sorted(counted, key=lambda row: -1 if row["key"] is None else row["key"])
    picked: dict[str, list[dict[str, Any]]] = {}
    sorts: list[tuple[int, dict[str, Any]]] = []  # (values sorted, aggregates sharing a sort)
    for prefix, _name in TARGETS:
        groups = [row for row in ordered if row[f"{prefix}_n"]]
        if not groups:
            continue
        counts = [row[f"{prefix}_n"] for row in groups]
        picked[prefix] = groups
        sorts.append((sum(counts), {prefix: KeyedPercentiles(
            key.expression, F(f"{prefix}_seconds"), fractions_for(counts, SHARES))}))
        if total:
            sorts.append((sum(counts), _time_aggregates(prefix)))
    arms: list[dict[str, Any]] = [{}, {}] if total else [{}]
    weights = [0] * len(arms)
    for weight, aggregates in sorted(sorts, key=lambda sort: -sort[0]):
        lighter = weights.index(min(weights))  # the heaviest sorts first, each to the lighter arm
        arms[lighter].update(aggregates)
        weights[lighter] += weight
    answer = at_once(filters.measures(), [arm for arm in arms if arm])

    def read() -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
        times: dict[Any, dict[str, Any]] = {row["key"]: {} for row in counted}
        for prefix, groups in picked.items():
            values = iter(answer[prefix])
            for row in groups:
                for share in SHARES:
                    times[row["key"]][_share_name(prefix, share)] = float(
                        unkeyed(next(values), row["key"]))
        whole = {name: answer.get(name) for name in _time_aggregates()} if total else {}
        return times, whole

    return read


def _grouped_times(filters: Filters, key: _Key, *, total: bool) -> tuple[
        dict[Any, dict[str, Any]], dict[str, Any]]:
    """The percentiles grouped by the key in SQL (ordered-set aggregates over rows sorted
    by the group, in parallel workers on PostgreSQL: `_sorted_in_parallel`)."""
    grouped = (filters.measures().values(key=key.expression)
               .annotate(n=Count("pk"), **_time_aggregates()))
    sql, params = grouped.query.sql_with_params()
    if total and connection.vendor == "postgresql" and sql.endswith(" GROUP BY 1"):
        with _sorted_in_parallel(), connection.cursor() as cursor:
            cursor.execute(sql.removesuffix(" GROUP BY 1") + " GROUP BY ROLLUP(1)", params)
            columns = [c.name for c in cursor.description]
            rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
        # ROLLUP's grand total has a NULL key, as may the group of tickets without the
        # dimension (unassigned...): the total is the larger (equal only when both are
        # the same set of tickets, and then the same figures).
        whole = max((r for r in rows if r["key"] is None), key=lambda r: r["n"])
        rows.remove(whole)
        return {r["key"]: r for r in rows}, whole
    with _sorted_in_parallel():
        times = {v["key"]: dict(v) for v in grouped}
    return times, filters.measures().aggregate(**_time_aggregates()) if total else {}


def _sort(group: str, table: list[SlaRow], names: dict[Any, str]) -> None:
    """Periods in time order, priorities by rank, the rest by name; "none" last."""
    if group in PERIODS:
        table.sort(key=lambda r: r.key)
        return
    ranks: dict[Any, int] = {}
    if group == "priority":
        ranks = dict(Priority.objects.filter(pk__in=[r.key for r in table if r.key])
                     .values_list("pk", "rank"))
    # The key last: rows of one name come in one order whichever way they were counted.
    table.sort(key=lambda r: (r.key is None, ranks.get(r.key, 0), names.get(r.key, ""),
                              "" if r.key is None else r.key))


# --------------------------------------------------------------------------- KPIs


@dataclass
class KpiFigure:
    kpi: KpiTarget
    numerator: int
    denominator: int

    @property
    def actual(self) -> float | None:
        return 100.0 * self.numerator / self.denominator if self.denominator else None

    @property
    def target(self) -> float:
        return float(self.kpi.target_percent)

    @property
    def ok(self) -> bool | None:
        if self.actual is None:
            return None
        return self.actual <= self.target if self.kpi.at_most else self.actual >= self.target


def _kpi_scope(kpi: KpiTarget) -> tuple[Q, str | None]:
    """The measure rows a KPI counts (its channel, its priority) and the prefix of the
    target it measures (None: not a target's share)."""
    scope = Q()
    if kpi.channel:
        scope &= Q(channel=kpi.channel)
    if kpi.priority_id:
        scope &= Q(priority_id=kpi.priority_id)
    m = KpiTarget.Measure
    prefix = {m.FIRST_RESPONSE_MET: "fr", m.RESOLUTION_PLAN_MET: "rp",
              m.RESOLUTION_MET: "res"}.get(kpi.measure)  # type: ignore[call-overload]
    return scope, prefix


def _kpi_fraction(kpi: KpiTarget, now: datetime) -> tuple[Any, Any] | None:
    """(numerator, denominator) aggregates of a KPI over measure rows; None for survey KPIs."""
    scope, prefix = _kpi_scope(kpi)
    m = KpiTarget.Measure
    if prefix is not None:
        met = Q(**{f"{prefix}_state": MeasureState.MET})
        return (Count("pk", filter=scope & met),
                Count("pk", filter=scope & (met | breached_q(prefix, now))))
    if kpi.measure == m.ANSWERED_NEXT_BUSINESS_DAY:
        on_time = Q(first_response_at__lte=F("answer_due_at"))
        late = (Q(first_response_at__gt=F("answer_due_at"))
                | Q(first_response_at__isnull=True, answer_due_at__lt=now))
        return Count("pk", filter=scope & on_time), Count("pk", filter=scope & (on_time | late))
    if kpi.measure == m.REOPEN_RATE:
        resolved = Q(first_resolved_at__isnull=False)
        return (Count("pk", filter=scope & resolved & Q(reopens__gt=0)),
                Count("pk", filter=scope & resolved))
    return None


def _kpi_late(kpi: KpiTarget, now: datetime) -> Q | None:
    """The part of a KPI's denominator that `now` decides (rollup.py counts the rest ahead):
    the scope's running targets past due, or its unanswered tickets past due."""
    scope, prefix = _kpi_scope(kpi)
    m = KpiTarget.Measure
    if prefix is not None:
        return scope & Q(**{f"{prefix}_state": MeasureState.RUNNING, f"{prefix}_due_at__lt": now})
    if kpi.measure == m.ANSWERED_NEXT_BUSINESS_DAY:
        return scope & Q(first_response_at__isnull=True, answer_due_at__lt=now)
    return None


def kpi_figures(filters: Filters, *, now: datetime,
                fractions: dict[int, tuple[int, int]] | None = None,
                kpis: list[KpiTarget] | None = None) -> list[KpiFigure]:
    """Every active KPI target against its actual figure over the filtered set."""
    if kpis is None:
        kpis = list(KpiTarget.objects.filter(is_active=True))
    if fractions is None:
        _totals, fractions = sla_totals(filters, now=now, kpis=kpis)
    figures = []
    survey_kpis = [k for k in kpis if k.measure == KpiTarget.Measure.SATISFACTION_POSITIVE]
    survey_values: dict[str, Any] = {}
    if survey_kpis:
        aggs = {}
        for kpi in survey_kpis:
            scope = Q(rating__isnull=False)
            if kpi.channel:
                scope &= Q(ticket__channel=kpi.channel)
            if kpi.priority_id:
                scope &= Q(priority_id=kpi.priority_id)
            aggs[f"k{kpi.pk}_num"] = Count("pk", filter=scope & Q(rating=Rating.POSITIVE))
            aggs[f"k{kpi.pk}_den"] = Count("pk", filter=scope)
        survey_values = filters.surveys().aggregate(**aggs)
    for kpi in kpis:
        if kpi.pk in fractions:
            num, den = fractions[kpi.pk]
        else:
            num = survey_values.get(f"k{kpi.pk}_num") or 0
            den = survey_values.get(f"k{kpi.pk}_den") or 0
        figures.append(KpiFigure(kpi, num, den))
    return figures


# --------------------------------------------------------------------------- satisfaction


@dataclass
class SatisfactionRow:
    key: Any
    label: str
    asked: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0

    @property
    def answered(self) -> int:
        return self.positive + self.neutral + self.negative

    @property
    def response_rate(self) -> float | None:
        return 100.0 * self.answered / self.asked if self.asked else None

    @property
    def positive_share(self) -> float | None:
        return 100.0 * self.positive / self.answered if self.answered else None

    @property
    def net(self) -> float | None:
        """Positive minus negative, as a share of the answers (-100 to 100)."""
        return 100.0 * (self.positive - self.negative) / self.answered if self.answered else None


_SURVEY_FIELD = {"agent": "assignee_id", "team": "team_id", "organisation": "organisation_id",
                 "category": "category_id", "priority": "priority_id"}


def _satisfaction_aggregates() -> dict[str, Any]:
    return {"asked": Count("pk"),
            "positive": Count("pk", filter=Q(rating=Rating.POSITIVE)),
            "neutral": Count("pk", filter=Q(rating=Rating.NEUTRAL)),
            "negative": Count("pk", filter=Q(rating=Rating.NEGATIVE))}


def satisfaction_table(filters: Filters, group: str) -> list[SatisfactionRow]:
    key = (_key(group, filters, "resolved_at") if group in PERIODS
           else _Key(F(_SURVEY_FIELD[group])))
    # No ORDER BY: sorting 700,000 rows to group them costs more than hashing them into a
    # few groups and sorting those here.
    qs = (filters.surveys().values(key=key.expression).annotate(**_satisfaction_aggregates())
          .order_by())
    with _tuned(), _hashed():
        rows: list[tuple[Any, Any]] = [(key.read(v["key"]), v) for v in qs]
    names = labels(group, [k for k, _v in rows])
    table = [SatisfactionRow(key=k, label=names.get(k, str(k)), asked=v["asked"],
                             positive=v["positive"], neutral=v["neutral"],
                             negative=v["negative"]) for k, v in rows]
    if group in PERIODS:
        table.sort(key=lambda r: r.key)
    else:
        table.sort(key=lambda r: (r.key is None, r.label))
    return table


def satisfaction_totals(filters: Filters) -> SatisfactionRow:
    v = filters.surveys().aggregate(**_satisfaction_aggregates())
    return SatisfactionRow(key=None, label=str(_("All")), asked=v["asked"] or 0,
                           positive=v["positive"] or 0, neutral=v["neutral"] or 0,
                           negative=v["negative"] or 0)


def answers(filters: Filters, *, face: str = "",
            commented: bool = False) -> QuerySet[SatisfactionSurvey]:
    """The answered surveys behind a satisfaction figure, newest first."""
    qs = filters.surveys().filter(rating__isnull=False)
    if face in RATING_BY_FACE:
        qs = qs.filter(rating=RATING_BY_FACE[face])
    if commented:
        qs = qs.exclude(comment="")
    return qs.select_related("ticket", "organisation", "assignee__user").order_by(
        "-resolved_at", "-pk")


# --------------------------------------------------------------------------- drill-down


def _shows(now: datetime) -> dict[str, tuple[Any, Q]]:
    shows: dict[str, tuple[Any, Q]] = {"tickets": (_("All tickets"), Q())}
    for prefix, name in TARGETS:
        shows[f"{prefix}_met"] = (_("%(t)s met") % {"t": _target_label(name)},
                                  Q(**{f"{prefix}_state": MeasureState.MET}))
        shows[f"{prefix}_breached"] = (_("%(t)s breached") % {"t": _target_label(name)},
                                       breached_q(prefix, now))
    any_breach = breached_q("fr", now) | breached_q("rp", now) | breached_q("res", now)
    shows.update({
        "breached": (_("Any target breached"), any_breach),
        "resolved": (_("Resolved at least once"), Q(first_resolved_at__isnull=False)),
        "reopened": (_("Reopened"), Q(reopens__gt=0, first_resolved_at__isnull=False)),
        "paused_customer": (_("Waited on the customer"), Q(paused_customer_seconds__gt=0)),
        "paused_third_party": (_("Waited on a third party"), Q(paused_third_party_seconds__gt=0)),
        "escalated_tier2": (_("Escalated to tier 2"), Q(escalations_tier2__gt=0)),
        "escalated_tier3": (_("Escalated to tier 3"), Q(escalations_tier3__gt=0)),
        "escalated_customer": (_("Escalated by the customer"), Q(escalations_customer__gt=0)),
        "answered_late": (_("Not answered by the next business day"),
                          Q(first_response_at__gt=F("answer_due_at"))
                          | Q(first_response_at__isnull=True, answer_due_at__lt=now)),
    })
    return shows


def _target_label(name: str) -> str:
    from tierdesk.sla.models import TARGET_LABELS

    return str(TARGET_LABELS[name])


def show_choices(now: datetime) -> list[tuple[str, str]]:
    return [(k, str(label)) for k, (label, _q) in _shows(now).items()]


def drill(filters: Filters, show: str, *, now: datetime) -> QuerySet[TicketMeasure]:
    """The tickets behind a figure, newest first (a queryset: the view pages it)."""
    _label, q = _shows(now).get(show, _shows(now)["tickets"])
    return (filters.measures().filter(q)
            .select_related("ticket", "ticket__organisation", "ticket__priority")
            .order_by("-created_at", "-ticket_id"))


# --------------------------------------------------------------------------- labels


def labels(group: str, keys: Iterable[Any]) -> dict[Any, str]:
    """Readable names for a group's keys (dimension tables are small: one query each)."""
    keys = list(keys)
    wanted = [k for k in keys if k is not None]
    out: dict[Any, str] = {}
    if group == "month":
        out = {k: f"{k:%Y-%m}" for k in wanted}
    elif group == "week":
        out = {k: f"{k:%G-W%V}" for k in wanted}
    elif group == "day":
        out = {k: k.isoformat() for k in wanted}
    elif group == "priority":
        out = dict(Priority.objects.filter(pk__in=wanted).values_list("pk", "name"))
    elif group == "category":
        out = {c.pk: c.path for c in Category.objects.select_related("parent__parent")
               .filter(pk__in=wanted)}
    elif group == "organisation":
        out = dict(Organisation.objects.filter(pk__in=wanted).values_list("pk", "name"))
    elif group == "plan":
        out = dict(Plan.objects.filter(pk__in=wanted).values_list("pk", "name"))
    elif group == "team":
        out = dict(Team.objects.filter(pk__in=wanted).values_list("pk", "name"))
    elif group == "agent":
        out = {a.pk: str(a) for a in Agent.objects.select_related("user").filter(pk__in=wanted)}
    elif group == "tier":
        out = {k: str(_("Tier %(n)s") % {"n": k}) for k in wanted}
    elif group == "channel":
        out = {k: str(Channel(k).label) if k in Channel.values else k for k in wanted}
    if None in keys:
        out[None] = str({"agent": _("Unassigned"), "team": _("No team"),
                         "category": _("No category")}.get(group, _("None")))
    return out


def target_names() -> list[str]:
    return [name for _prefix, name in TARGETS]


def row_fields() -> list[str]:
    return [f.name for f in fields(SlaRow)]
