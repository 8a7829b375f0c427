"""Raw bytes in, a `ParsedMail` out — for any message, however broken.

The standard library's parser (policy.default) reads the structure; what it
leaves to chance we do ourselves, because mail in the wild lies:

- bytes are decoded by `decode_bytes`: valid UTF-8 is UTF-8 whatever the label
  says (the commonest mislabel), then the declared charset, then Windows-1252
  with replacement characters. Nothing here ever raises on content.
- headers are decoded from their raw value (8-bit bytes included) and RFC 2047
  words are joined before decoding, so a character split across two words
  survives; addresses are split before decoding, so a comma inside an encoded
  display name does not split the address.
- the body is the text/plain alternative, or a text rendering of the HTML; the
  HTML is kept sanitised (nh3, `clean_html`); everything else is an attachment,
  named when it has no name, inline images (cid:) included.

`classify` tells mail sent by machines apart (delivery reports, automatic
replies, lists and other automated mail): the loop guard reads it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from tierdesk.lib.html import clean_html


class _MemoRegistry(HeaderRegistry):
    """policy.default's header registry, remembering what it parsed.

    The parser and the message API parse Content-Type again at every question
    (maintype, boundary, charset...); header objects are immutable, so the same
    (name, value) may share one. Same classes, same results, a third of the time.
    """

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one registry for the process
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


POLICY = policy.default.clone(header_factory=_MemoRegistry())

MAX_PARTS = 500
MAX_DEPTH = 12
MAX_TEXT = 1_000_000  # characters of body text kept; the raw message keeps the rest


class Automation:
    """Who wrote it, as far as the headers tell. Stable codes."""

    HUMAN = ""
    AUTOMATED = "automated"     # lists, bulk, auto-generated: may open tickets, never answered
    AUTO_REPLY = "auto_reply"   # out-of-office and other automatic answers: ignored
    BOUNCE = "bounce"           # delivery reports: ignored, noted on the ticket they concern


@dataclass(frozen=True)
class Address:
    name: str
    email: str  # lower case

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False


@dataclass
class ParsedMail:
    message_id: str = ""
    subject: str = ""
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    date: datetime | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    automation: str = Automation.HUMAN
    language: str = ""
    encrypted: bool = False
    # Delivery reports: the Message-IDs of the mail that bounced and who it was for.
    bounced_ids: list[str] = field(default_factory=list)
    bounced_recipients: list[str] = field(default_factory=list)
    headers_only: bool = False
    defects: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this one answers, nearest first."""
        seen: dict[str, None] = {}
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            seen.setdefault(mid, None)
        return list(seen)


# ---------------------------------------------------------------------------- bytes

_CHARSET_ALIASES = {
    "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8", "us-ascii": "ascii", "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8", "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7", "x-mac-roman": "mac_roman", "macintosh": "mac_roman",
    "windows-874": "cp874", "x-user-defined": "", "x-unknown": "", "unknown-8bit": "",
    "unknown": "", "default": "", "charset": "",
}
# Encodings whose text may be pure ASCII bytes yet mean something else, or that
# valid-UTF-8 bytes could pass for: always tried first when declared.
_FIRST = ("utf-7", "utf-16", "utf-32", "iso-2022", "hz")


def _charset(name: str | None) -> str:
    name = (name or "").strip().strip("\"'").lower()
    return _CHARSET_ALIASES.get(name, name)


def decode_bytes(data: bytes, charset: str | None = "") -> str:
    """Text from bytes of any (or a wrong) charset; never raises."""
    name = _charset(charset)
    if name.startswith(_FIRST):
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            pass
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if name and name not in ("utf-8", "ascii"):
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            pass
    return data.decode("cp1252", errors="replace")


