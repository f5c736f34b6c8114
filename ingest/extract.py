"""One function per format: file → pages of text with headings and metadata.

Every failure a user can meet is an ExtractionError whose message is the per-file reason
shown in the ingest summary ("password-protected PDF: ...").
"""
from __future__ import annotations

import codecs
import io
import re
from pathlib import Path

from kb.errors import ExtractionError

from .pdf_meta import pdf_metadata
from .types import Extracted, Page

TEXT_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                 ".html": "html", ".htm": "html", ".pdf": "pdf"}
SUPPORTED = ", ".join(sorted({".txt", ".md", ".html", ".htm", ".pdf"}))
MIN_PDF_CHARS = 20  # fewer letters/digits than this (in a PDF, or on a page) is no usable text
YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")


def kind_of(path: Path) -> str | None:
    return TEXT_SUFFIXES.get(path.suffix.lower())


def extract(path: Path, data: bytes | None = None) -> Extracted:
    """Read and extract one file; `data` may be passed when the caller already read it."""
    kind = kind_of(path)
    if kind is None:
        raise ExtractionError(f"unsupported file type {path.suffix or '(no extension)'!r}; supported: {SUPPORTED}")
    if data is None:
        data = read_bytes(path)
    if not data:
        raise ExtractionError("empty file (0 bytes)")
    sniffed = sniff(data)
    if kind == "pdf":
        if sniffed != "pdf":
            raise ExtractionError(f"not a PDF: the content {_describe(sniffed)}; fix the file or its extension")
        return extract_pdf(data)
    if sniffed not in ("text", "html"):
        raise ExtractionError(f"not a text file: the content {_describe(sniffed)}")
    text, warnings = decode_text(data)
    if kind == "html":
        result = extract_html(text)
    elif kind == "markdown":
        result = extract_markdown(text)
    else:
        result = extract_text(text)
    result.warnings = warnings + result.warnings
    if not any(p.text.strip() for p in result.pages):
        raise ExtractionError("no text: the file holds only whitespace or markup")
    return result


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError:
        raise ExtractionError("permission denied: the file cannot be read by this user") from None
    except IsADirectoryError:
        raise ExtractionError("is a directory, not a file") from None
    except OSError as exc:
        raise ExtractionError(f"cannot be read ({exc.strerror or exc})") from None


# ---- sniffing and decoding ------------------------------------------------------------------

def sniff(data: bytes) -> str:
    """'pdf', 'html', 'text', or the name of some other format ('zip', 'png', 'binary'...)."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE,
                        codecs.BOM_UTF8)):
        return "text"
    import puremagic

    try:
        guesses = puremagic.magic_string(data[:8192])
    except (puremagic.PureError, ValueError):
        guesses = []
    for g in guesses:
        mime = g.mime_type or ""
        if mime.startswith("message/") or mime == "application/mbox":
            continue  # their "signatures" are English words ("Article", "From ", "Subject:")
        if "html" in mime or g.extension in (".html", ".htm", ".xhtml"):
            return "html"
        if g.confidence >= 0.5 and mime and not mime.startswith("text/") and g.extension not in (".txt",):
            return (g.extension or mime).lstrip(".")
    return "text" if _looks_like_text(data[:65536]) else "binary"


def _looks_like_text(sample: bytes) -> bool:
    if not sample:
        return True
    if _utf16_without_bom(sample):
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 0))
    nul = sample.count(0)
    return control / len(sample) < 0.05 and nul / len(sample) < 0.3


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text has NUL in every other byte for ASCII characters."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _describe(sniffed: str) -> str:
    return {"html": "looks like an HTML page", "text": "looks like plain text", "pdf": "is a PDF",
            "binary": "is binary data, not text"}.get(sniffed, f"looks like a {sniffed.upper()} file")


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """Bytes → str: BOMs and UTF-8 first, then charset detection; NUL bytes dropped."""
    warnings = []
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            text = data.decode(codec, errors="replace")
            break
    else:
        bomless = _utf16_without_bom(data[:65536])
        if bomless:
            text = data.decode(bomless, errors="replace")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                from charset_normalizer import from_bytes

                matches = from_bytes(data)
                best = matches.best()
                if best is None:
                    raise ExtractionError("not a text file: no text encoding fits its bytes") from None
                # Short Latin-script texts fit several single-byte code pages equally well;
                # when Windows-1252 fits as well as the best guess, it is by far the likeliest.
                western = next((m for m in matches if m.encoding == "cp1252"), None)
                chosen = western if western is not None and western.chaos <= best.chaos + 0.01 else best
                text, encoding = str(chosen), chosen.encoding
                warnings.append(f"decoded as {encoding}")
    if "\x00" in text:
        warnings.append(f"removed {text.count(chr(0))} NUL characters")
        text = text.replace("\x00", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\x01-\x08\x0b\x0e-\x1f\x7f]", "", text)
    return text, warnings


# ---- plain text ------------------------------------------------------------------------------

ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
LISTISH = re.compile(r"^\s*(?:[-*•◦▪‣–·]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")


def extract_text(text: str) -> Extracted:
    headings = text_headings(text)
    title = headings[0][1] if headings and headings[0][0] < 300 else _first_line(text)
    return Extracted([Page(None, text, headings)], "text", title=title, year=None)


def text_headings(text: str) -> list[tuple[int, str]]:
    """Headings in plain text: Markdown '#' lines, and short title-like lines followed by text."""
    lines = []
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    out = []
    for i, (offset, line) in enumerate(lines):
        m = ATX.match(line)
        if m:
            out.append((offset + len(line) - len(line.lstrip()), m.group(2).strip()))
            continue
        following = next((l for _, l in lines[i + 1:] if l.strip()), None)
        if following is not None and _title_like(line):
            out.append((offset + len(line) - len(line.lstrip()), line.strip()))
    return out


def _title_like(line: str) -> bool:
    s = line.strip()
    words = s.split()
    if not (2 <= len(s) <= 100) or not (1 <= len(words) <= 12):
        return False
    if s[-1] in ".,;:" or LISTISH.match(line) or not (s[0].isupper() or s[0].isdigit()):
        return False
    if s.lower().startswith(("see also", "http", "www.")) or "@" in s or not re.search(r"[^\W\d_]{2}", s):
        return False
    long_words = [w for w in words if len(w.strip("()[]\"'“”:,")) >= 4]
    if not long_words:
        return all(w[0].isupper() or w[0].isdigit() for w in words)
    capitalised = sum(1 for w in long_words if w.strip("()[]\"'“”")[:1].isupper() or w[:1].isdigit())
    return capitalised / len(long_words) >= 0.6


def _first_line(text: str) -> str | None:
    for line in text.split("\n"):
        if line.strip():
            s = " ".join(line.split())
            return s if len(s) <= 120 else None
    return None


# ---- HTML and Markdown --------------------------------------------------------------------------

DROP_TAGS = ["script", "style", "noscript", "template", "iframe", "svg", "canvas", "object", "embed", "nav",
             "button", "select", "input", "textarea", "form", "head", "link", "meta"]
BLOCK_TAGS = {"p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "ul",
              "ol", "dl", "dt", "dd", "li", "table", "thead", "tbody", "tfoot", "tr", "figure", "figcaption",
              "caption", "address", "hr", "br", "details", "summary", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def extract_html(html: str) -> Extracted:
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


def extract_markdown(markdown: str) -> Extracted:
    """Render to HTML and read that, so quotes come out as a reader sees them (no ** or \\$)."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    result = extract_html(f"<html><body>{html}</body></html>")
    result.kind = "markdown"
    return result


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


