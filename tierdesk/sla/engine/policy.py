"""SLA policies: a calendar, target lengths per target and priority, pause statuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

from .calendar import Calendar
from .instants import MICROSECOND, SECOND_US
from .spec import check_keys

TARGET_NAMES = ("first_response", "resolution_plan", "resolution")
STATUSES = frozenset(
    {"new", "open", "in_progress", "waiting_customer", "waiting_third_party", "resolved", "closed"}
)
# Entering one of these stops the resolution clock (and ends the other two).
DONE_STATUSES = frozenset({"resolved", "closed"})

COUNTING, PAUSED, DONE = 0, 1, 2

RuleKind = Literal["minutes", "business_days", "end_of_business_day"]


@dataclass(frozen=True, slots=True)
class TargetRule:
    """How long a target is: ``amount`` minutes, business days, or ends of business day.

    The two day forms are turned into a fixed length at the ticket's
    ``created`` instant (see :meth:`length_us`); from then on every form is a
    length of business time, which pauses extend.
    """

    kind: RuleKind
    amount: int

    def length_us(self, calendar: Calendar, created_us: int) -> int:
        """The target's length in business µs for a ticket created at ``created_us``.

        minutes: amount × 60 s.

        business_days (the same point of business time N open days later):
          1. Take created's local date and wall time. If the date has no
             hours, start instead at 0 of the next open date.
          2. The point is how much of the date's open wall-clock time lies
             before created (all of it when created is after the close).
          3. Go N open dates further; the deadline is the wall time at the
             same point of that date's hours (its close if it is shorter).
          4. The length is the business time from created to the deadline:
             72 h for 3 days on a 24×7 calendar (71 or 73 h across a DST change).

        end_of_business_day (by the close of the Nth open day after created's date):
          1. Go N open dates after created's local date.
          2. The length is the business time from created to that date's last close.
        """
        if self.kind == "minutes":
            return self.amount * 60 * SECOND_US
        local = calendar.from_us(created_us)
        day = local.date()
        if self.kind == "end_of_business_day":
            target_day = calendar.open_day_after(day, self.amount)
            close = calendar.day_hours(target_day)[-1][1]
            deadline = calendar.local_us(target_day, close * SECOND_US)
            return calendar.elapsed_us(created_us, max(deadline, created_us))
        wall_us = (
            (local.hour * 3600 + local.minute * 60 + local.second) * SECOND_US + local.microsecond
        )
        hours = calendar.day_hours(day)
        if hours:
            point = sum(max(0, min(wall_us, b * SECOND_US) - a * SECOND_US) for a, b in hours)
        else:
            day, point = calendar.open_day_after(day, 1), 0
        target_day = calendar.open_day_after(day, self.amount)
        deadline_wall = 0
        for a, b in calendar.day_hours(target_day):
            deadline_wall = a * SECOND_US + point
            if deadline_wall <= b * SECOND_US:
                break
            point -= (b - a) * SECOND_US
            deadline_wall = b * SECOND_US
        deadline = calendar.local_us(target_day, deadline_wall)
        # A later local date is a later instant, except around a backward
        # offset change at midnight; never let that make a negative span.
        return calendar.elapsed_us(created_us, max(deadline, created_us))

    def describe(self) -> str:
        if self.kind == "minutes":
            return f"{self.amount} min"
        if self.kind == "business_days":
            return f"{self.amount} business day{'s' if self.amount != 1 else ''} from created"
        return f"end of business day {self.amount} after created"


def _parse_rule(value: object, where: str) -> TargetRule:
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"{where}: a target must be a positive number of minutes, got {value}")
        return TargetRule("minutes", value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, amount),) = value.items()
        if kind in ("business_days", "end_of_business_day"):
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
                raise ValueError(f"{where}.{kind}: expected a whole number >= 1, got {amount!r}")
            return TargetRule(kind, amount)
    raise ValueError(
        f"{where}: expected minutes (an int), {{'business_days': N}} or "
        f"{{'end_of_business_day': N}}, got {value!r}"
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """A calendar, the targets in force per priority, and the statuses that pause the clocks."""

    calendar: Calendar
    # target name -> priority -> rule; a priority missing from a target has no such target.
    targets: Mapping[str, Mapping[str, TargetRule]]
    pause_statuses: frozenset[str]
    # The targets the policy has, in TARGET_NAMES order: the clocks of a replay.
    clock_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # priority -> each clock's length (µs, None if the priority lacks it), for
    # the priorities whose lengths do not depend on created (minutes only).
    _fixed: dict[str, tuple[int | None, ...]] = field(init=False, repr=False, compare=False)
    # The same as timedeltas, for evaluate()'s fast pass.
    _fixed_td: dict[str, tuple[timedelta | None, ...]] = field(init=False, repr=False, compare=False)
    # Each status's kind for evaluate()'s fast pass: COUNTING, PAUSED (a pause
    # status) or DONE (resolved, closed).
    status_kinds: dict[str, int] = field(init=False, repr=False, compare=False)
    # Each clock's index in clock_names.
    clock_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clock_names", tuple(n for n in TARGET_NAMES if n in self.targets))
        object.__setattr__(self, "_fixed", {})
        object.__setattr__(self, "_fixed_td", {})
        object.__setattr__(self, "status_kinds", {
            status: DONE if status in DONE_STATUSES else PAUSED if status in self.pause_statuses else COUNTING
            for status in STATUSES
        })
        object.__setattr__(self, "clock_index", {name: c for c, name in enumerate(self.clock_names)})

    def limits_us(self, priority: str, created_us: int) -> tuple[int | None, ...]:
        """Each clock's target length (µs) under ``priority`` for a ticket created at
        ``created_us``, in ``clock_names`` order; None where the priority lacks the target."""
        limits = self._fixed.get(priority)
        if limits is not None:
            return limits
        rules = [self.targets[name].get(priority) for name in self.clock_names]
        limits = tuple(
            None if rule is None else rule.length_us(self.calendar, created_us) for rule in rules
        )
        # Cache only the priorities some target has (they are few; any string
        # may come in) and whose lengths are the same for every ticket.
        if any(rules) and all(rule is None or rule.kind == "minutes" for rule in rules):
            self._fixed[priority] = limits
        return limits

    def limits_td(self, priority: str, created: timedelta) -> tuple[timedelta | None, ...]:
        """:meth:`limits_us` as timedeltas, for ``created`` as a timedelta since the epoch."""
        limits = self._fixed_td.get(priority)
        if limits is not None:
            return limits
        limits = tuple(None if limit is None else MICROSECOND * limit
                       for limit in self.limits_us(priority, created // MICROSECOND))
        if priority in self._fixed:
            self._fixed_td[priority] = limits
        return limits

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Policy:
        """Build a policy; ``spec["calendar"]`` is a calendar spec or a Calendar to share.

        ``{"calendar": {...}, "targets": {"first_response": {"high": 120, "low":
        {"end_of_business_day": 1}}, "resolution": {...}}, "pause_statuses":
        ["waiting_customer", "waiting_third_party"]}``
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"policy: expected a mapping, got {spec!r}")
        check_keys(spec, {"calendar", "targets"}, {"pause_statuses"}, "policy")
        calendar = spec["calendar"]
        if not isinstance(calendar, Calendar):
            calendar = Calendar.from_dict(calendar)

        targets_spec = spec["targets"]
        if not isinstance(targets_spec, Mapping):
            raise ValueError(f"targets: expected a mapping of target to priorities, got {targets_spec!r}")
        targets: dict[str, Mapping[str, TargetRule]] = {}
        for name, per_priority in targets_spec.items():
            if name not in TARGET_NAMES:
                raise ValueError(f"targets: unknown target {name!r} (use {', '.join(TARGET_NAMES)})")
            if not isinstance(per_priority, Mapping):
                raise ValueError(f"targets.{name}: expected a mapping of priority to target")
            rules = {}
            for priority, value in per_priority.items():
                if not isinstance(priority, str):
                    raise ValueError(f"targets.{name}: priority {priority!r} must be a string")
                rules[priority] = _parse_rule(value, f"targets.{name}.{priority}")
            targets[name] = MappingProxyType(rules)

        pauses = spec.get("pause_statuses", [])
        if isinstance(pauses, str) or not all(isinstance(p, str) for p in pauses):
            raise ValueError(f"pause_statuses: expected a list of statuses, got {pauses!r}")
        for status in pauses:
            if status not in STATUSES or status in DONE_STATUSES:
                raise ValueError(
                    f"pause_statuses: {status!r} cannot pause a clock "
                    f"(use some of {', '.join(sorted(STATUSES - DONE_STATUSES))})"
                )
        return cls(calendar, MappingProxyType(targets), frozenset(pauses))