def _unescape(value: str) -> str:
    """A header value read from bytes carries its 8-bit bytes as surrogates: decode them."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"))


_EW = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_EW_GAP = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")


def _word_bytes(encoding: str, data: str) -> bytes | None:
    try:
        if encoding in "bB":
            data = re.sub(r"[^A-Za-z0-9+/]", "", data)
            return base64.b64decode(data + "=" * (-len(data) % 4))
        return quopri.decodestring(data.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return None


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded; adjacent words of one charset decoded together."""
    if "=?" not in value:
        return value
    value = _EW_GAP.sub(r"\1", value)
    out: list[str] = []
    pos = 0
    run_charset: str | None = None
    run = b""

    def flush() -> None:
        nonlocal run, run_charset
        if run_charset is not None:
            out.append(decode_bytes(run, run_charset))
        run, run_charset = b"", None

    for m in _EW.finditer(value):
        if m.start() > pos:
            flush()
            out.append(value[pos:m.start()])
        charset = m.group(1).split("*")[0]  # RFC 2231 language suffix
        data = _word_bytes(m.group(2), m.group(3))
        if data is None:
            flush()
            out.append(m.group(0))
        else:
            if run_charset is not None and _charset(charset) != _charset(run_charset):
                flush()
            run_charset = charset
            run += data
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def _collapse(value: str) -> str:
    return " ".join(value.split())


# --------------------------------------------------------------------------- headers


def _raw(msg: Message, name: str) -> list[str]:
    """The raw values of a header (8-bit bytes as surrogates), read once per message."""
    index = msg.__dict__.get("_td_headers")
    if index is None:
        index = {}
        for key, value in msg.raw_items():
            index.setdefault(key.lower(), []).append(str(value))
        msg.__dict__["_td_headers"] = index
    return index.get(name, [])


def _first(msg: Message, name: str) -> str:
    values = _raw(msg, name)
    return values[0] if values else ""


def _text_header(msg: Message, name: str) -> str:
    return _collapse(decode_words(_unescape(_first(msg, name))))


def _addresses(msg: Message, name: str) -> list[Address]:
    values = _raw(msg, name)
    return list(_address_list(tuple(values))) if values else []


@functools.lru_cache(maxsize=2048)
def _address_list(values: tuple[str, ...]) -> tuple[Address, ...]:
    """The addresses of a header's raw values. A pure function of them, remembered: the
    same To (our support address), the same senders come back message after message,
    and the standard library's address parser is the slow part of the headers."""
    found: list[Address] = []
    try:
        pairs = getaddresses([_unescape(v) for v in values])
    except Exception:  # the stdlib's address parser has raised on some garbage
        pairs = []
    for display, addr in pairs:
        addr = addr.strip().strip("<>").lower()
        if "@" not in addr or " " in addr or len(addr) > 254:
            continue
        found.append(Address(_collapse(decode_words(display)).strip("\"' "), addr))
    return tuple(found)


_MID = re.compile(r"<([^<>\s]{1,250})>")


def message_ids(value: str) -> list[str]:
    return _MID.findall(value)


def _message_id(msg: Message) -> str:
    value = _first(msg, "message-id").strip()
    found = message_ids(value)
    if found:
        return found[0]
    return value.split()[0][:250] if value.split() else ""


def _date(msg: Message) -> datetime | None:
    value = _first(msg, "date")
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _header_block(raw: bytes) -> bytes:
    m = _HEADER_END.search(raw)
    return raw[: m.end()] if m else raw


def read_headers(raw: bytes) -> Message:
    return BytesHeaderParser(policy=POLICY).parsebytes(_header_block(raw))


def read(raw: bytes) -> Message | None:
    """The whole message parsed (what `parse` does first), or None when the parser
    gives up. A door that has it may hand it to `dedupe_key` and `parse`: the
    headers are then read once instead of twice."""
    try:
        return BytesParser(policy=POLICY).parsebytes(raw)
    except Exception:  # the parser is lenient; this is for the pathological rest
        return None


