"""The SLA clock as data a human can check: stretches, totals, and how each deadline follows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from .instants import MICROSECOND, SECOND_US
from .policy import Policy
from .timeline import TargetState, replay, states_of

StretchKind = Literal["counted", "paused", "outside_hours", "stopped"]
# What a target's column says for a stretch it did not count.
_CELL = {"paused": "paused", "outside_hours": "-", "stopped": "stopped"}


@dataclass(frozen=True, slots=True)
class Stretch:
    """A stretch of time over which nothing changed for any target.

    kind: for the ticket as a whole: ``stopped`` when no target runs, else
      ``paused`` in a pause status (``reason`` holds it), else
      ``outside_hours`` when the calendar is closed, else ``counted``.
    business: the calendar's open time inside the stretch (counted or not).
    targets: each target's own kind over the stretch (``stopped`` for one
      that has stopped while others run); a target counts ``business`` in
      it when its kind is ``counted``.
    """

    start: datetime
    end: datetime
    kind: StretchKind
    status: str
    priority: str
    business: timedelta
    targets: Mapping[str, StretchKind]
    reason: str | None = None

    def counted(self, target: str) -> timedelta:
        """The business time the target counted in this stretch."""
        return self.business if self.targets.get(target) == "counted" else timedelta(0)


@dataclass(frozen=True, slots=True)
class TargetTotals:
    """One target's totals and the derivation of its deadline, in words."""

    name: str
    state: TargetState
    rule: str
    paused: Mapping[str, timedelta]
    deadline: str


@dataclass(frozen=True, slots=True)
class Explanation:
    timezone: str
    created: datetime
    now: datetime
    status: str
    priority: str
    stretches: tuple[Stretch, ...]
    targets: Mapping[str, TargetTotals]

    def render_text(self) -> str:
        """An aligned plain-text table of the stretches, then of the targets."""
        names = list(self.targets)
        lines = [
            f"SLA clock as of {_when(self.now)} ({self.timezone}); created {_when(self.created)}; "
            f"status {self.status}, priority {self.priority}.",
            "",
        ]
        rows = [["From", "To", "Kind", "Status", "Priority", "Business", *names]]
        for stretch in self.stretches:
            kind = f"paused ({stretch.reason})" if stretch.reason else stretch.kind
            cells = [
                _duration(stretch.business) if stretch.targets[name] == "counted"
                else _CELL[stretch.targets[name]]
                for name in names
            ]
            rows.append([
                _when(stretch.start), _when(stretch.end), kind, stretch.status, stretch.priority,
                _duration(stretch.business), *cells,
            ])
        lines += _table(rows, right={5, *range(6, 6 + len(names))})
        lines.append("")
        rows = [["Target", "State", "Elapsed", "Target", "Rule", "Paused"]]
        for totals in self.targets.values():
            paused = ", ".join(f"{reason} {_duration(t)}" for reason, t in totals.paused.items())
            rows.append([
                totals.name, totals.state.state, _duration(totals.state.elapsed),
                _duration(totals.state.target), totals.rule, paused or "-",
            ])
        lines += _table(rows, right={2, 3})
        lines.append("")
        lines += [f"{totals.name}: {totals.deadline}" for totals in self.targets.values()]
        return "\n".join(lines) + "\n"


