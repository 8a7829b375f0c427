"""Our own Message-IDs: they name the ticket, so a reply finds its way back.

`<td.104523.@desk.example>` is a ticket's thread root (never sent; every
notice of the ticket lists it in References), and notices are
`<td.104523.<event>.<person>@desk.example>`. A reply's In-Reply-To or
References naming one of ours, with our domain, joins ticket 104523 — if its
sender may see that ticket (route.py checks).
"""

from __future__ import annotations

import re

from tierdesk.mail import conf

_OURS = re.compile(r"^td\.(\d{1,18})\.[\w.-]*@([^@\s]+)$", re.I)


def root(number: int) -> str:
    return f"td.{number}.@{conf.message_id_domain()}"


def notice(number: int, *parts: object) -> str:
    return f"td.{number}.{'.'.join(str(p) for p in parts)}@{conf.message_id_domain()}"


def ticket_number(message_id: str) -> int | None:
    m = _OURS.match(message_id.strip().strip("<>"))
    if m is None or m.group(2).lower() != conf.message_id_domain():
        return None
    return int(m.group(1))


def bracket(message_id: str) -> str:
    return f"<{message_id}>"