def dedupe_key(raw: bytes, message: Message | None = None) -> tuple[str, str]:
    """(key, message_id) for a raw message: the Message-ID's hash, or the content's.

    Without a Message-ID the hash covers who, when and what — not the trace
    headers a relay adds — so the same message fetched twice still matches.
    `message`: `read(raw)`, if the caller has it (the same headers as read_headers:
    both parsers read the header block alike).
    """
    headers = message if message is not None else read_headers(raw)
    mid = _message_id(headers)
    if mid:
        return hashlib.sha256(b"mid:" + mid.encode("utf-8", "surrogateescape")).hexdigest(), mid
    digest = hashlib.sha256(b"raw:")
    for name in ("from", "to", "cc", "date", "subject"):
        digest.update(name.encode() + b":" + "|".join(_raw(headers, name)).encode(
            "utf-8", "surrogateescape") + b"\n")
    digest.update(raw[len(_header_block(raw)):])
    return digest.hexdigest(), ""


# ------------------------------------------------------------------------ automation

_AUTO_REPLY_FLAGS = ("x-autoreply", "x-autorespond", "x-auto-reply", "x-autoresponder")
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")


def classify(msg: Message, sender: Address | None) -> str:
    """Automation class from the headers (RFC 3834 and the conventions around it)."""
    mime = _mime(msg)
    if mime.ctype == "multipart/report":
        report = mime.param("report-type")
        return Automation.AUTO_REPLY if report == "disposition-notification" else Automation.BOUNCE
    if _first(msg, "x-failed-recipients"):
        return Automation.BOUNCE
    if sender is not None and sender.email.split("@")[0] in _BOUNCE_SENDERS:
        return Automation.BOUNCE
    auto = _first(msg, "auto-submitted").split(";")[0].strip().lower()
    if auto == "auto-replied":
        return Automation.AUTO_REPLY
    if any(_first(msg, h).strip().lower() not in ("", "no", "false") for h in _AUTO_REPLY_FLAGS):
        return Automation.AUTO_REPLY
    precedence = _first(msg, "precedence").strip().lower()
    if precedence == "auto_reply":
        return Automation.AUTO_REPLY
    if (auto and auto != "no") or precedence in ("bulk", "junk", "list") \
            or _first(msg, "list-id") or _first(msg, "return-path").strip() == "<>":
        return Automation.AUTOMATED
    return Automation.HUMAN


# ------------------------------------------------------------------------------ body


class _Text(HTMLParser):
    """HTML to readable text: blocks on lines, lists with dashes, quotes with '> '."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
                        "blockquote", "pre", "hr", "ul", "ol", "dl", "dt", "dd", "section",
                        "article", "header", "footer", "address"})
    SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.depth = 0          # blockquote nesting
        self.line_depth = 0     # the depth the current line started at
        self.skip = 0
        self.pre = 0
        self.href: list[str | None] = []
        self.link_text: list[int] = []

    def _newline(self, *, force: bool = False) -> None:
        text = "".join(self.current)
        text = text if self.pre else _collapse(text)
        if text or force:
            self.lines.append("> " * self.line_depth + text if text else ">" * self.line_depth)
        elif self.lines and self.lines[-1] != "":
            self.lines.append("")
        self.current = []
        self.line_depth = self.depth

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
            return
        if tag == "br":
            self._newline(force=True)
            return
        if tag in self.BLOCKS:
            self._newline()
        if tag == "blockquote":
            self.depth += 1
            self.line_depth = self.depth
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.current.append("- ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
            self.link_text.append(len("".join(self.current)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.current.append(f"[{alt}]")
        elif tag in ("td", "th"):
            self.current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "a" and self.href:
            href, start = self.href.pop(), self.link_text.pop()
            label = "".join(self.current)[start:].strip()
            if href and href.startswith(("http://", "https://")) and href not in label:
                self.current.append(f" <{href}>")
        if tag in self.BLOCKS:
            self._newline()
        if tag == "blockquote":
            self.depth = max(0, self.depth - 1)
            self.line_depth = self.depth
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._newline(force=True)
                self.current.append(part)
        else:
            self.current.append(data)

    def text(self) -> str:
        self._newline()
        out = "\n".join(self.lines)
        return re.sub(r"\n{3,}", "\n\n", out).strip()


def html_to_text(html: str) -> str:
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is for the pathological rest
        return _collapse(re.sub(r"<[^>]*>", " ", html))
    return parser.text()


def _unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft line breaks (a line ending in a space)."""
    out: list[str] = []
    buf = ""
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.endswith(" ") and line != "-- ":
            buf += line[:-1] if delsp else line
            continue
        out.append(buf + line)
        buf = ""
    if buf:
        out.append(buf)
    return "\n".join(out)


