"""HTML cleaning: every piece of HTML we show passes through here (nh3)."""

import html as _html
import re

import nh3

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i",
    "img", "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "td": {"colspan"}}
URL_SCHEMES = {"http", "https", "mailto", "cid"}


# Built once: nh3.clean() builds its rules from these sets at every call (half its time
# on a short message).
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
)


def clean_html(value: str) -> str:
    """Sanitised HTML: no scripts, no event handlers, links that cannot run code."""
    return _CLEANER.clean(value)


_URL = re.compile(r"(https?://[^\s<>\"']+)")


def text_to_html(value: str) -> str:
    """Plain text as safe HTML: escaped, paragraphs kept, bare links made clickable."""
    escaped = _html.escape(value)
    linked = _URL.sub(r'<a href="\1">\1</a>', escaped)
    paragraphs = [p.replace("\n", "<br>") for p in re.split(r"\n{2,}", linked.strip())]
    return clean_html("".join(f"<p>{p}</p>" for p in paragraphs if p))