def explain(policy: Policy, events: Sequence[Mapping[str, Any]], now: datetime) -> Explanation:
    """The clock of ``evaluate(policy, events, now)`` as stretches and totals.

    1. Replay the timeline as evaluate() does, recording each stretch between
       events with the status, priority and the targets not stopped, and the
       business time spent in each pause status.
    2. Split the stretches where targets count at the calendar's open and
       close, so that closed time shows as outside_hours.
    3. Merge neighbours that differ in nothing but their edge, and give each
       target its totals and the derivation of its deadline.
    """
    calendar = policy.calendar
    segments: list[tuple[int, int, str, str, tuple[str, ...]]] = []

    def observe(a: int, b: int, status: str, priority: str, running: tuple[str, ...]) -> None:
        segments.append((a, b, status, priority, running))

    result = replay(policy, events, now, observe=observe, track_pauses=True)
    states = states_of(policy, result)
    all_names = result.names

    raw: list[tuple[int, int, StretchKind, str, str, int, dict[str, StretchKind], str | None]] = []
    for a, b, status, priority, running in segments:
        pieces: list[tuple[int, int, StretchKind, int]] = []
        if not running:
            pieces.append((a, b, "stopped", calendar.elapsed_us(a, b)))
        elif status in policy.pause_statuses:
            pieces.append((a, b, "paused", calendar.elapsed_us(a, b)))
        else:
            cursor = a
            for x, y in calendar.intervals_us(a, b):
                if x > cursor:
                    pieces.append((cursor, x, "outside_hours", 0))
                pieces.append((x, y, "counted", y - x))
                cursor = y
            if cursor < b:
                pieces.append((cursor, b, "outside_hours", 0))
        for x, y, kind, business in pieces:
            kinds: dict[str, StretchKind] = {
                name: kind if name in running else "stopped" for name in all_names
            }
            reason = status if kind == "paused" else None
            raw.append((x, y, kind, status, priority, business, kinds, reason))

    merged: list[list[Any]] = []
    for piece in raw:
        a, b, kind, status, priority, business, target_kinds, reason = piece
        last = merged[-1] if merged else None
        if last is not None and last[1] == a and last[2:5] == [kind, status, priority] and (
            last[6] == target_kinds and last[7] == reason
        ):
            last[1], last[5] = b, last[5] + business
        else:
            merged.append(list(piece))
    stretches = tuple(
        Stretch(
            start=calendar.from_us(a),
            end=calendar.from_us(b),
            kind=kind,
            status=status,
            priority=priority,
            business=MICROSECOND * business,
            targets=target_kinds,
            reason=reason,
        )
        for a, b, kind, status, priority, business, target_kinds, reason in merged
    )

    targets = {}
    for name, paused in zip(result.names, result.paused, strict=True):
        state = states.get(name)
        if state is None:
            continue
        rule = policy.targets[name][result.priority]
        rule_text = f"{result.priority}: {rule.describe()}"
        targets[name] = TargetTotals(
            name=name,
            state=state,
            rule=rule_text,
            paused={reason: MICROSECOND * t for reason, t in paused.items()},
            deadline=_deadline(state, result.status, calendar.timezone),
        )
    return Explanation(
        timezone=calendar.timezone,
        created=calendar.from_us(result.created_us),
        now=calendar.from_us(result.now_us),
        status=result.status,
        priority=result.priority,
        stretches=stretches,
        targets=targets,
    )


def _deadline(state: TargetState, status: str, zone: str) -> str:
    target, elapsed = _duration(state.target), _duration(state.elapsed)
    if state.state == "running":
        assert state.due is not None
        return (
            f"due = now + (target {target} - elapsed {elapsed}) = now + "
            f"{_duration(state.target - state.elapsed)} in business time = {_when(state.due)} {zone}"
        )
    if state.state == "paused":
        return (
            f"paused while {status}: {_duration(state.target - state.elapsed)} of business time "
            f"(target {target} - elapsed {elapsed}) will remain when the clock runs again"
        )
    if state.state == "met":
        assert state.met_at is not None
        return (
            f"met at {_when(state.met_at)} {zone} with elapsed {elapsed} of target {target} "
            f"({_duration(state.target - state.elapsed)} to spare)"
        )
    assert state.breached_at is not None
    text = (
        f"breached at {_when(state.breached_at)} {zone}, where elapsed passed target {target}; "
        f"elapsed now {elapsed}, {_duration(state.elapsed - state.target)} over"
    )
    if state.met_at is not None:
        text += f"; stopped at {_when(state.met_at)} {zone}"
    return text


def _when(instant: datetime) -> str:
    text = f"{instant:%a %Y-%m-%d %H:%M}"
    if instant.second or instant.microsecond:
        text += f":{instant:%S}" + (f".{instant:%f}" if instant.microsecond else "")
    return text


def _duration(delta: timedelta) -> str:
    """Business time as hours and minutes ("27h 05m"): days would hide what a day is."""
    us = delta // MICROSECOND
    sign, us = ("-", -us) if us < 0 else ("", us)
    seconds, micro = divmod(us, SECOND_US)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours}h {minutes:02d}m"
    if seconds or micro:
        text += f" {seconds:02d}" + (f".{micro:06d}" if micro else "") + "s"
    return text


def _table(rows: list[list[str]], *, right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