@dataclass(frozen=True)
class _Mime:
    """What a part says about itself; policy.default parses each header once here."""

    ctype: str
    params: dict[str, str]
    disposition: str
    filename: str
    content_id: str

    def param(self, name: str) -> str:
        return self.params.get(name, "").strip().lower()


def _parsed(part: Message, name: str) -> tuple[str, dict[str, str]]:
    """(value, parameters) of a MIME header as policy.default reads it; empty if absent or
    so broken that the registry gives up."""
    try:
        header = part.get(name)
        if header is None:
            return "", {}
        value = getattr(header, "content_type", None) or getattr(header, "content_disposition", "")
        params = getattr(header, "params", {}) or {}
        return str(value or "").lower(), {str(k).lower(): str(v) for k, v in params.items()}
    except Exception:
        return "", {}


def _mime(part: Message) -> _Mime:
    cached = part.__dict__.get("_td_mime")
    if cached is not None:
        return cached
    ctype, params = _parsed(part, "content-type")
    if not ctype:
        ctype = part.get_default_type()
    if ctype.count("/") != 1:
        ctype = "text/plain"
    disposition, dparams = _parsed(part, "content-disposition")
    filename = _clean_filename(dparams.get("filename") or params.get("name", ""))
    cid = message_ids(" ".join(_raw(part, "content-id")))
    mime = _Mime(ctype, params, disposition, filename, cid[0] if cid else "")
    part.__dict__["_td_mime"] = mime
    return mime


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _part_text(part: Message) -> str:
    mime = _mime(part)
    text = decode_bytes(_payload(part), mime.param("charset"))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if mime.param("format") == "flowed":
        text = _unflow(text, delsp=mime.param("delsp") == "yes")
    return text


def _clean_filename(name: str) -> str:
    name = _collapse(decode_words(_unescape(str(name))))
    # Never a path, never a control character.
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name).strip(". ")
    return name[:200]


_EXT_FALLBACK = {"message/rfc822": ".eml", "text/plain": ".txt", "application/octet-stream": ".bin",
                 "image/jpeg": ".jpg", "application/pkcs7-signature": ".p7s",
                 "application/x-pkcs7-signature": ".p7s", "application/pkcs7-mime": ".p7m",
                 "application/x-pkcs7-mime": ".p7m", "application/pgp-signature": ".asc",
                 "application/pgp-encrypted": ".pgp", "text/calendar": ".ics"}


def _extension(content_type: str) -> str:
    return _EXT_FALLBACK.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"


