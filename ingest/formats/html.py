"""HTML pages: visible text, headings as sections, meta tags as metadata."""
from __future__ import annotations

import re

from ..sniff import decode_text, looks_like_text
from ..types import Extracted, Page
from .base import Format

YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")

DROP_TAGS = ["script", "style", "noscript", "template", "iframe", "svg", "canvas", "object", "embed", "nav",
             "button", "select", "input", "textarea", "form", "head", "link", "meta"]
BLOCK_TAGS = {"p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "ul",
              "ol", "dl", "dt", "dd", "li", "table", "thead", "tbody", "tfoot", "tr", "figure", "figcaption",
              "caption", "address", "hr", "br", "details", "summary", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def extract_html(data: bytes) -> Extracted:
    html, warnings = decode_text(data)
    result = html_to_pages(html)
    result.warnings = warnings + result.warnings
    return result


def html_to_pages(html: str) -> Extracted:
    """Visible text in blocks: paragraphs apart, list items and table rows on lines, headings
    recorded; scripts, styles, navigation and hidden elements dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    title = _html_title(soup)
    publisher = _meta(soup, "citation_publisher", "dc.publisher", "publisher", "og:site_name", "author")
    year = _year(_meta(soup, "citation_publication_date", "citation_date", "dc.date", "article:published_time",
                       "date"))
    for tag in soup(DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()
    blocks: list[tuple[str, str]] = []
    _walk(soup.body or soup, blocks)
    text, headings = _join_blocks(blocks)
    if not title and headings:
        title = headings[0][1]
    return Extracted([Page(None, text, headings)], "html", title=title, publisher=publisher, year=year)


def _is_hidden(tag) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    return ("hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true"
            or bool(HIDDEN_STYLE.search(str(attrs.get("style", "")))))


def _html_title(soup) -> str | None:
    for candidate in (_meta(soup, "citation_title", "dc.title", "og:title"),
                      soup.title.get_text(" ", strip=True) if soup.title else None):
        if candidate:
            return " ".join(candidate.split())
    return None


def _meta(soup, *names) -> str | None:
    for name in names:
        tag = soup.find("meta", attrs={"name": re.compile(f"^{re.escape(name)}$", re.I)}) or \
            soup.find("meta", attrs={"property": re.compile(f"^{re.escape(name)}$", re.I)})
        if tag and tag.get("content", "").strip():
            return " ".join(tag["content"].split())
    return None


def _year(value: str | None) -> int | None:
    m = YEAR.search(value or "")
    return int(m.group(1)) if m else None


def _walk(node, blocks: list[tuple[str, str]], inline: list[str] | None = None) -> None:
    """Depth-first: inline text gathers into the current block; block tags flush it."""
    from bs4 import NavigableString, Tag
    from bs4.element import Comment, Doctype, ProcessingInstruction

    own = inline is None
    if own:
        inline = []
    for child in node.children:
        if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(child, NavigableString):
            inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in BLOCK_TAGS:
            _flush(inline, blocks, "p")
            if name in HEADINGS:
                blocks.append(("h", " ".join(child.get_text(" ").split())))
            elif name == "pre":
                blocks.append(("pre", child.get_text()))
            elif name in ("td", "th"):
                cell: list[str] = []
                _walk(child, blocks, cell)
                blocks.append(("cell", " ".join("".join(cell).split())))
            else:
                _walk(child, blocks, inline)
                _flush(inline, blocks, "li" if name in ("li", "dt", "dd") else "p")
            if name == "tr":
                blocks.append(("row", ""))
        else:
            _walk(child, blocks, inline)
    if own:
        _flush(inline, blocks, "p")


def _flush(inline: list[str], blocks: list[tuple[str, str]], kind: str) -> None:
    text = " ".join("".join(inline).split())
    inline.clear()
    if text:
        blocks.append((kind, text))


def _join_blocks(blocks: list[tuple[str, str]]) -> tuple[str, list[tuple[int, str]]]:
    """Blocks → page text: paragraphs and headings apart by a blank line, list items and
    table rows by a newline, table cells by a tab."""
    parts: list[str] = []
    headings: list[tuple[int, str]] = []
    length = 0
    prev = None
    for kind, text in blocks:
        if kind == "row":
            prev = "row"
            continue
        if not text.strip():
            continue
        if not parts:
            sep = ""
        elif kind == "cell" and prev == "cell":
            sep = "\t"
        elif kind in ("li", "cell") and prev in ("li", "cell", "row"):
            sep = "\n"
        else:
            sep = "\n\n"
        parts.append(sep)
        length += len(sep)
        if kind == "h":
            headings.append((length, text))
        parts.append(text)
        length += len(text)
        prev = kind
    return "".join(parts), headings


FORMAT = Format(kind="html", label="HTML page", suffixes=(".html", ".htm"), media_types=("text/html",
                "application/xhtml+xml"), accepts=looks_like_text, extract=extract_html)
