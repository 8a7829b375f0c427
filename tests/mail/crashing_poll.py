"""`imap.poll` in a process of its own that SIGKILLs itself at a chosen point (test_servers.py).

    CRASH_AT=module:function:nth[:before]  python tests/mail/crashing_poll.py IMAP_URL

module is "inbound", "imap" or "actions"; the process kills itself when that
function is called the nth time — after it returned, or before it ran with
":before". Without CRASH_AT it polls to the end. The database, the var
directory and the mail settings come from the environment, as in production.
"""

from __future__ import annotations

import os
import signal
import sys

import django


def die_at(target: object, name: str, nth: int, *, before: bool) -> None:
    real = getattr(target, name)
    calls = [0]

    def dying(*args, **kwargs):
        calls[0] += 1
        if before and calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(target, name, dying)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.settings")
    django.setup()
    from tierdesk.mail import imap, inbound
    from tierdesk.mail.conf import Mailbox
    from tierdesk.tickets import actions

    point = os.environ.get("CRASH_AT", "")
    if point:
        module, name, nth, *flags = point.split(":")
        target = {"inbound": inbound, "imap": imap, "actions": actions}[module]
        die_at(target, name, int(nth), before="before" in flags)
    result = imap.poll(Mailbox.from_url(sys.argv[1]), batch=int(os.environ.get("BATCH", "3")))
    print(f"fetched={result.fetched} stored={result.stored} processed={result.processed}")


if __name__ == "__main__":
    main()
