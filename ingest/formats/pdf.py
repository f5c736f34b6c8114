"""PDFs with a text layer, read by pypdf and laid out in reading order by pdf_layout."""
from __future__ import annotations

import io
import re

from kb.errors import ExtractionError

from ..types import Extracted, Page
from .base import Format

MIN_PDF_CHARS = 20  # fewer letters/digits than this (in a PDF, or on a page) is no usable text
YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")


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
        pages = _lay_out(reader)
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
    title, publisher, year = _pdf_metadata(reader)
    return Extracted(pages, "pdf", title=title or _first_heading(pages), publisher=publisher, year=year,
                     page_count=count, warnings=warnings)


def _lay_out(reader) -> list[Page]:
    from .pdf_layout import lay_out_pages

    return lay_out_pages(reader)


def _has_images(reader, index: int) -> bool:
    try:
        return bool(reader.pages[index].images)
    except Exception:
        return False


def _pdf_metadata(reader) -> tuple[str | None, str | None, int | None]:
    try:
        info = reader.metadata
    except Exception:
        info = None
    if not info:
        return None, None, None
    title = _clean_meta(info.get("/Title"))
    if title and (re.search(r"\.(docx?|pdf|pptx?|xlsx?|indd|qxd)$", title, re.I) or title.lower().startswith(
            ("microsoft word", "untitled", "slide 1")) or len(title) < 3):
        title = None
    publisher = _clean_meta(info.get("/Author"))
    if publisher and not re.fullmatch(r"[A-Za-z][\w .,&'()\-]*", publisher):
        publisher = None  # office codes and tool names ("W:CAR:MP:FP"), not a publisher
    m = YEAR.search(str(info.get("/CreationDate") or "")[:12])
    year = int(m.group(1)) if m else None
    return title, publisher, year


def _clean_meta(value) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).replace("\x00", "").split())
    return text or None


def _first_heading(pages: list[Page]) -> str | None:
    for page in pages:
        if page.headings:
            return page.headings[0][1][:200]
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


FORMAT = Format(kind="pdf", label="PDF", suffixes=(".pdf",), media_types=("application/pdf",),
                accepts=lambda data: b"%PDF-" in data[:1024], extract=extract_pdf, view="pdf")
