"""Target states from a ticket's event timeline: a pure function of (policy, events, now)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from .calendar import BLOCK_DAYS, FIRST_BLOCK, LAST_BLOCK
from .instants import EPOCH, MICROSECOND, to_us
from .policy import COUNTING, DONE, DONE_STATUSES, STATUSES, Policy

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


# Called for every stretch [a, b) between two events (or the last one and
# now) with the status, the priority and the names of the targets not stopped
# over it.
Observer = Callable[[int, int, str, str, tuple[str, ...]], None]


class Replay(NamedTuple):
    """Each target's clock at now (µs, lists in ``names`` order), and the ticket's
    status and priority then."""

    names: tuple[str, ...]
    # Business time counted.
    elapsed: list[int]
    # The current priority's target length, None when it has no such target.
    limits: tuple[int | None, ...]
    # Stopped since this instant (None if running): for good for first_response
    # and resolution_plan; for resolution, until the ticket is reopened.
    stopped_at: list[int | None]
    breached_at: list[int | None]
    # Business time that passed in each pause status while not stopped
    # (when asked for with track_pauses).
    paused: list[dict[str, int]]
    status: str
    priority: str
    created_us: int
    now_us: int


def _parse_events(events: Iterable[Mapping[str, Any]]) -> tuple[list[int], list[str], list[str]]:
    """Check the events and turn them into three lists: µs, type, status or priority
    (or "").

    Error messages are built only on the error path: this runs for every
    event of every evaluation.
    """
    times: list[int] = []
    kinds: list[str] = []
    values: list[str] = []
    add_time, add_kind, add_value = times.append, kinds.append, values.append
    epoch, unit, statuses = EPOCH, MICROSECOND, STATUSES  # locals: this runs for every event
    previous = -(2**63)
    index = -1
    for index, event in enumerate(events):
        try:
            at, kind = event["at"], event["type"]
        except (KeyError, TypeError):
            raise ValueError(f"events[{index}]: an event needs 'at' and 'type', got {event!r}") from None
        try:  # to_us() inline
            t = (at - epoch) // unit
        except TypeError:
            t = to_us(at, f"events[{index}].at")
        if t < previous:
            raise ValueError(
                f"events[{index}]: at {at!r} is before the event before it "
                "(events must be in time order)"
            )
        previous = t
        value: Any = ""
        if kind == "status":
            value = event.get("status")
            if value not in statuses:
                raise ValueError(
                    f"events[{index}]: unknown status {value!r} "
                    f"(use one of {', '.join(sorted(STATUSES))})"
                )
            created = False
        elif kind == "first_response" or kind == "resolution_plan":
            created = False
        elif kind == "priority" or kind == "created":
            value = event.get("priority")
            if not isinstance(value, str):
                raise ValueError(
                    f"events[{index}]: a {kind!r} event needs a 'priority' string, got {value!r}"
                )
            created = kind == "created"
        else:
            raise ValueError(
                f"events[{index}]: unknown event type {kind!r} (use one of {', '.join(EVENT_TYPES)})"
            )
        if created is not (index == 0):
            raise ValueError(
                f"events[{index}]: the first event, and only it, must be 'created' (got {kind!r})"
            )
        add_time(t)
        add_kind(kind)
        add_value(value)
    if index < 0:
        raise ValueError("events: the timeline is empty; it must start with 'created'")
    return times, kinds, values


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
       to exceed it). The clocks not stopped all run since the same instant,
       so one run is kept for them all.
    3. Apply the event: entering resolved/closed stops every clock
       (resolution until a status leaves the set again); first_response and
       resolution_plan stop their clock; a priority change sets each clock's
       target and breaches, at once, one whose elapsed is already past it.
    """
    times, kinds, values = _parse_events(events)
    try:
        now_us = (now - EPOCH) // MICROSECOND
    except TypeError:
        now_us = to_us(now, "now")
    created_us = times[0]
    if now_us < created_us:
        raise ValueError(f"now {now!r} is before the ticket was created")
    if now_us < times[-1]:
        raise ValueError(f"events after now {now!r}: the timeline cannot hold the future")
    times.append(now_us)
    kinds.append("now")
    values.append("")
    calendar = policy.calendar
    positions = calendar.positions_us(times)

    pauses = policy.pause_statuses
    names = policy.clock_names
    n = len(names)
    elapsed = [0] * n
    stopped_at: list[int | None] = [None] * n
    breached_at: list[int | None] = [None] * n
    paused: list[dict[str, int]] = [{} for _ in names]
    resolution = names.index("resolution") if "resolution" in names else -1
    running = list(range(n))  # the clocks not stopped, in names order
    status = "new"
    priority = values[0]
    limits = policy.limits_us(priority, created_us)
    # Lengths of the day-based forms depend on created: work them out once a replay.
    limits_of = {priority: limits}
    # The current run of the clocks not stopped: since when, and the
    # calendar's running total of open time then.
    since, mark = created_us, positions[0]
    previous = created_us
    steps = zip(times, kinds, values, positions, strict=True)
    next(steps)  # created
    for t, kind, value, position in steps:
        if observe is not None and t > previous:
            observe(previous, t, status, priority, tuple(names[c] for c in running))
        previous = t
        stopping = -1
        if kind == "status":
            if value == status:
                continue
            was_done, is_done = status in DONE_STATUSES, value in DONE_STATUSES
            if was_done == is_done and status not in pauses and value not in pauses:
                status = value
                continue
        elif kind == "first_response" or kind == "resolution_plan":
            stopping = names.index(kind) if kind in names else -1
            if stopping < 0 or stopped_at[stopping] is not None:
                continue

        # End the current run at t, under status.
        business = position - mark
        if business and running:
            if status in pauses:
                if track_pauses:
                    for c in running:
                        paused[c][status] = paused[c].get(status, 0) + business
            else:
                for c in running:
                    spent, limit = elapsed[c], limits[c]
                    if limit is not None and spent + business > limit and breached_at[c] is None:
                        reached = calendar.add_us(since, limit - spent)
                        breached_at[c] = calendar.next_open_us(reached)
                    elapsed[c] = spent + business
        since, mark = t, position

        if kind == "status":
            if is_done and not was_done:
                for c in running:
                    stopped_at[c] = t
                running = []
            elif was_done and not is_done and resolution >= 0:
                stopped_at[resolution] = None
                running = [resolution]
            status = value
        elif kind == "priority":
            priority = value
            limits = limits_of.get(priority) or limits_of.setdefault(
                priority, policy.limits_us(priority, created_us))
            for c in range(n):
                limit = limits[c]
                if limit is not None and elapsed[c] > limit and breached_at[c] is None:
                    breached_at[c] = t
        elif stopping >= 0:
            stopped_at[stopping] = t
            running.remove(stopping)
    return Replay(names, elapsed, limits, stopped_at, breached_at, paused, status, priority,
                  created_us, now_us)


