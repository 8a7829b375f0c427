"""Target states from a ticket's event timeline: a pure function of (policy, events, now)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from .instants import EPOCH, MICROSECOND, to_us
from .policy import DONE_STATUSES, STATUSES, TARGET_NAMES, Policy

State = Literal["running", "paused", "met", "breached"]
EVENT_TYPES = ("created", "status", "priority", "first_response", "resolution_plan")


@dataclass(frozen=True, slots=True)
class TargetState:
    """Where one target stands at ``now``.

    state: ``breached`` if elapsed ever exceeded the target in force (sticky),
      else ``met`` if stopped, else ``paused`` if in a pause status, else ``running``.
    elapsed: business time counted so far.
    due: when running only, the instant elapsed reaches the target if nothing changes.
    met_at: the instant the target stopped (for resolution, the last entry into
      resolved/closed; None while it runs again after a reopen).
    target: the target length in force (the current priority's).
    breached_at: the instant from which elapsed exceeds the target (elapsed
      equals the target there and is more at any later counted moment), or None.
    """

    state: State
    elapsed: timedelta
    due: datetime | None
    met_at: datetime | None
    target: timedelta
    breached_at: datetime | None


class Clock:
    """The running account of one target while the timeline is replayed (µs)."""

    __slots__ = ("breached_at", "elapsed", "limit", "mark", "name", "paused", "since", "stopped_at")

    def __init__(self, name: str, created_us: int, created_position: int) -> None:
        self.name = name
        self.elapsed = 0
        # The current priority's target length, None when it has no such target.
        self.limit: int | None = None
        # Stopped since this instant: for good for first_response and
        # resolution_plan; for resolution, until the ticket is reopened.
        self.stopped_at: int | None = None
        self.breached_at: int | None = None
        # Business time that passed in each pause status while not stopped.
        self.paused: dict[str, int] = {}
        # Since when the clock has been counting (or paused) without a change
        # that matters to it; None while stopped. Time is added in whole runs.
        self.since: int | None = created_us
        # The calendar's running total of open time at since.
        self.mark = created_position


# Called for every stretch [a, b) between two events (or the last one and
# now) with the status, the priority and the clocks not stopped over it.
Observer = Callable[[int, int, str, str, list[Clock]], None]


class Replay(NamedTuple):
    """The clocks at now, and the ticket's status and priority then."""

    clocks: list[Clock]
    status: str
    priority: str
    created_us: int
    now_us: int


def _parse_events(events: Iterable[Mapping[str, Any]]) -> list[tuple[int, str, str | None]]:
    """Check the events and turn them into ``(µs, type, status or priority)``.

    Error messages are built only on the error path: this runs for every
    event of every evaluation.
    """
    parsed: list[tuple[int, str, str | None]] = []
    previous = -(2**63)
    for index, event in enumerate(events):
        try:
            at, kind = event["at"], event["type"]
        except (KeyError, TypeError):
            raise ValueError(f"events[{index}]: an event needs 'at' and 'type', got {event!r}") from None
        try:  # to_us() inline: this runs for every event of every evaluation
            t = (at - EPOCH) // MICROSECOND
        except TypeError:
            t = to_us(at, f"events[{index}].at")
        if t < previous:
            raise ValueError(
                f"events[{index}]: at {at!r} is before the event before it "
                "(events must be in time order)"
            )
        previous = t
        value = None
        if kind == "status":
            value = event.get("status")
            if value not in STATUSES:
                raise ValueError(
                    f"events[{index}]: unknown status {value!r} "
                    f"(use one of {', '.join(sorted(STATUSES))})"
                )
        elif kind == "priority" or kind == "created":
            value = event.get("priority")
            if not isinstance(value, str):
                raise ValueError(
                    f"events[{index}]: a {kind!r} event needs a 'priority' string, got {value!r}"
                )
        elif kind != "first_response" and kind != "resolution_plan":
            raise ValueError(
                f"events[{index}]: unknown event type {kind!r} (use one of {', '.join(EVENT_TYPES)})"
            )
        if (kind == "created") != (index == 0):
            raise ValueError(
                f"events[{index}]: the first event, and only it, must be 'created' (got {kind!r})"
            )
        parsed.append((t, kind, value))
    if not parsed:
        raise ValueError("events: the timeline is empty; it must start with 'created'")
    return parsed


def replay(
    policy: Policy,
    events: Iterable[Mapping[str, Any]],
    now: datetime,
    *,
    observe: Observer | None = None,
    track_pauses: bool = False,
) -> Replay:
    """Replay the timeline up to ``now`` and return each target's clock.

    1. Check the events (time order, types, values), and now (not before
       created, not before the last event); place every event instant on the
       calendar's running total of open time, so that the business time
       between two of them is a subtraction.
    2. Each clock runs from created; it counts the business time of a run
       when the run ends, that is at any event that changes whether it counts
       (a pause status entered or left, resolved/closed entered or left, its
       own stop) or its target (a priority change), and at now. A run that
       takes elapsed past the target breaches the clock from the instant the
       target is reached (the next open instant after it, where elapsed starts
       to exceed it).
    3. Apply the event: entering resolved/closed stops every clock
       (resolution until a status leaves the set again); first_response and
       resolution_plan stop their clock; a priority change sets each clock's
       target and breaches, at once, one whose elapsed is already past it.
    """
    parsed = _parse_events(events)
    now_us = to_us(now, "now")
    created_us = parsed[0][0]
    if now_us < created_us:
        raise ValueError(f"now {now!r} is before the ticket was created")
    if now_us < parsed[-1][0]:
        raise ValueError(f"events after now {now!r}: the timeline cannot hold the future")
    parsed.append((now_us, "now", None))
    calendar = policy.calendar
    positions = calendar.positions_us([t for t, _, _ in parsed])

    pauses = policy.pause_statuses
    targets = policy.targets
    clocks = [Clock(name, created_us, positions[0]) for name in TARGET_NAMES if name in targets]
    by_name = {clock.name: clock for clock in clocks}
    # Lengths are fixed at created (the day-based forms depend on it), per
    # priority, and only worked out for the priorities the ticket has.
    lengths: dict[tuple[str, str], int | None] = {}

    def set_priority(priority: str) -> None:
        for clock in clocks:
            key = (clock.name, priority)
            if key not in lengths:
                rule = targets[clock.name].get(priority)
                lengths[key] = None if rule is None else rule.length_us(calendar, created_us)
            clock.limit = lengths[key]

    def settle(t: int, position: int, status: str) -> None:
        """End, at t, the current run of every clock not stopped, under status."""
        counting = status not in pauses
        for clock in clocks:
            since = clock.since
            if since is None:
                continue
            business = position - clock.mark
            clock.since, clock.mark = t, position
            if not business:
                continue
            if not counting:
                if track_pauses:
                    clock.paused[status] = clock.paused.get(status, 0) + business
                continue
            limit = clock.limit
            if limit is not None and clock.breached_at is None and clock.elapsed + business > limit:
                reached = calendar.add_us(since, limit - clock.elapsed)
                clock.breached_at = calendar.next_open_us(reached)
            clock.elapsed += business

    status, priority = "new", parsed[0][2]
    assert priority is not None
    set_priority(priority)
    previous = created_us
    for index in range(1, len(parsed)):
        t, kind, value = parsed[index]
        if observe is not None and t > previous:
            observe(previous, t, status, priority, [c for c in clocks if c.stopped_at is None])
        previous = t
        if kind == "status":
            assert value is not None
            if value == status:
                continue
            was_done, is_done = status in DONE_STATUSES, value in DONE_STATUSES
            if was_done != is_done or status in pauses or value in pauses:
                settle(t, positions[index], status)
                if is_done and not was_done:
                    for clock in clocks:
                        if clock.stopped_at is None:
                            clock.stopped_at, clock.since = t, None
                elif was_done and not is_done and "resolution" in by_name:
                    resolution = by_name["resolution"]
                    resolution.stopped_at, resolution.since, resolution.mark = None, t, positions[index]
            status = value
        elif kind == "priority":
            assert value is not None
            settle(t, positions[index], status)
            priority = value
            set_priority(priority)
            for clock in clocks:
                if clock.limit is not None and clock.breached_at is None and clock.elapsed > clock.limit:
                    clock.breached_at = t
        elif kind == "now":
            settle(t, positions[index], status)
        else:  # first_response or resolution_plan
            stopping = by_name.get(kind)
            if stopping is not None and stopping.stopped_at is None:
                settle(t, positions[index], status)
                stopping.stopped_at, stopping.since = t, None
    return Replay(clocks, status, priority, created_us, now_us)


def states_of(policy: Policy, result: Replay) -> dict[str, TargetState]:
    """The TargetState of each clock whose target the current priority has."""
    calendar = policy.calendar
    paused = result.status in policy.pause_statuses
    # Several targets often stop at one instant (resolving stops them all).
    instants: dict[int, datetime] = {}
    states = {}
    for clock in result.clocks:
        limit = clock.limit
        if limit is None:
            continue
        due = None
        if clock.breached_at is not None:
            state: State = "breached"
        elif clock.stopped_at is not None:
            state = "met"
        elif paused:
            state = "paused"
        else:
            state = "running"
            due = calendar.from_us(calendar.add_us(result.now_us, limit - clock.elapsed))
        met_at = breached_at = None
        if clock.stopped_at is not None:
            met_at = instants.get(clock.stopped_at) or calendar.from_us(clock.stopped_at)
            instants[clock.stopped_at] = met_at
        if clock.breached_at is not None:
            breached_at = instants.get(clock.breached_at) or calendar.from_us(clock.breached_at)
            instants[clock.breached_at] = breached_at
        states[clock.name] = TargetState(
            state, MICROSECOND * clock.elapsed, due, met_at, MICROSECOND * limit, breached_at
        )
    return states


def evaluate(
    policy: Policy, events: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, TargetState]:
    """Each target's state at ``now``: ``{target name: TargetState}``.

    ``events`` are ``{"at": aware datetime, "type": ...}`` in time order:
    ``created`` (with ``priority``), ``status`` (with ``status``), ``priority``
    (with ``priority``), ``first_response``, ``resolution_plan``. Raises
    ValueError for a malformed or out-of-order timeline, events after now, or
    now before created.
    """
    return states_of(policy, replay(policy, events, now))


def instant_at(
    policy: Policy, state: TargetState, now: datetime, share: float | Fraction = 0.75
) -> datetime | None:
    """When a running target's elapsed reaches ``share`` of its target (for warnings).

    ``state`` must come from ``evaluate(policy, events, now)`` with the same
    policy and now. Returns ``calendar.add(now, share × target − elapsed)``
    (rounded up to the µs), or None when the target is not running or that
    instant is not ahead of now.
    """
    ratio = Fraction(share)
    if ratio <= 0:
        raise ValueError(f"share must be more than 0, got {share!r}")
    if state.state != "running":
        return None
    target_us = state.target // MICROSECOND
    threshold = -(-target_us * ratio.numerator // ratio.denominator)  # ceiling, exact
    remaining = threshold - state.elapsed // MICROSECOND
    if remaining <= 0:
        return None
    return policy.calendar.add(now, timedelta(microseconds=remaining))