class _Collector:
    def __init__(self, mail: ParsedMail) -> None:
        self.mail = mail
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[Attachment] = []
        self.parts = 0

    def attach(self, part: Message, data: bytes | None = None, *, name: str = "") -> None:
        mime = _mime(part)
        ctype = mime.ctype
        filename = name or mime.filename
        if not filename:
            filename = f"attachment-{len(self.attachments) + 1}{_extension(ctype)}"
        elif "." not in filename.strip("."):
            filename += _extension(ctype)
        self.attachments.append(Attachment(
            filename=filename, content_type=ctype, data=_payload(part) if data is None else data,
            content_id=mime.content_id,
            inline=mime.disposition == "inline" or bool(mime.content_id)))

    def walk(self, part: Message, depth: int = 0) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS or depth > MAX_DEPTH:
            self.mail.defects.append("too many or too deeply nested parts; the rest is in the raw message")
            return
        mime = _mime(part)
        ctype = mime.ctype
        if ctype == "message/rfc822" or (part.is_multipart() and ctype.startswith("message/")):
            self.forwarded(part, depth)
            return
        if ctype.startswith("multipart/") and not part.is_multipart():
            self.unbounded(part, ctype, depth)
            return
        if part.is_multipart():
            children = [p for p in (part.get_payload() or []) if isinstance(p, Message)]
            if ctype == "multipart/alternative":
                self.alternative(children, depth)
            elif ctype == "multipart/signed" and children:
                self.walk(children[0], depth + 1)
                for child in children[1:]:
                    self.attach(child)
            elif ctype == "multipart/encrypted":
                self.mail.encrypted = True
                for child in children:
                    if _mime(child).ctype != "application/pgp-encrypted":
                        self.attach(child, name=_mime(child).filename or "encrypted.asc")
            elif ctype == "multipart/report":
                self.report(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
            return
        if ctype in ("text/plain", "text/html") and mime.disposition != "attachment" \
                and not mime.filename:
            (self.texts if ctype == "text/plain" else self.htmls).append(_part_text(part))
        elif ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime") and \
                (mime.param("smime-type") or "enveloped-data") == "enveloped-data":
            self.mail.encrypted = True
            self.attach(part, name=mime.filename or "smime.p7m")
        elif ctype == "text/watch-html":
            return  # Apple Watch rendering of the same text
        else:
            self.attach(part)

    def unbounded(self, part: Message, ctype: str, depth: int) -> None:
        """A multipart without its boundary parameter: find the boundary in the body."""
        payload = part.get_payload()
        body = payload if isinstance(payload, str) else ""
        m = re.search(r"^--([^\s]{1,70}?)(?:--)?\s*$", body, re.M)
        if m is not None:
            rebuilt = f'Content-Type: {ctype}; boundary="{m.group(1)}"\n\n{body}'
            sub = BytesParser(policy=POLICY).parsebytes(
                rebuilt.encode("utf-8", "surrogateescape"))
            if sub.is_multipart():
                self.walk(sub, depth + 1)
                return
        self.texts.append(_part_text(part))

    def alternative(self, children: list[Message], depth: int) -> None:
        plain: _Collector | None = None
        rich: _Collector | None = None
        for child in children:
            sub = _Collector(self.mail)
            sub.parts = self.parts
            sub.walk(child, depth + 1)
            self.parts = sub.parts
            if sub.htmls:
                rich = sub  # the last alternative is the richest
            elif sub.texts and plain is None:
                plain = sub
            else:
                self.attachments += sub.attachments
        if plain is not None:
            self.texts += plain.texts
            self.attachments += plain.attachments
        if rich is not None:
            self.htmls += rich.htmls
            self.attachments += rich.attachments
            if plain is None:
                self.texts += rich.texts

    def forwarded(self, part: Message, depth: int) -> None:
        inner = part.get_payload(0) if part.is_multipart() else None
        if not isinstance(inner, Message):
            self.attach(part)
            return
        subject = _text_header(inner, "subject")
        try:
            data = inner.as_bytes(policy=policy.default.clone(linesep="\r\n"))
        except Exception:
            data = _payload(part)
        self.attach(part, data, name=_mime(part).filename or f"{_safe_name(subject) or 'message'}.eml")
        # The forwarded text belongs to what the sender says: show it.
        sub = _Collector(self.mail)
        sub.parts = self.parts
        sub.walk(inner, depth + 1)
        self.parts = sub.parts
        body = "\n\n".join(sub.texts) or html_to_text("".join(sub.htmls))
        head = [f"{label}: {value}" for label, value in (
            ("From", _text_header(inner, "from")), ("Date", _text_header(inner, "date")),
            ("Subject", subject)) if value]
        self.texts.append("\n".join(["---------- Forwarded message ----------", *head, "", body]))
        self.attachments += sub.attachments

    def report(self, children: list[Message], depth: int) -> None:
        for index, child in enumerate(children):
            ctype = _mime(child).ctype
            if index == 0:
                self.walk(child, depth + 1)
            elif ctype in ("message/delivery-status", "message/global-delivery-status"):
                text = _flatten(child)
                self.mail.bounced_recipients += [a.lower() for a in _FINAL_RECIPIENT.findall(text)]
            elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
                original = child.get_payload(0) if child.is_multipart() else None
                if not isinstance(original, Message):
                    original = read_headers(_payload(child))
                mid = _message_id(original)
                if mid:
                    self.mail.bounced_ids.append(mid)
                self.mail.bounced_ids += message_ids(" ".join(_raw(original, "references")))


_FINAL_RECIPIENT = re.compile(r"(?im)^final-recipient:\s*[^;]*;\s*<?([^\s>]+@[^\s>]+)")


def _flatten(part: Message) -> str:
    if part.is_multipart():
        return "\n".join(_flatten(p) for p in part.get_payload() if isinstance(p, Message))
    return "\n".join(f"{k}: {v}" for k, v in part.raw_items()) + "\n" + decode_bytes(_payload(part))


def _safe_name(value: str) -> str:
    return re.sub(r"[^\w\- ]+", "", value).strip()[:80]


# -------------------------------------------------------------------------- language

def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORDS = {
    "es": _vocabulary("el la los las de del que y en por para con una un es no se su hola gracias "
                      "saludos buenos buenas días favor problema ayuda correo desde tenemos funciona "
                      "nuestro nuestra equipo está están cuando pero muy también"),
    "en": _vocabulary("the and to of is in it for on with please thanks thank hello hi we you not "
                      "this that problem help our since when but have has from can cannot"),
}


def guess_language(msg: Message, text: str) -> str:
    """'es' or 'en' from Content-Language, else from the commonest words; '' if unsure."""
    declared = (_first(msg, "content-language") or _first(msg, "accept-language")).strip().lower()
    if declared[:2] in _WORDS:
        return declared[:2]
    words = re.findall(r"[a-záéíóúñü]+", text[:3000].lower())
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in _WORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= 3 and scores[best] > 1.2 * min(scores.values()) else ""


# ------------------------------------------------------------------------------- all


def parse(raw: bytes, *, headers_only: bool = False, message: Message | None = None) -> ParsedMail:
    """Everything routing and the ticket need, from one raw message. Never raises.

    `message`: `read(raw)` if the caller has it already (not parsed again)."""
    if headers_only:
        msg = read_headers(raw)
    else:
        found = message if message is not None else read(raw)
        if found is None:
            msg = read_headers(raw)
            headers_only = True
        else:
            msg = found
    senders = _addresses(msg, "from") or _addresses(msg, "sender") or _addresses(msg, "return-path")
    mail = ParsedMail(
        message_id=_message_id(msg),
        subject=_text_header(msg, "subject")[:1000],
        sender=senders[0] if senders else None,
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        reply_to=_addresses(msg, "reply-to"),
        date=_date(msg),
        in_reply_to=message_ids(" ".join(_raw(msg, "in-reply-to"))),
        references=message_ids(" ".join(_raw(msg, "references"))),
        headers_only=headers_only,
    )
    mail.automation = classify(msg, mail.sender)
    mail.defects = [type(d).__name__ for d in getattr(msg, "defects", [])][:20]
    if headers_only:
        mail.language = guess_language(msg, "")
        return mail
    collector = _Collector(mail)
    collector.walk(msg)
    html = "\n".join(collector.htmls)
    text = "\n\n".join(t.strip("\n") for t in collector.texts if t.strip())
    if not text and html:
        text = html_to_text(html)
    mail.text = text.replace("\x00", "")[:MAX_TEXT]
    mail.html = clean_html(html) if html else ""
    mail.attachments = collector.attachments
    mail.language = guess_language(msg, mail.text)
    return mail
