"""Small charts as SVG, drawn on the server: a line chart and a bar chart, nothing more.

Every chart is inline SVG markup built from escaped text (no JavaScript, no
library). Each has a <title> and a <desc> for screen readers, a <title> per
mark for tooltips, and, where a mark has a drill-down link, the mark is that
link. The table beside each chart carries the same figures for those who read.
Colours are the Okabe–Ito palette, told apart by people with colour blindness;
lines also differ by dash pattern.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 34, 44
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    colour: str = ""
    links: Sequence[str | None] = ()


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text}{unit}"


def _frame(title: str, desc: str, body: list[str]) -> SafeString:
    n = next(_ids)
    # Every piece of text in body went through escape().
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart{n}t chart{n}d" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="sans-serif" font-size="11">'
        f'<title id="chart{n}t">{escape(title)}</title><desc id="chart{n}d">{escape(desc)}</desc>'
        + "".join(body) + "</svg>")


def _legend(series: Sequence[Series], *, lines: bool) -> list[str]:
    out, x = [], LEFT
    for i, s in enumerate(series):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        if lines:
            dash = DASHES[i % len(DASHES)]
            out.append(f'<line x1="{x}" y1="12" x2="{x + 18}" y2="12" stroke="{colour}" '
                       f'stroke-width="2.5" stroke-dasharray="{dash}"/>')
        else:
            out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 22}" y="16">{escape(s.name)}</text>')
        x += 30 + 7 * len(s.name)
    return out


def _axes(labels: Sequence[str], y_max: float, unit: str) -> list[str]:
    out = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
                   f'{escape(_fmt(value, unit))}</text>')
    step = max(1, len(labels) // 12)  # at most about twelve labels under the axis
    for i, label in enumerate(labels):
        if i % step == 0:
            out.append(f'<text x="{_x(i, len(labels)):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                       f'text-anchor="middle" fill="#555">{escape(label)}</text>')
    return out


def _x(i: int, n: int) -> float:
    width = WIDTH - LEFT - RIGHT
    return LEFT + width * (i + 0.5) / max(n, 1)


def _y(value: float, y_max: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * min(max(value, 0.0), y_max) / (y_max or 1)


def _nice_max(values: Sequence[float]) -> float:
    top = max(values, default=0.0)
    if top <= 0:
        return 4.0
    magnitude = 10 ** (len(str(int(top))) - 1)
    for factor in (1, 2, 2.5, 4, 5, 8, 10):
        if top <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _mark(inner: str, href: str | None) -> str:
    return f'<a href="{escape(href)}">{inner}</a>' if href else inner


def line_chart(*, title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "%",
               y_max: float | None = 100.0, target: float | None = None,
               target_label: str = "") -> SafeString:
    """Lines over labelled periods; a None value breaks its line; an optional target line."""
    values = [v for s in series for v in s.values if v is not None]
    top = y_max if y_max is not None else _nice_max(values)
    body = _legend(series, lines=True) + _axes(labels, top, unit)
    if target is not None:
        y = _y(target, top)
        body.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                    f'stroke="#000" stroke-dasharray="3 3"/>')
        body.append(f'<text x="{WIDTH - RIGHT}" y="{y - 4:.1f}" text-anchor="end">'
                    f'{escape(target_label or _fmt(target, unit))}</text>')
    for i, s in enumerate(series):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        path, pen = [], "M"
        for j, value in enumerate(s.values):
            if value is None:
                pen = "M"
                continue
            path.append(f"{pen}{_x(j, len(labels)):.1f},{_y(value, top):.1f}")
            pen = "L"
        if path:
            body.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" '
                        f'stroke-width="2.5" stroke-dasharray="{DASHES[i % len(DASHES)]}"/>')
        for j, value in enumerate(s.values):
            if value is None:
                continue
            tip = f"{s.name}, {labels[j]}: {_fmt(value, unit)}"
            href = s.links[j] if j < len(s.links) else None
            body.append(_mark(
                f'<circle cx="{_x(j, len(labels)):.1f}" cy="{_y(value, top):.1f}" r="3.5" '
                f'fill="{colour}"><title>{escape(tip)}</title></circle>', href))
    desc = "; ".join(
        f"{s.name}: " + ", ".join(f"{labels[j]} {_fmt(v, unit)}" for j, v in enumerate(s.values)
                                  if v is not None) for s in series)
    return _frame(title, desc, body)


def bar_chart(*, title: str, labels: Sequence[str], series: Sequence[Series],
              unit: str = "") -> SafeString:
    """Stacked bars, one per label; each segment may link to its drill-down."""
    totals = [sum((s.values[j] or 0) for s in series) for j in range(len(labels))]
    top = _nice_max(totals)
    body = _legend(series, lines=False) + _axes(labels, top, unit)
    band = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar_w = min(48.0, band * 0.7)
    for j, label in enumerate(labels):
        base = 0.0
        for i, s in enumerate(series):
            value = s.values[j] or 0
            if value <= 0:
                continue
            colour = s.colour or PALETTE[i % len(PALETTE)]
            y_top, y_bottom = _y(base + value, top), _y(base, top)
            href = s.links[j] if j < len(s.links) else None
            tip = f"{label}, {s.name}: {_fmt(value, unit)}"
            body.append(_mark(
                f'<rect x="{_x(j, len(labels)) - bar_w / 2:.1f}" y="{y_top:.1f}" '
                f'width="{bar_w:.1f}" height="{max(y_bottom - y_top, 0.5):.1f}" fill="{colour}">'
                f'<title>{escape(tip)}</title></rect>', href))
            base += value
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{s.name} {_fmt(s.values[j] or 0, unit)}" for s in series)
        for j, label in enumerate(labels))
    return _frame(title, desc, body)
