"""Percentiles as SQL aggregates, the same figure on PostgreSQL and SQLite.

`Percentile(expr, 0.9)` is the discrete percentile (nearest rank): the smallest
value v such that at least 90% of the values are <= v, i.e. the value at rank
ceil(0.9 × n) in ascending order. PostgreSQL computes it with
`percentile_disc(0.9) WITHIN GROUP (ORDER BY expr)`; SQLite, which has no such
aggregate, with `td_percentile(expr, 0.9)`, registered on each new connection.
NULLs are ignored on both.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Field, FloatField, QuerySet, Value


class Percentile(Aggregate):
    function = "percentile_disc"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, percentile: float, **extra: Any) -> None:
        fraction = float(percentile)
        if not 0 < fraction <= 1:
            raise ValueError("a percentile is a fraction in (0, 1]")
        # A float we made ourselves, written into the SQL: never user input.
        super().__init__(expression, percentile=repr(fraction), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="td_percentile",
                           template="%(function)s(%(expressions)s, %(percentile)s)",
                           **extra_context)


# A group's key goes above the business seconds (a PositiveIntegerField: below 2³¹).
KEY_SHIFT = 1 << 32


class KeyedPercentiles(Aggregate):
    """Many groups' percentiles of one target from one sort (PostgreSQL only).

    `percentile_disc` grouped by a key sorts the rows by the key first and then each
    group's values again; over a million rows the first sort cost more than the
    percentiles. Here the values are keyed instead: `key × 2³² + seconds` puts every
    group's values in one run of the sorted whole, group after group, and one
    aggregate with no GROUP BY picks the ranks asked for (`fractions`, as many as
    wanted: percentile_disc sorts once for all of them). `fractions_for` works the
    fractions out from each group's count; `unkeyed` reads an answer back. A NULL key
    (tickets without the dimension) sorts as -1.
    """

    name = "KeyedPercentiles"
    output_field = Field()  # bigint[]: the driver's list of ints, as they are

    def __init__(self, key: Any, expression: Any, fractions: list[float], **extra: Any) -> None:
        if not fractions:
            raise ValueError("no fractions to pick")
        # Floats we worked out ourselves, written into the SQL: never user input.
        self.fractions = "ARRAY[" + ", ".join(repr(float(f)) for f in fractions) + "]::float8[]"
        super().__init__(key, expression, **extra)

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra_context: Any) -> Any:
        if connection.vendor != "postgresql":
            raise NotImplementedError("keyed percentiles are PostgreSQL's")
        key, value = (compiler.compile(e) for e in self.source_expressions)
        return (f"percentile_disc({self.fractions}) WITHIN GROUP (ORDER BY "
                f"COALESCE({key[0]}, -1)::bigint * {KEY_SHIFT} + {value[0]})",
                (*key[1], *value[1]))


def fractions_for(counts: list[int], shares: tuple[float, ...]) -> list[float]:
    """The fractions that make percentile_disc, over the keyed values of groups of
    `counts` values (in key order), answer each group's nearest rank for each share.

    percentile_disc(f) over N values answers the value at position ceil(f × N); a
    group's rank r (ceil(share × n), at least 1: `nearest_rank`) after `offset`
    values of the groups before it is position offset + r, which (offset + r − ½) / N
    hits exactly: the half keeps ceil off a neighbour through the rounding of f × N.
    """
    total = sum(counts)
    fractions: list[float] = []
    offset = 0
    for n in counts:
        for share in shares:
            rank = max(math.ceil(share * n), 1)
            fractions.append((offset + rank - 0.5) / total)
        offset += n
    return fractions


def unkeyed(value: int, key: int | None) -> int:
    """The seconds of a keyed value, checked to belong to `key`'s group."""
    group, seconds = divmod(value, KEY_SHIFT)
    if group != (-1 if key is None else key):
        raise ValueError(f"value {value} is not of group {key}")
    return seconds


def at_once(queryset: QuerySet[Any], arms: list[dict[str, Aggregate]]) -> dict[str, Any]:
    """The aggregates of every arm over the queryset's rows, each arm one scan, the arms at
    the same time (PostgreSQL).

    Ordered-set aggregates run in one process: a query of several percentiles sorts
    one target after another on one core. Arms joined by UNION ALL are a Parallel
    Append: each arm (one aggregate query) in its own process, all in one statement,
    so they read one snapshot. Each arm answers one row, as JSON (the arms' columns
    differ). Elsewhere, or with one arm, one query of every aggregate.
    """
    everything = {name: aggregate for arm in arms for name, aggregate in arm.items()}
    if connection.vendor != "postgresql" or len(arms) < 2:
        return queryset.aggregate(**everything) if everything else {}
    parts: list[str] = []
    params: list[Any] = []
    for arm in arms:
        # A constant "group" that Django leaves out of GROUP BY: one row, no GROUP BY.
        if not all(name.isidentifier() for name in arm):
            raise ValueError("an aggregate's name is an identifier")
        sql, arm_params = (queryset.values(_all=Value(1)).annotate(**arm).values(*arm)
                           .query.sql_with_params())
        fields = ", ".join(f"'{name}', s.\"{name}\"" for name in arm)
        parts.append(f"SELECT jsonb_build_object({fields})::text FROM ({sql}) s")  # noqa: S608 - our own identifiers; values are parameters
        params.extend(arm_params)
    answer: dict[str, Any] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for (row,) in cursor.fetchall():
            answer.update(json.loads(row))
    for name, aggregate in everything.items():
        if isinstance(aggregate, Percentile) and answer[name] is not None:  # as the ORM reads it
            answer[name] = float(answer[name])
    return answer


def nearest_rank(values: list[float], fraction: float) -> float | None:
    """The discrete percentile of values (what both databases answer)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


class _SqlitePercentile:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        if value is not None:
            self.values.append(value)
        self.fraction = fraction

    def finalize(self) -> float | None:
        return nearest_rank(self.values, self.fraction)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("td_percentile", 2, _SqlitePercentile)
