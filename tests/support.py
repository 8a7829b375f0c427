"""Constants and helpers the suites import (`from support import T0, snapshot`).

Kept out of conftest.py because several folders have a conftest of their own and
`from support import ...` would pick whichever was imported first.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

PASSWORD = "correct-horse-battery-9"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday

CAL_247 = {"timezone": "UTC", "hours": {d: ["00:00-24:00"] for d in
                                         ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
CAL_OFFICE = {"timezone": "Europe/Madrid",
              "hours": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}
TARGETS = {
    "first_response": {"critical": 60, "high": 120, "medium": 480, "low": 1440, "request": 2880},
    "resolution_plan": {"critical": 120, "high": 480, "medium": 1440},
    "resolution": {"critical": 480, "high": 1440, "medium": 4320, "low": 7200, "request": 7200},
}


def snapshot():
    """Every row that an action could write, to prove a refusal left nothing behind."""
    from tierdesk.sla.models import TicketSLA
    from tierdesk.tickets.models import Attachment, Ticket, TicketEvent

    return (
        list(Ticket.objects.order_by("pk").values()),
        list(TicketEvent.objects.order_by("pk").values()),
        list(TicketSLA.objects.order_by("pk").values()),
        list(Attachment.objects.order_by("pk").values()),
    )


def kill_part_way(proc: subprocess.Popen, part_way: Callable[[], bool], *,
                  timeout: float = 60.0, poll: float = 0.02) -> bool:
    """SIGKILL `proc` as soon as `part_way()` says some of its work has committed and
    not all of it. True if it was killed; False if it had finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if part_way():
            break
        time.sleep(poll)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM every process still running, then wait for each (SIGKILL after 20 s)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
