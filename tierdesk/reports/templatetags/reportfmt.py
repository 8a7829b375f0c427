"""Formatting filters of the report pages: shares, business hours, faces."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

FACE_GLYPHS = {"positive": "🙂", "neutral": "😐", "negative": "🙁"}


@register.filter
def pct(value: Any) -> str:
    """A share in percent, one decimal; a dash when there is nothing to divide."""
    if value is None or value == "":
        return "–"
    return f"{float(value):.1f}%"


@register.filter
def hours(seconds: Any) -> str:
    """Business seconds as hours and minutes ("27 h 05"), a dash for none."""
    if seconds is None or seconds == "":
        return "–"
    minutes = round(float(seconds) / 60)
    return f"{minutes // 60} h {minutes % 60:02d}"


@register.filter
def hours_num(value: Any) -> str:
    """Hours already computed (monthly figures) as a number with one decimal."""
    if value is None or value == "":
        return "–"
    return f"{float(value):.1f} h"


@register.filter
def glyph(face: str | None) -> str:
    return FACE_GLYPHS.get(face or "", "")


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None