# ---- PDF ------------------------------------------------------------------------------------------

def extract_pdf(data: bytes) -> Extracted:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are about internals, not the user's file
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except DependencyError:
                raise ExtractionError("encrypted with AES and the 'cryptography' package is missing: "
                                      "run `pip install cryptography`") from None
            if not ok:
                raise ExtractionError("password-protected PDF: save a copy without the password and ingest that")
        count = len(reader.pages)
    except ExtractionError:
        raise
    except FileNotDecryptedError:
        raise ExtractionError("password-protected PDF: save a copy without the password and ingest that") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError,
            RecursionError, OSError, NotImplementedError) as exc:
        raise ExtractionError(f"corrupt or unreadable PDF ({_short(exc)})") from None
    if count == 0:
        raise ExtractionError("corrupt or unreadable PDF (it has no pages)")
    try:
        layout = _lay_out(reader)
        pages = layout.pages
    except FileNotDecryptedError:
        raise ExtractionError("password-protected PDF: save a copy without the password and ingest that") from None
    except Exception as exc:  # pypdf raises many types on damaged content streams
        raise ExtractionError(f"corrupt or unreadable PDF ({_short(exc)})") from None
    letters = [sum(ch.isalnum() for ch in p.text) for p in pages]
    image_pages = [i for i, n in enumerate(letters) if n < MIN_PDF_CHARS and _has_images(reader, i)]
    warnings = []
    if sum(letters) < MIN_PDF_CHARS or len(image_pages) == count:
        if image_pages and len(image_pages) * 2 >= count:
            raise ExtractionError(f"image-only PDF, no extractable text ({len(image_pages)} of {count} pages are "
                                  "pictures of text): it needs OCR before it can be searched")
        raise ExtractionError("no extractable text in this PDF")
    if image_pages:
        warnings.append(f"{len(image_pages)} of {count} pages are images without a text layer (need OCR)")
    meta = pdf_metadata(reader, pages, layout.running)
    return Extracted(pages, "pdf", title=meta.title or _first_heading(pages), publisher=meta.publisher,
                     year=meta.year, page_count=count, warnings=warnings)


def _lay_out(reader):
    """Pages in reading order, with the running headers and footers taken off them."""
    from .pdf_layout import lay_out

    return lay_out(reader)


def _has_images(reader, index: int) -> bool:
    try:
        return bool(reader.pages[index].images)
    except Exception:
        return False


def _first_heading(pages: list[Page]) -> str | None:
    for page in pages:
        if page.headings:
            return page.headings[0][1][:200]
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__
