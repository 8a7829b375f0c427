"""The email channel's server settings, with their defaults (set them in settings.py / env)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

from tierdesk.accounts.models import Provider


def imap_urls() -> list[str]:
    return list(getattr(settings, "MAIL_IMAP_URLS", []))


@dataclass(frozen=True)
class Mailbox:
    """One IMAP mailbox to poll, from a URL:

    imap://user:password@host:143/INBOX?starttls=1&after=move&move_to=Tierdesk
    imaps://user:password@host/INBOX          (TLS from the start, port 993)

    after: what is done to a message once it is safe in the database —
    `seen` (default: flag it \\Seen; only unseen mail is fetched), `move`
    (to `move_to`, default "Processed"), or `delete`.
    """

    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    ssl: bool = False
    starttls: bool = False
    after: str = "seen"
    move_to: str = "Processed"

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError(f"not an imap:// or imaps:// URL: {parts.scheme}://…")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        ssl = parts.scheme == "imaps"
        after = query.get("after", "seen")
        if after not in ("seen", "move", "delete"):
            raise ValueError(f"after= must be seen, move or delete, not {after!r}")
        return cls(host=parts.hostname or "localhost", port=parts.port or (993 if ssl else 143),
                   username=unquote(parts.username or ""), password=unquote(parts.password or ""),
                   folder=unquote(parts.path.lstrip("/")) or "INBOX", ssl=ssl,
                   starttls=query.get("starttls", "0").lower() in ("1", "true", "yes"),
                   after=after, move_to=query.get("move_to", "Processed"))

    @property
    def label(self) -> str:
        """Where a message came from, without the password."""
        return f"imap:{self.username}@{self.host}:{self.port}/{self.folder}"


def max_bytes() -> int:
    """Messages larger than this are held, not parsed (their raw bytes are kept)."""
    return int(getattr(settings, "MAIL_MAX_BYTES", 25 * 1024 * 1024))


def new_tickets_per_sender_hour() -> int:
    return int(getattr(settings, "MAIL_NEW_TICKETS_PER_SENDER_HOUR", 20))


def messages_per_sender_hour() -> int:
    return int(getattr(settings, "MAIL_MESSAGES_PER_SENDER_HOUR", 60))


def max_attempts() -> int:
    return int(getattr(settings, "MAIL_MAX_ATTEMPTS", 5))


def poll_batch() -> int:
    return int(getattr(settings, "MAIL_POLL_BATCH", 50))


def unknown_senders_organisation() -> str:
    return str(getattr(settings, "MAIL_UNKNOWN_SENDERS_ORGANISATION", "Unknown senders"))


def message_id_domain() -> str:
    domain = str(getattr(settings, "MAIL_MESSAGE_ID_DOMAIN", "") or "")
    return (domain or settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "tierdesk.localhost").lower()


_own: tuple[float, frozenset[str]] = (0.0, frozenset())
_provider: tuple[float, Provider | None] = (0.0, None)


def provider() -> Provider:
    """The provider row, read at most once a minute per process (every notice needs it)."""
    global _provider
    at, row = _provider
    if row is None or time.monotonic() - at >= 60:
        row = Provider.current()
        _provider = (time.monotonic(), row)
    return row


def own_addresses() -> frozenset[str]:
    """Addresses the desk sends from or reads: mail from them is never acted on.

    Read at most once a minute per process (the provider row can change)."""
    global _own
    at, addresses = _own
    if time.monotonic() - at < 60 and addresses:
        return addresses
    found = {parseaddr(settings.DEFAULT_FROM_EMAIL)[1], provider().support_address,
             *getattr(settings, "MAIL_OWN_ADDRESSES", [])}
    for url in imap_urls():
        user = Mailbox.from_url(url).username
        if "@" in user:
            found.add(user)
    addresses = frozenset(a.strip().lower() for a in found if a and "@" in a)
    _own = (time.monotonic(), addresses)
    return addresses


def forget_cached() -> None:
    """For tests and after the provider changes: read the settings again."""
    global _own, _provider
    _own = (0.0, frozenset())
    _provider = (0.0, None)
