"""`tierdesk mail ingest | poll | retry`: the email channel's doors, from the command line.

    tierdesk mail ingest < message.eml     # one raw message on standard input (an MTA's pipe)
    tierdesk mail poll [--every 30]        # the IMAP mailboxes of MAIL_IMAP_URLS
    tierdesk mail retry                    # stored but unprocessed or failed messages

`ingest` exits 0 once the message is stored (whatever became of it: processed,
held, ignored, or failed and left for the retry sweep), and 75 (EX_TEMPFAIL)
when it could not even be stored, so the MTA keeps it and tries again.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Take in email: one message from standard input, or the IMAP mailboxes."
    # An MTA starts `ingest` once per message: Django's system checks (which import every
    # URLconf and view, the PDF reports' fonts among them) would be most of its start-up.
    # `tierdesk check` and every other command still run them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        ingest = sub.add_parser("ingest", help="Read one raw message on standard input.")
        ingest.add_argument("--source", default="stdin", help="Where it came from (shown to admins).")
        poll = sub.add_parser("poll", help="Fetch and process the IMAP mailboxes (MAIL_IMAP_URLS).")
        poll.add_argument("--url", action="append", default=[],
                          help="Poll this imap:// URL instead of the settings (repeatable).")
        poll.add_argument("--every", type=float, default=0,
                          help="Keep polling every N seconds (default: once).")
        poll.add_argument("--limit", type=int, default=None, help="At most N messages a mailbox.")
        sub.add_parser("retry", help="Process stored messages left unprocessed or failed.")

    def handle(self, *args, verb: str, **options):
        return getattr(self, f"do_{verb}")(options)

    def do_ingest(self, options) -> None:
        from tierdesk.mail import inbound

        raw = sys.stdin.buffer.read()
        if not raw.strip():
            raise CommandError("no message on standard input")
        try:
            row, created = inbound.receive(raw, source=options["source"])
        except Exception as exc:  # not stored: the MTA must keep it and retry
            self.stderr.write(f"could not store the message: {type(exc).__name__}: {exc}")
            sys.exit(EX_TEMPFAIL)
        if row.state in (row.State.RECEIVED, row.State.FAILED):
            row.raw = raw  # in hand: processing need not read it back
            row = inbound.process(row)
        word = "stored" if created else "already known"
        self.stdout.write(f"{word}: message {row.pk} {row.state}"
                          f"{' (' + row.reason + ')' if row.reason else ''}"
                          f"{' ' + row.ticket.reference if row.ticket else ''}")

    def do_poll(self, options) -> None:
        from tierdesk.mail import conf, imap
        from tierdesk.mail.conf import Mailbox

        urls = options["url"] or conf.imap_urls()
        if not urls:
            raise CommandError("no mailbox: set MAIL_IMAP_URLS or pass --url")
        while True:
            for url in urls:
                mailbox = Mailbox.from_url(url)
                try:
                    r = imap.poll(mailbox, limit=options["limit"])
                except Exception as exc:
                    self.stderr.write(f"{mailbox.label}: {type(exc).__name__}: {exc}")
                    if not options["every"]:
                        raise CommandError(f"polling {mailbox.label} failed") from exc
                    continue
                self.stdout.write(f"{r.mailbox}: {r.fetched} fetched, {r.stored} new, "
                                  f"{r.duplicates} already known, {r.processed} processed")
            if not options["every"]:
                return
            time.sleep(options["every"])

    def do_retry(self, options) -> None:
        from tierdesk.mail import inbound

        done = inbound.process_pending()
        released = inbound.release_confirmed()
        self.stdout.write(f"{done} retried, {released} released")