def states_of(policy: Policy, result: Replay) -> dict[str, TargetState]:
    """The TargetState of each clock whose target the current priority has."""
    calendar = policy.calendar
    paused = result.status in policy.pause_statuses
    # Several targets often stop at one instant (resolving stops them all).
    instants: dict[int, datetime] = {}
    states = {}
    now_us, elapsed, stopped, breached = result.now_us, result.elapsed, result.stopped_at, result.breached_at
    for c, limit in enumerate(result.limits):
        if limit is None:
            continue
        spent, stopped_at, breached_at_us = elapsed[c], stopped[c], breached[c]
        due = None
        if breached_at_us is not None:
            state: State = "breached"
        elif stopped_at is not None:
            state = "met"
        elif paused:
            state = "paused"
        else:
            state = "running"
            due = calendar.from_us(calendar.add_us(now_us, limit - spent))
        met_at = breached_at = None
        if stopped_at is not None:
            met_at = instants.get(stopped_at)
            if met_at is None:
                met_at = instants[stopped_at] = calendar.from_us(stopped_at)
        if breached_at_us is not None:
            breached_at = instants.get(breached_at_us)
            if breached_at is None:
                breached_at = instants[breached_at_us] = calendar.from_us(breached_at_us)
        states[result.names[c]] = TargetState(
            state, MICROSECOND * spent, due, met_at, MICROSECOND * limit, breached_at
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
    if type(events) is not list and type(events) is not tuple:
        events = list(events)  # read twice if the fast path declines
    states = _evaluate_fast(policy, events, now)
    if states is None:
        # Something is wrong with the timeline or now: the general replay
        # finds it and raises its error, in its order.
        states = states_of(policy, replay(policy, events, now))
    return states


# TargetState is frozen: its __init__ sets each field through object.__setattr__.
# The fast path fills the slots directly (the same six fields, in order), which
# costs half as much; evaluate() makes up to three per call.
_new_state = object.__new__
_SET_STATE = tuple(getattr(TargetState, name).__set__ for name in
                   ("state", "elapsed", "due", "met_at", "target", "breached_at"))


def _target_state(state: State, elapsed: timedelta, due: datetime | None, met_at: datetime | None,
                  target: timedelta, breached_at: datetime | None) -> TargetState:
    made = _new_state(TargetState)
    s0, s1, s2, s3, s4, s5 = _SET_STATE
    s0(made, state)
    s1(made, elapsed)
    s2(made, due)
    s3(made, met_at)
    s4(made, target)
    s5(made, breached_at)
    return made


def _evaluate_fast(
    policy: Policy, events: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, TargetState] | None:
    """``states_of(policy, replay(policy, events, now))`` in one pass, or None if the
    timeline or now is not valid (the caller then runs the general replay, which raises).

    The same clocks as :func:`replay` (see there), kept another way, on timedeltas
    since the epoch (no conversion to µs and back on the common path):

    - one counter, ``counted``, holds the business time that passed while the
      ticket was in a counting status (not a pause status, not resolved/closed);
      a running clock's elapsed is ``counted - origin[c]``, a stopped clock's is
      frozen when it stops, and a reopened resolution clock gets a new origin. So
      a run adds to one counter, whatever the number of clocks. While counting,
      ``counted`` is the calendar's running total of open time less ``lag``
      (fixed when counting starts), so an instant's counter is one subtraction
      once it is placed on the running total;
    - an event is placed on the running total (a bisect) only when counting
      stops or starts there, or when a clock stops or the priority changes while
      counting; events in a pause status or while resolved cost a few comparisons;
    - ``soonest`` is at most the counter's value past which some running clock
      breaches; only a run that takes the counter past it looks at the clocks one
      by one, and the breach instant is found as the general replay finds it
      (``next_open(add(start of the run, target - elapsed then))``);
    - met_at is the stopping event's own ``at`` moved to the calendar's zone (what
      ``from_us`` gives), and due and breach instants in an interval of one UTC
      offset are built from that offset (as Calendar.add and breach_instant do).

    tests/sla_engine/test_sla_evaluate_properties.py and test_sla_evaluate_fast_path.py
    check it against the general replay (the naive reference checks both).
    """
    epoch = EPOCH
    try:
        now_t = now - epoch
        first = events[0]
        at = first["at"]
        priority = first["priority"]
        if first["type"] != "created" or type(priority) is not str:
            return None
        created = at - epoch
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    if type(now_t) is not timedelta or type(created) is not timedelta or now_t < created:
        return None
    k = created.days // BLOCK_DAYS
    if k < FIRST_BLOCK or now_t.days // BLOCK_DAYS > LAST_BLOCK:
        return None  # the general replay says which instant is out of range

    calendar = policy.calendar
    fast, fast_block = calendar._fast, calendar._fast_block
    starts, shift, cum, total, base, next_block = fast.get(k) or fast_block(k)
    kinds, index_of, names = policy.status_kinds, policy.clock_index, policy.clock_names
    n = len(names)
    status = "new"
    kind_now = kinds[status]
    counted = lag = position = _ZERO
    since = created
    if kind_now == COUNTING:
        i = bisect_right(starts, created) - 1
        if i >= 0:
            lag = shift[i] + created
            before = cum[i]
            if lag > before:
                lag = before
    origin = [_ZERO] * n
    frozen = [_ZERO] * n
    stopped: list[timedelta | None] = [None] * n
    stopped_dt: list[datetime | None] = [None] * n
    breached: list[datetime | timedelta | None] = [None] * n
    breached_dt: list[datetime | None] = [None] * n
    running = list(range(n))
    resolution = index_of.get("resolution", -1)
    limits = policy.limits_td(priority, created)
    limits_of = {priority: limits}
    soonest = _soonest(running, origin, limits, breached)
    previous = created
    value: Any = ""
    new = kind_now
    c = -1
    rest = iter(events)
    next(rest)
    try:
        for event in rest:
            at, kind = event["at"], event["type"]
            t = at - epoch
            if type(t) is not timedelta or t < previous or t > now_t:
                return None
            previous = t
            # Checked as _parse_events() does; skip what changes no clock.
            if kind == "status":
                value = event.get("status")
                new = kinds.get(value, -1)
                if new == kind_now:
                    status = value
                    continue
                if new < 0:
                    return None
            elif kind == "first_response" or kind == "resolution_plan":
                c = index_of.get(kind, -1)
                if c < 0 or stopped[c] is not None:
                    continue
            elif kind == "priority":
                value = event.get("priority")
                if type(value) is not str:
                    return None
            else:
                return None  # unknown, or a second "created"

            if kind_now == COUNTING:
                # Place t on the running total: the counter at t.
                while t >= next_block:
                    lag -= total
                    k += 1
                    starts, shift, cum, total, base, next_block = fast.get(k) or fast_block(k)
                i = bisect_right(starts, t) - 1
                if i < 0:
                    more = -lag
                else:
                    position = shift[i] + t
                    before = cum[i]
                    more = (before if position > before else position) - lag
                if more > soonest:
                    for b in running:
                        limit = limits[b]
                        if limit is not None and breached[b] is None and more - origin[b] > limit:
                            breached[b] = calendar.breach_instant(since, limit - (counted - origin[b]))
                    soonest = _soonest(running, origin, limits, breached)
                counted, since = more, t
            elif new == COUNTING and kind == "status":
                # Counting starts at t.
                while t >= next_block:
                    k += 1
                    starts, shift, cum, total, base, next_block = fast.get(k) or fast_block(k)
                i = bisect_right(starts, t) - 1
                if i < 0:
                    lag = -counted
                else:
                    position = shift[i] + t
                    before = cum[i]
                    lag = (before if position > before else position) - counted
                since = t

            if kind == "status":
                if new == DONE:  # entered resolved/closed: every clock stops
                    for b in running:
                        frozen[b] = counted - origin[b]
                        stopped[b] = t
                        stopped_dt[b] = at
                    running = []
                elif kind_now == DONE and resolution >= 0:  # reopened
                    origin[resolution] = counted - frozen[resolution]
                    stopped[resolution] = stopped_dt[resolution] = None
                    running = [resolution]
                    soonest = _soonest(running, origin, limits, breached)
                status = value
                kind_now = new
            elif kind == "priority":
                priority = value
                limits = limits_of.get(priority) or limits_of.setdefault(
                    priority, policy.limits_td(priority, created))
                for b in range(n):
                    limit = limits[b]
                    if limit is not None and breached[b] is None and (
                        frozen[b] if stopped[b] is not None else counted - origin[b]
                    ) > limit:
                        breached[b] = t
                        breached_dt[b] = at
                soonest = _soonest(running, origin, limits, breached)
            else:
                # A clock stops: soonest may stay lower than it need be (a run past
                # it then only looks at the clocks again).
                frozen[c] = counted - origin[c]
                stopped[c] = t
                stopped_dt[c] = at
                running.remove(c)
    except (KeyError, TypeError, AttributeError):
        return None

    counting = kind_now == COUNTING
    if counting:
        # The last run ends at now.
        while now_t >= next_block:
            lag -= total
            k += 1
            starts, shift, cum, total, base, next_block = fast.get(k) or fast_block(k)
        i = bisect_right(starts, now_t) - 1
        if i < 0:
            position = _ZERO
        else:
            position = shift[i] + now_t
            before = cum[i]
            if position > before:
                position = before
        more = position - lag
        if more > soonest:
            for b in running:
                limit = limits[b]
                if limit is not None and breached[b] is None and more - origin[b] > limit:
                    breached[b] = calendar.breach_instant(since, limit - (counted - origin[b]))
        counted = more

    # states_of(), with the event instants and now's place on the running total at hand.
    zone = calendar.zone
    states = {}
    for b, limit in enumerate(limits):
        if limit is None:
            continue
        stop, breach = stopped[b], breached[b]
        due = met_at = None
        if stop is not None:
            spent = frozen[b]
            met_at = _in_zone(stopped_dt[b], stop, calendar, zone)
        else:
            spent = counted - origin[b]
        if breach is not None:
            state: State = "breached"
            if type(breach) is timedelta:  # a priority change's instant
                breach = _in_zone(breached_dt[b], breach, calendar, zone)
        elif stop is not None:
            state = "met"
        elif not counting:
            state = "paused"
        else:
            state = "running"
            # Calendar.add(now, limit - spent), with now already placed (its
            # fast path: more than nothing to add, the answer in now's block,
            # in an interval of one offset).
            remaining = limit - spent
            if remaining:
                goal = position + remaining
                if goal <= total:
                    wall = base[bisect_left(cum, goal)]
                    if wall is not None:
                        due = wall + goal
            if due is None:
                due = calendar.instant_after(now_t, remaining)
        states[names[b]] = _target_state(state, spent, due, met_at, limit, breach)  # type: ignore[arg-type]
    return states


_ZERO = timedelta(0)
_NEVER = timedelta.max


def _soonest(running: list[int], origin: list[timedelta], limits: tuple[timedelta | None, ...],
             breached: list[Any]) -> timedelta:
    """The counter's value past which a running clock not yet breached breaches."""
    soonest = _NEVER
    for c in running:
        limit = limits[c]
        if limit is not None and breached[c] is None and origin[c] + limit < soonest:
            soonest = origin[c] + limit
    return soonest


def _in_zone(at: datetime | None, t: timedelta, calendar: Any, zone: Any) -> datetime:
    """The instant t (a timedelta since the epoch) in the calendar's zone; ``at`` is it
    as given, if at hand."""
    if at is not None and type(at) is datetime:
        return at.astimezone(zone)
    return calendar.from_us(t // MICROSECOND)


def instant_at(
    policy: Policy, state: TargetState, now: datetime, share: float | Fraction = 0.75
) -> datetime | None:
    """When a running target's elapsed reaches ``share`` of its target (for warnings).

    ``state`` must come from ``evaluate(policy, events, now)`` with the same
    policy and now. Returns ``calendar.add(now, share × target − elapsed)``
    (rounded up to the µs), or None when the target is not running or that
    instant is not ahead of now.
    """
    # A float's exact ratio without building a Fraction: this runs for every
    # running target of every ticket a rebuild recomputes.
    numerator, denominator = (
        share.as_integer_ratio() if isinstance(share, float) else Fraction(share).as_integer_ratio()
    )
    if numerator <= 0:
        raise ValueError(f"share must be more than 0, got {share!r}")
    if state.state != "running":
        return None
    target_us = state.target // MICROSECOND
    threshold = -(-target_us * numerator // denominator)  # ceiling, exact
    remaining = threshold - state.elapsed // MICROSECOND
    if remaining <= 0:
        return None
    return policy.calendar.add(now, timedelta(microseconds=remaining))
