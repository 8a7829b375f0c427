"""Screenshots of the main pages for docs/screenshots/, taken in Chromium from the demo desk.

    .venv/bin/python bench/screenshots.py            # writes docs/screenshots/*.png

A fresh database in a temporary directory, `tierdesk demo` (the same data as
`make run`), a live server in a thread and Debian's Chromium driven by Playwright
(executable /usr/bin/chromium, or $TIERDESK_CHROMIUM). Nothing outside the
temporary directory and docs/screenshots/ is touched.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("TIERDESK_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "demo-pass-2026"  # the demo's, printed by `make run`

# (file, who, path, viewport width, language of the browser, what to do before the shot)
SHOTS = [
    ("portal-tickets", "alice@acme.test", "/portal/", 1280, None),
    ("portal-new-ticket", "alice@acme.test", "/portal/new/", 1280, "fill-new"),
    ("portal-ticket", "alice@acme.test", "{busy_portal}", 1280, None),
    ("portal-ticket-phone", "alice@acme.test", "{busy_portal}", 390, None),
    ("portal-ticket-es", "carmen@bodega.test", "{spanish_portal}", 1280, None),
    ("portal-ticket-resolved", "alice@acme.test", "{resolved_portal}", 1280, None),
    ("console-queue", "tier1@northwind.test", "/console/", 1440, None),
    ("console-ticket", "tier2@northwind.test", "{busy_console}", 1440, "open-explain"),
    ("console-phone-desk", "tier1@northwind.test", "/console/phone/", 1280, None),
    ("console-manager", "manager@northwind.test", "/console/manager/", 1280, None),
]


def setup(var: Path) -> None:
    os.environ["TIERDESK_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright runs an event loop
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("compilemessages", ignore_patterns=[".venv"], verbosity=0)
    call_command("demo", verbosity=0, stdout=io.StringIO())


def story() -> dict[str, str]:
    """Give one demo ticket the whole seed story, so its pages show every part."""
    from datetime import timedelta

    from tierdesk.accounts.models import Agent, Contact
    from tierdesk.console.models import CannedResponse
    from tierdesk.lib import clock
    from tierdesk.tickets import actions
    from tierdesk.tickets.models import Ticket

    alice = Contact.objects.get(user__email="alice@acme.test")
    tier1 = Agent.objects.get(user__email="tier1@northwind.test")
    tier2 = Agent.objects.get(user__email="tier2@northwind.test")
    now = clock.now().replace(second=0, microsecond=0)
    at = now - timedelta(hours=5)
    t = actions.create_ticket(actor=alice.user, at=at, new=actions.NewTicket(
        requester=alice, subject="Mail server rejects outgoing mail",
        description="Since 9:00 nobody can send mail. Outlook says: 451 4.7.1 Try again later.",
        impact="most_users", urgency="stopped"))
    actions.assign(actor=tier1.user, ticket=t, agent=tier1, at=at + timedelta(minutes=4))
    actions.add_reply(actor=tier1.user, ticket=t, at=at + timedelta(minutes=9),
                      body="We see it too: the relay is refusing connections. Restarting it now.")
    actions.add_internal_note(actor=tier1.user, ticket=t, at=at + timedelta(minutes=20),
                              body="Relay restart did not help; queue is growing. Needs tier 2.")
    actions.escalate_by_customer(actor=alice.user, ticket=t, at=at + timedelta(hours=2),
                                 reason="Two hours without mail; sales cannot send quotes.")
    actions.change_tier(actor=tier1.user, ticket=t, tier=2, at=at + timedelta(hours=2, minutes=5),
                        reason="Relay certificate problem: network team")
    actions.assign(actor=tier2.user, ticket=t, agent=tier2, at=at + timedelta(hours=2, minutes=10))
    actions.commit_timeframe(actor=tier2.user, ticket=t, at=at + timedelta(hours=2, minutes=20),
                             due_at=now + timedelta(hours=20),
                             note="We move mail to the standby relay tonight and renew the "
                                  "certificate; mail flows again by tomorrow morning.")
    actions.log_time(actor=tier2.user, ticket=t, minutes=45, note="Relay diagnosis",
                     at=at + timedelta(hours=3))
    done = actions.create_ticket(actor=alice.user, at=at, new=actions.NewTicket(
        requester=alice, subject="New starter needs a mailbox",
        description="Marta starts on Monday in accounting: mailbox and shared drives, please."))
    actions.add_reply(actor=tier1.user, ticket=done, at=at + timedelta(minutes=30),
                      body="Mailbox marta@acme.test is ready; the password goes to her manager.")
    actions.resolve(actor=tier1.user, ticket=done, code="fixed", at=at + timedelta(minutes=31),
                    note="Mailbox and the accounting drive are set up.")
    CannedResponse.objects.create(
        title="Ask for a screenshot", title_es="Pedir una captura",
        body="Hello {customer}, could you send a screenshot of the error on {reference}?",
        body_es="Hola {customer}, ¿podría enviarnos una captura del error de {reference}?")
    spanish = Ticket.objects.filter(requester__user__email="carmen@bodega.test").order_by(
        "-created_at").first()
    assert spanish is not None
    return {"busy_portal": f"/portal/tickets/{t.reference}/",
            "busy_console": f"/console/tickets/{t.reference}/",
            "spanish_portal": f"/portal/tickets/{spanish.reference}/",
            "resolved_portal": f"/portal/tickets/{done.reference}/"}


def shoot(base: str, paths: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for name, email, path, width, before in SHOTS:
            context = browser.new_context(viewport={"width": width, "height": 900},
                                          locale="en-GB", timezone_id="Europe/Madrid",
                                          device_scale_factor=1, is_mobile=width < 600)
            page = context.new_page()
            page.goto(base + "/login/")
            page.locator("#id_username").fill(email)
            page.locator("#id_password").fill(PASSWORD)
            page.locator("main form button[type=submit]").click()
            page.wait_for_load_state()
            page.goto(base + path.format(**paths))
            if before == "fill-new":
                page.locator("#id_subject").fill("VPN drops every hour")
                page.locator("#id_description").fill("Since Monday the VPN disconnects every "
                                                     "hour for everyone in the Lyon office.")
                page.locator("#id_impact").select_option("some_users")
            if before == "open-explain":
                page.locator("details.explain summary").click()
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            print(f"  {name}.png", flush=True)
            context.close()
        browser.close()


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"No Chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium "
              "fonts-liberation", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="tierdesk-shots-") as tmp:
        setup(Path(tmp))
        paths = story()
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.servers.basehttp import WSGIServer
        from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

        class Server(LiveServerThread):
            def _create_server(self, connections_override=None):
                return WSGIServer((self.host, self.port), QuietWSGIRequestHandler,
                                  allow_reuse_address=False)

        server = Server("127.0.0.1", StaticFilesHandler, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        try:
            shoot(f"http://127.0.0.1:{server.port}", paths)
        finally:
            server.terminate()
    print(f"Screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
