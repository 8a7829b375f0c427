"""Percentiles as SQL aggregates, the same figure on PostgreSQL and SQLite.

`Percentile(expr, 0.9)` is the discrete percentile (nearest rank): the smallest
value v such that at least 90% of the values are <= v, i.e. the value at rank
ceil(0.9 × n) in ascending order. PostgreSQL computes it with
`percentile_disc(0.9) WITHIN GROUP (ORDER BY expr)`; SQLite, which has no such
aggregate, with `td_percentile(expr, 0.9)`, registered on each new connection.
NULLs are ignored on both.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Aggregate, FloatField


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
