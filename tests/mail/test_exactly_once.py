"""Exactly once, whatever moment the poller dies at (in-process, with an IMAP server in memory).

The same scenarios run against the real Dovecot, with a real SIGKILL, in test_servers.py;
these run everywhere, in a second.
"""

from __future__ import annotations

import pytest

from mail.helpers import eml
from tierdesk.mail import imap, inbound
from tierdesk.mail.conf import Mailbox
from tierdesk.mail.models import InboundMessage
from tierdesk.notifications.models import OutboxMessage
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent

MAILBOX = Mailbox(host="imap.test", port=143, username="support@helpful.test", password="x")


class Killed(BaseException):
    """Not an Exception: nothing may catch it, as nothing catches a SIGKILL."""


class MemoryIMAP:
    """Just enough of IMAPClient, over a dict: {uid: [raw, flags]}."""

    def __init__(self, messages: list[bytes]) -> None:
        self.box = {uid: [raw, set()] for uid, raw in enumerate(messages, start=1)}
        self.folders: dict[str, list[bytes]] = {}

    def select_folder(self, folder):
        return {}

    def search(self, criteria):
        unseen = "UNSEEN" in criteria
        return [u for u, (_raw, flags) in self.box.items()
                if b"\\Deleted" not in flags and not (unseen and b"\\Seen" in flags)]

    def fetch(self, uids, items):
        out = {}
        for u in uids:
            raw = self.box[u][0]
            if "RFC822.SIZE" in items:
                out[u] = {b"RFC822.SIZE": len(raw)}
            elif "BODY.PEEK[HEADER]" in items:
                out[u] = {b"BODY[HEADER]": raw.split(b"\n\n")[0] + b"\n\n"}
            else:
                out[u] = {b"BODY[]": raw}
        return out

    def add_flags(self, uids, flags, silent=False):
        for u in uids:
            self.box[u][1].update(flags)

    def folder_exists(self, folder):
        return folder in self.folders

    def create_folder(self, folder):
        self.folders[folder] = []

    def has_capability(self, name):
        return True

    def move(self, uids, folder):
        for u in uids:
            self.folders[folder].append(self.box.pop(u)[0])

    def expunge(self):
        self.box = {u: v for u, v in self.box.items() if b"\\Deleted" not in v[1]}

    def logout(self):
        pass


def messages(n: int) -> list[bytes]:
    base = eml("gmail_new_en.eml")
    return [base.replace(b"gmail-new-en-0001", f"gmail-new-en-{i:04}".encode())
            .replace(b"jams on every job", f"jams on job {i}".encode()) for i in range(n)]


def kill_at(monkeypatch, target, name: str, *, nth: int, before: bool = False):
    """Make target.name die at its nth call (after doing its work, or before)."""
    real = getattr(target, name)
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if before and len(calls) == nth:
            raise Killed(name)
        result = real(*args, **kwargs)
        if len(calls) == nth:
            raise Killed(name)
        return result

    monkeypatch.setattr(target, name, dying)


def assert_each_once(n: int, server: MemoryIMAP) -> None:
    assert InboundMessage.objects.count() == n
    assert set(InboundMessage.objects.values_list("state", flat=True)) == {"processed"}
    assert Ticket.objects.count() == n
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == sorted(
        f"Printer on the 3rd floor jams on job {i}" for i in range(n))
    assert TicketEvent.objects.filter(code=EventCode.CREATED).count() == n
    # One acknowledgement per message: outbound is exactly once too.
    assert OutboxMessage.objects.filter(key__startswith="mail:created:").count() == n
    assert server.search(["UNSEEN"]) == []


SCENARIOS = {
    "after fetching, before storing": ("receive_many", inbound, dict(nth=2, before=True)),
    "after storing, before processing": ("receive_many", inbound, dict(nth=2)),
    "inside the ticket action's transaction": ("create_ticket", None, dict(nth=4)),
    "after the commit, before marking": ("process", inbound, dict(nth=4)),
    "after marking a batch": ("_mark_done", imap, dict(nth=1)),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_killed_anywhere_and_started_again_each_message_once(people, monkeypatch, scenario):
    from tierdesk.tickets import actions

    name, target, how = SCENARIOS[scenario]
    server = MemoryIMAP(messages(8))
    monkeypatch.setattr(imap, "connect", lambda mailbox: server)
    with monkeypatch.context() as m:
        kill_at(m, target or actions, name, **how)
        with pytest.raises(Killed):
            imap.poll(MAILBOX, batch=3)
    imap.poll(MAILBOX, batch=3)   # started again
    imap.poll(MAILBOX, batch=3)   # and again: nothing left to do
    assert_each_once(8, server)


def test_move_and_delete_modes(people, monkeypatch):
    for after in ("move", "delete"):
        server = MemoryIMAP(messages(3))
        monkeypatch.setattr(imap, "connect", lambda mailbox, s=server: s)
        result = imap.poll(Mailbox(host="x", port=1, username="u", password="p", after=after))
        assert result.fetched == 3 and server.box == {}
        assert len(server.folders.get("Processed", [])) == (3 if after == "move" else 0)
    assert Ticket.objects.count() == 3  # the second mailbox held the same messages


def test_too_large_messages_stay_on_the_server(people, monkeypatch, settings):
    settings.MAIL_MAX_BYTES = 500
    big = messages(1)[0] + b"x" * 1000
    server = MemoryIMAP([big])
    monkeypatch.setattr(imap, "connect", lambda mailbox: server)
    imap.poll(Mailbox(host="x", port=1, username="u", password="p", after="delete"))
    row = InboundMessage.objects.get()
    assert (row.state, row.reason, row.size) == ("held", "oversized", len(big))
    assert row.details["truncated"] and b"HP printer" not in bytes(row.raw)  # headers only
    assert server.folders["Processed"] == [big]  # moved aside, never deleted
