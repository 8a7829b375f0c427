"""The portal on a phone, and the main pages checked as an accessibility audit would:
every control named, readable contrast, and a ticket submitted with the keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tierdesk.tickets import actions
from tierdesk.tickets.models import Ticket

# Controls without an accessible name, and text below WCAG AA contrast (4.5:1, or
# 3:1 for large text), computed from the styles the browser applied.
AUDIT = """() => {
  const visible = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"; };
  const nameOf = el => {
    if (el.getAttribute("aria-label")) return el.getAttribute("aria-label");
    const by = el.getAttribute("aria-labelledby");
    if (by) return by.split(" ").map(id => (document.getElementById(id) || {}).textContent || "").join(" ");
    if (el.labels && el.labels.length) return Array.from(el.labels).map(l => l.textContent).join(" ");
    if (el.tagName === "BUTTON" || el.tagName === "A") return el.textContent;
    if (el.type === "submit" || el.type === "button") return el.value;
    return el.getAttribute("title") || "";
  };
  const unnamed = [];
  document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")
    .forEach(el => { if (visible(el) && !nameOf(el).trim()) unnamed.push(el.outerHTML.slice(0, 120)); });

  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= .03928 ? v / 12.92 : ((v + .055) / 1.055) ** 2.4; };
    return .2126 * f(r) + .7152 * f(g) + .0722 * f(b); };
  const background = el => { for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3); }
    return [255, 255, 255]; };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || !visible(el) || el.closest(".sr, .skip, option")) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    const a = lum(rgb(s.color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + .05) / (Math.min(a, b) + .05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) low.push(`${ratio.toFixed(2)} ${el.tagName}.${el.className}: `
                               + n.textContent.trim().slice(0, 40));
  }
  return {unnamed, low};
}"""


def audit(page: Page) -> None:
    found = page.evaluate(AUDIT)
    assert found == {"unnamed": [], "low": []}, (page.url, found)


def fits_the_screen(page: Page) -> None:
    """Nothing wider than the phone: no sideways scrolling of the whole page."""
    page.wait_for_load_state()
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], (page.url, width)


def test_the_portal_on_a_phone(sign_in, people, open_ticket, site):
    t = open_ticket("Printer jams on floor 2")
    actions.add_reply(actor=people.tess.user, ticket=t, body="A technician comes at 11:00.")
    alice = sign_in(people.alice, phone=True)
    fits_the_screen(alice)
    expect(alice.get_by_role("link", name=t.reference)).to_be_visible()

    alice.get_by_role("link", name=t.reference).tap()
    expect(alice.get_by_role("heading", level=1)).to_contain_text(t.reference)
    expect(alice.locator(".timeline")).to_contain_text("A technician comes at 11:00.")
    expect(alice.locator(".promise-card")).to_be_visible()
    fits_the_screen(alice)

    alice.get_by_role("link", name="New ticket").first.tap()
    expect(alice.get_by_role("heading", level=1)).to_have_text("Open a ticket")
    fits_the_screen(alice)
    alice.get_by_label("Subject").fill("Laptop will not charge")
    alice.get_by_role("textbox", name="Description").fill("The charger light stays off since today.")
    alice.get_by_role("button", name="Submit").tap()
    expect(alice.get_by_role("status")).to_contain_text("Keep this reference")
    fits_the_screen(alice)
    assert Ticket.objects.filter(subject="Laptop will not charge").exists()


def test_the_main_pages_pass_the_audit(sign_in, people, open_ticket, site):
    t = open_ticket("VPN drops every hour")
    actions.add_internal_note(actor=people.tess.user, ticket=t, body="Check the appliance.")
    alice = sign_in(people.alice)
    for path in ("/portal/", "/portal/new/", f"/portal/tickets/{t.reference}/", "/account/profile/"):
        alice.goto(site + path)
        audit(alice)
    tess = sign_in(people.tess)
    for path in ("/console/", "/console/?queue=unassigned", f"/console/tickets/{t.reference}/",
                 "/console/phone/", "/console/manager/", "/account/profile/"):
        tess.goto(site + path)
        audit(tess)
    anonymous = alice.context.browser.new_context(locale="en-GB").new_page()
    for path in ("/login/", "/account/password/reset/"):
        anonymous.goto(site + path)
        audit(anonymous)
    anonymous.context.close()


def test_a_ticket_submitted_with_the_keyboard_alone(sign_in, people, site):
    alice = sign_in(people.alice)
    alice.goto(site + "/portal/new/")
    alice.get_by_label("Subject").focus()
    alice.keyboard.type("Keyboard only")
    alice.keyboard.press("Tab")
    expect(alice.get_by_role("textbox", name="Description")).to_be_focused()
    alice.keyboard.type("Every control is reachable with Tab.")
    # Tab on until the submit button has the focus, then press Enter.
    submit = alice.get_by_role("button", name="Submit")
    for _ in range(60):
        alice.keyboard.press("Tab")
        if submit.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("Submit is not reachable with Tab")
    alice.keyboard.press("Enter")
    expect(alice.get_by_role("status")).to_contain_text(re.compile(r"TD-\d+ is open"))
