"""The monthly report as a PDF, drawn with fpdf2 from the report's figures.

fpdf2 (pure Python, maintained, no system libraries) with its core Helvetica:
no font files to ship. Core fonts cover Latin-1, which holds English and
Spanish; the few typographic signs outside it are replaced (`latin1`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

_REPLACEMENTS = str.maketrans({"›": ">", "–": "-", "—": "-", "…": "...", "“": '"', "”": '"',
                               "‘": "'", "’": "'", "≤": "<=", "≥": ">=", "→": "->", "€": "EUR"})
BAR = (0, 114, 178)  # the charts' blue
GREY = (242, 242, 242)
HEAD = FontFace(emphasis="BOLD", fill_color=(214, 226, 240))


def latin1(text: Any) -> str:
    return str(text).translate(_REPLACEMENTS).encode("latin-1", "replace").decode("latin-1")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _h(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


class _Doc(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=8)
        self.set_text_color(120)
        self.cell(0, 6, latin1(f"{self.footer_text}  {self.page_no()}/{{nb}}"), align="C")


def monthly_pdf(figures: dict[str, Any]) -> bytes:
    """The PDF of a monthly report, in the language its figures were made in."""
    with translation.override(figures.get("language") or "en"):
        return bytes(_draw(figures))


def _draw(f: dict[str, Any]) -> bytearray:
    doc = _Doc(format="A4")
    doc.footer_text = f"{f['organisation']} · {f['month']}"
    doc.set_title(latin1(_("Monthly support report") + f" {f['organisation']} {f['month']}"))
    doc.set_lang(f.get("language") or "en")
    doc.set_creation_date(datetime.fromisoformat(f["generated_at"]))
    doc.set_auto_page_break(auto=True, margin=16)
    doc.add_page()

    doc.set_font("helvetica", "B", 18)
    doc.cell(0, 10, latin1(_("Monthly support report")), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("helvetica", size=12)
    doc.cell(0, 7, latin1(f"{f['organisation']} · {f['month']}"),
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("helvetica", size=8)
    doc.set_text_color(110)
    doc.cell(0, 5, latin1(_("Times in business hours, %(zone)s. Generated %(at)s.") % {
        "zone": f["zone"], "at": f["generated_at"][:16].replace("T", " ")}),
        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_text_color(0)
    doc.ln(3)

    _heading(doc, _("The month"))
    _table(doc, [_("Tickets opened"), _("Tickets resolved"), _("Reopened"),
                 _("Escalated by you")],
           [[str(f["opened"]), str(f["resolved"]),
             f"{f['reopened']} ({_pct(f['reopen_rate'])})", str(f["escalations"]["customer"])]])

    _heading(doc, _("Service levels"))
    rows = [[t["label"], str(t["met"]), str(t["breached"]), _pct(t["share"]), _h(t["p50_hours"]),
             _h(t["p90_hours"])] for t in f["targets"]]
    _table(doc, [_("Target"), _("Met"), _("Breached"), _("Share met"), _("Median"), _("90%")],
           rows, widths=(50, 22, 22, 28, 34, 34))
    _bars(doc, [(t["label"], t["share"]) for t in f["targets"]])
    doc.set_font("helvetica", size=8)
    doc.multi_cell(0, 4, latin1(_(
        "Time spent waiting for you (%(customer)s) or for a third party (%(third)s) is not "
        "counted in these times.") % {"customer": _h(f["paused_customer_hours"]),
                                      "third": _h(f["paused_third_party_hours"])}),
        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(2)
    if f["by_priority"]:
        _table(doc, [_("Priority"), _("Tickets"), _("Breaches"), _("First response"),
                     _("Resolution plan"), _("Resolution")],
               [[r["label"], str(r["tickets"]), str(r["breaches"]), *map(_pct, r["shares"])]
                for r in f["by_priority"]], widths=(40, 22, 22, 34, 36, 36))

    if f.get("satisfaction"):
        s = f["satisfaction"]
        _heading(doc, _("Your satisfaction"))
        _table(doc, [_("Asked"), _("Answered"), _("Good"), _("Okay"), _("Bad"), _("Good share")],
               [[str(s["asked"]), str(s["answered"]), str(s["positive"]), str(s["neutral"]),
                 str(s["negative"]), _pct(s["positive_share"])]])

    if f["breaches"]:
        _heading(doc, _("Tickets that missed a target"))
        _table(doc, [_("Ticket"), _("Subject"), _("Priority")],
               [[b["reference"], b["subject"], b["priority"]] for b in f["breaches"]],
               widths=(30, 120, 40))
        if f["breaches_more"]:
            _note(doc, _("… and %(n)s more.") % {"n": f["breaches_more"]})

    _heading(doc, _("Open items"))
    if f["open_items"]:
        _table(doc, [_("Ticket"), _("Subject"), _("Status"), _("Priority"), _("Opened")],
               [[t["reference"], t["subject"], t["status"], t["priority"], t["created"][:10]]
                for t in f["open_items"]], widths=(26, 84, 32, 24, 24))
        if f["open_more"]:
            _note(doc, _("… and %(n)s more.") % {"n": f["open_more"]})
    else:
        _note(doc, _("Nothing open: every ticket is resolved."))
    return doc.output()


def _heading(doc: FPDF, text: str) -> None:
    doc.ln(2)
    doc.set_font("helvetica", "B", 13)
    doc.cell(0, 8, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("helvetica", size=10)


def _note(doc: FPDF, text: str) -> None:
    doc.set_font("helvetica", "I", 9)
    doc.cell(0, 6, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("helvetica", size=10)


def _table(doc: FPDF, header: list[str], rows: list[list[str]],
           widths: tuple[int, ...] | None = None) -> None:
    doc.set_font("helvetica", size=9)
    doc.set_fill_color(*GREY)
    with doc.table(col_widths=widths, line_height=5.5, headings_style=HEAD,
                   cell_fill_color=GREY, cell_fill_mode="ROWS", first_row_as_headings=True,
                   text_align="LEFT") as table:
        head = table.row()
        for cell in header:
            head.cell(latin1(cell))
        for values in rows:
            row = table.row()
            for cell in values:
                row.cell(latin1(cell))
    doc.ln(2)


def _bars(doc: FPDF, shares: list[tuple[str, float | None]]) -> None:
    """Horizontal bars of the share met per target: a glance before the numbers."""
    x0, width = doc.l_margin + 50, 120
    doc.set_font("helvetica", size=8)
    for label, share in shares:
        y = doc.get_y()
        doc.set_xy(doc.l_margin, y)
        doc.cell(50, 5, latin1(label))
        doc.set_fill_color(*GREY)
        doc.rect(x0, y + 1, width, 3.5, style="F")
        if share is not None:
            doc.set_fill_color(*BAR)
            doc.rect(x0, y + 1, width * share / 100, 3.5, style="F")
        doc.set_xy(x0 + width + 3, y)
        doc.cell(20, 5, _pct(share), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_fill_color(*GREY)
    doc.ln(2)
