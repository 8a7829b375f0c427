"""What is new in a reply: the quoted history cut off, for the timeline.

In order, the first that finds a cut wins:

1. our own "reply above this line" marker (every notification starts with it);
2. attribution lines in English and Spanish, also when a client wrapped them:
   "On … wrote:", "El … escribió:";
3. an Outlook header block — "From:/De:" followed by "Sent:/Enviado:/Date:/Fecha:" —
   and "-----Original Message-----" / "-----Mensaje original-----";
4. mail-parser-reply's header patterns, for the other languages and shapes it knows.

Only the position of the cut is taken from the library: the text kept is the
sender's own, indentation included. Lines quoted with ">" at the end go too.
When the sender wrote below the quote (bottom-posting) the part above is
empty, and what follows the quote is kept instead. The full message always
stays in the stored original.
"""

from __future__ import annotations

import re

from mailparser_reply.parser import EmailMessage

MARKER_EN = "##- Please type your reply above this line -##"
MARKER_ES = "##- Escriba su respuesta por encima de esta línea -##"

_MARKER = re.compile(
    r"(?:##-.*-##)|reply above this line|respuesta por encima de esta l[ií]nea", re.I)
_QUOTE_PREFIX = r"(?:>\s?)*"
_WROTE = re.compile(
    rf"^{_QUOTE_PREFIX}\s*(?:On\s.{{4,400}}?\swrote|El\s.{{4,400}}?\sescribi[óo])\s*:\s*$",
    re.I | re.S)
_WROTE_START = re.compile(rf"^{_QUOTE_PREFIX}\s*(?:On|El)\s", re.I)
_FROM = re.compile(rf"^{_QUOTE_PREFIX}\s*\*?(?:From|De)\s*:\*?\s*\S", re.I)
_SENT = re.compile(rf"^{_QUOTE_PREFIX}\s*\*?(?:Sent|Date|Enviado|Fecha|Enviado el)\s*:\*?\s*\S", re.I)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Mensaje original|Mensaje Original)\s*-{2,}\s*$", re.I)
_SEPARATOR = re.compile(r"^\s*[_-]{20,}\s*$")
_QUOTED = re.compile(r"^\s*>")

# The library's "wrote:" and "From:/Sent:" header patterns, in the languages it knows.
_LIBRARY_HEADERS = EmailMessage(
    text="", languages=["en", "es", "de", "fr", "it", "nl", "pt", "sv", "pl"]).HEADER_REGEX


def _cut_marker(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _MARKER.search(line):
            return i
    return None


def _cut_headers(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _WROTE_START.match(line):
            joined = line
            for extra in range(3):  # clients wrap long attributions over two or three lines
                if _WROTE.match(joined.strip()):
                    return i
                if i + extra + 1 >= len(lines):
                    break
                joined += " " + lines[i + extra + 1].strip()
        if _ORIGINAL.match(line):
            return i
        if _FROM.match(line) and any(_SENT.match(n) for n in lines[i + 1:i + 5]):
            if i > 0 and _SEPARATOR.match(lines[i - 1]):
                return i - 1
            return i
    return None


def _cut_library(text: str) -> int | None:
    """The line where mail-parser-reply's own header patterns first match (not on line 0).

    Only its patterns are used, not its reading of signatures and disclaimers
    (slow, and not ours to cut). It matches lines stripped of their indentation,
    so we match the same; the line numbers stay those of the original text.
    """
    stripped = "\n".join(line.strip() for line in text.split("\n"))
    try:
        m = _LIBRARY_HEADERS.search(stripped)
    except Exception:  # a third-party regex set: never let it stop a message
        return None
    if m is None:
        return None
    start = m.start() + len(m.group(0)) - len(m.group(0).lstrip("\n"))
    line = stripped.count("\n", 0, start)
    return line if line > 0 else None


def _trim(lines: list[str]) -> list[str]:
    """Drop trailing blank lines and a trailing block of quoted lines."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start_of_quote = end
    while start_of_quote and (_QUOTED.match(lines[start_of_quote - 1])
                              or not lines[start_of_quote - 1].strip()):
        start_of_quote -= 1
    if start_of_quote < end and start_of_quote > 0:
        end = start_of_quote
        while end and not lines[end - 1].strip():
            end -= 1
    return lines[:end]


def _below(lines: list[str], cut: int) -> list[str]:
    """For bottom-posting: what follows the attribution and the quoted block."""
    rest = lines[cut + 1:]
    i = 0
    while i < len(rest) and (_QUOTED.match(rest[i]) or not rest[i].strip()):
        i += 1
    return rest[i:]


def strip_quotes(text: str) -> str:
    """The new part of a reply; the whole text if nothing is new or nothing is quoted."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    cut = _cut_marker(lines)
    if cut is None:
        cut = _cut_headers(lines)
    if cut is None:
        cut = _cut_library(text)
    if cut is None:
        kept = _trim(lines)
    else:
        kept = lines[:cut]
        above = _cut_headers(kept)  # the attribution line above a quoted marker
        if above is not None:
            kept = kept[:above]
        kept = _trim(kept)
        if not any(line.strip() for line in kept):
            kept = _trim(_below(lines, cut))
    result = "\n".join(kept).strip("\n")
    return result if result.strip() else text.strip()
