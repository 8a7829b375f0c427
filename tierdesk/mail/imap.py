"""IMAP polling: the worker's door into `inbound`.

For each mailbox (MAIL_IMAP_URLS), in batches:

1. FETCH the messages not yet done (BODY.PEEK: reading marks nothing);
2. store their raw bytes in one committed transaction (`inbound.receive_many`);
3. process each stored one (one transaction each);
4. only then mark them done on the server: \\Seen, moved, or deleted.

A process killed between 2 and 4 fetches the same messages again next time:
their rows are found by Message-ID (or content hash) and are not acted on
twice; they are just marked. Killed before 2: the server still has them
unmarked. So every message is acted on exactly once.

Messages larger than MAIL_MAX_BYTES are not downloaded: their headers are
stored and held for review, and the message itself stays on the server
(moved, never deleted).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tierdesk.mail import conf, inbound
from tierdesk.mail.conf import Mailbox
from tierdesk.mail.models import InboundMessage

log = logging.getLogger(__name__)

SEEN = b"\\Seen"
DELETED = b"\\Deleted"
TIMEOUT = 60


@dataclass
class PollResult:
    mailbox: str
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    processed: int = 0
    error: str = ""


def connect(mailbox: Mailbox) -> IMAPClient:
    client = IMAPClient(mailbox.host, port=mailbox.port, ssl=mailbox.ssl, timeout=TIMEOUT,
                        ssl_context=ssl.create_default_context() if mailbox.ssl else None)
    if mailbox.starttls:
        client.starttls(ssl.create_default_context())
    client.login(mailbox.username, mailbox.password)
    return client


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), max(size, 1))]


def poll(mailbox: Mailbox, *, batch: int | None = None, limit: int | None = None) -> PollResult:
    """Take in what waits in one mailbox. Raises on connection errors (poll_all logs them)."""
    result = PollResult(mailbox.label)
    client = connect(mailbox)
    try:
        client.select_folder(mailbox.folder)
        criteria = ["UNSEEN", "NOT", "DELETED"] if mailbox.after == "seen" else ["NOT", "DELETED"]
        uids = sorted(client.search(criteria))[:limit]
        for chunk in _chunks(uids, batch or conf.poll_batch()):
            _take(client, mailbox, chunk, result)
    finally:
        with contextlib.suppress(OSError, IMAPClientError):
            client.logout()
    return result


def _take(client: IMAPClient, mailbox: Mailbox, uids: list[int], result: PollResult) -> None:
    sizes = {uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in
             client.fetch(uids, ["RFC822.SIZE"]).items()}
    limit = conf.max_bytes()
    small = [u for u in uids if u in sizes and sizes[u] <= limit]
    large = [u for u in uids if u in sizes and sizes[u] > limit]
    bodies = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
    raws = [(u, bytes(bodies[u][b"BODY[]"])) for u in small if b"BODY[]" in bodies.get(u, {})]
    result.fetched += len(raws) + len(large)

    # 2. Stored and committed before anything else happens to them.
    stored = inbound.receive_many([raw for _u, raw in raws], source=mailbox.label)
    rows: list[tuple[int, InboundMessage, bool]] = []
    for (u, raw), (row, created) in zip(raws, stored, strict=True):
        row.raw = raw  # in hand already: processing need not read it back
        rows.append((u, row, created))
    if large:
        heads = client.fetch(large, ["BODY.PEEK[HEADER]"])
        for u in large:
            head = bytes(heads.get(u, {}).get(b"BODY[HEADER]", b""))
            row, created = inbound.receive(head, source=mailbox.label, size=sizes[u],
                                           truncated=True)
            rows.append((u, row, created))
    result.stored += sum(1 for _u, _r, c in rows if c)
    result.duplicates += sum(1 for _u, _r, c in rows if not c)

    # 3. Processed, each in its own transaction.
    for _u, row, _created in rows:
        if row.state in (InboundMessage.State.RECEIVED, InboundMessage.State.FAILED) \
                and row.attempts < conf.max_attempts():
            inbound.process(row)
            result.processed += 1

    # 4. Only now does the server hear that they are done.
    _mark_done(client, mailbox, small=[u for u, _raw in raws], large=large)


def _mark_done(client: IMAPClient, mailbox: Mailbox, *, small: list[int], large: list[int]) -> None:
    if mailbox.after == "seen":
        if small or large:
            client.add_flags(small + large, [SEEN], silent=True)
        return
    keep = large if mailbox.after == "delete" else small + large
    if keep:
        _move(client, keep, mailbox.move_to)
    if mailbox.after == "delete" and small:
        client.add_flags(small, [DELETED], silent=True)
        client.expunge()


def _move(client: IMAPClient, uids: list[int], folder: str) -> None:
    if not client.folder_exists(folder):
        client.create_folder(folder)
    if client.has_capability("MOVE"):
        client.move(uids, folder)
    else:
        client.copy(uids, folder)
        client.add_flags(uids, [DELETED], silent=True)
        client.expunge()


def poll_all(*, limit: int | None = None) -> list[PollResult]:
    """Every configured mailbox; one failing does not stop the others."""
    results = []
    for url in conf.imap_urls():
        mailbox = Mailbox.from_url(url)
        try:
            results.append(poll(mailbox, limit=limit))
        except (OSError, IMAPClientError) as exc:
            log.warning("polling %s failed: %s", mailbox.label, exc)
            results.append(PollResult(mailbox.label, error=f"{type(exc).__name__}: {exc}"))
    return results
