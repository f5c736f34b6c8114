"""Plain text: headings are Markdown '#' lines and short title-like lines followed by text.

A text file whose content is clearly Markdown or HTML (text copied from a web page, an export)
is read as Markdown or as an HTML page (`sniff.markup_of`), so no raw <sup>2</sup>,
<https://...>, ** or --- reaches a quote."""
from __future__ import annotations

import re

from ..limits import check_text
from ..sniff import decode_text, looks_like_text, markup_of
from ..types import Extracted, Page
from .base import Format
from .blocks import holds_content

ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
LISTISH = re.compile(r"^\s*(?:[-*•◦▪‣–·]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")


def extract_text(data: bytes) -> Extracted:
    text, warnings = decode_text(data)
    markup = markup_of(text)
    if markup is not None:
        result = _as_markup(text, markup)
        result.warnings = warnings + result.warnings
        return result
    check_text(text)
    headings = text_headings(text)
    title = headings[0][1] if headings and headings[0][0] < 300 else first_line(text)
    return Extracted([Page(None, text, headings)], "text", title=title, warnings=warnings)


def _as_markup(text: str, markup: str) -> Extracted:
    if markup == "html":
        from .html import main_content_pages

        return main_content_pages(text)
    from .markdown import markdown_to_pages

    return markdown_to_pages(text, line_breaks=True)


def text_headings(text: str) -> list[tuple[int, str]]:
    """(offset, heading) of Markdown '#' lines, and of short title-like lines that have text
    after them. One pass forward, one back: linear in the text, however many blank lines."""
    lines = []
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    has_text_after = [False] * len(lines)
    seen = False
    for i in range(len(lines) - 1, -1, -1):
        has_text_after[i] = seen
        seen = seen or bool(lines[i][1].strip())
    out = []
    for i, (offset, line) in enumerate(lines):
        m = ATX.match(line)
        if m:
            out.append((offset + len(line) - len(line.lstrip()), m.group(2).strip()))
        elif has_text_after[i] and _title_like(line):
            out.append((offset + len(line) - len(line.lstrip()), line.strip()))
    return out


def _title_like(line: str) -> bool:
    s = line.strip()
    if not (2 <= len(s) <= 100):
        return False
    words = s.split()
    if not (1 <= len(words) <= 12):
        return False
    if s[-1] in ".,;:" or LISTISH.match(line) or not (s[0].isupper() or s[0].isdigit()):
        return False
    if s.lower().startswith(("see also", "http", "www.")) or "@" in s or not re.search(r"[^\W\d_]{2}", s) \
            or holds_content(s):  # "Topic Editor: Andy Gomm" is text, not a section
        return False
    long_words = [w for w in words if len(w.strip("()[]\"'“”:,")) >= 4]
    if not long_words:
        return all(w[0].isupper() or w[0].isdigit() for w in words)
    capitalised = sum(1 for w in long_words if w.strip("()[]\"'“”")[:1].isupper() or w[:1].isdigit())
    return capitalised / len(long_words) >= 0.6


def first_line(text: str) -> str | None:
    for line in text.split("\n"):
        if line.strip():
            s = " ".join(line.split())
            return s if len(s) <= 120 else None
    return None


FORMAT = Format(kind="text", label="text file", suffixes=(".txt", ".text"), media_types=("text/plain",),
                accepts=looks_like_text, extract=extract_text)
