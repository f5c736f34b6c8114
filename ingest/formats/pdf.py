"""PDFs, read by pypdf and laid out in reading order by pdf_layout; pages without a text
layer (scans) are read by OCR (ingest/formats/ocr.py) when Tesseract is installed."""
from __future__ import annotations

import io
from dataclasses import replace

from kb.errors import ExtractionError

from ..types import Extracted
from .base import Format
from .pdf_labels import printed_labels
from .pdf_meta import pdf_metadata, title_heading

MIN_PDF_CHARS = 20  # fewer letters/digits than this (in a PDF, or on a page) is no usable text


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
    except ExtractionError:  # over KB_MAX_DOCUMENT_CHARS
        raise
    except FileNotDecryptedError:
        raise ExtractionError("password-protected PDF: save a copy without the password and ingest that") from None
    except Exception as exc:  # pypdf raises many types on damaged content streams
        raise ExtractionError(f"corrupt or unreadable PDF ({_short(exc)})") from None
    _ruled_tables(data, pages)
    _notes_apart(pages)
    letters = [sum(ch.isalnum() for ch in p.text) for p in pages]
    image_pages = [i for i, n in enumerate(letters) if n < MIN_PDF_CHARS and _has_images(reader, i)]
    warnings = []
    scan_running: list[str] = []  # a scan's running header and footer: the year and agency it prints
    if image_pages:
        recognised = _ocr(data, layout, image_pages)
        if recognised is not None:
            warnings += recognised.warnings
            scan_running = recognised.running
            letters = [sum(ch.isalnum() for ch in p.text) for p in pages]
            image_pages = [i for i in image_pages if i not in recognised.pages]
    if sum(letters) < MIN_PDF_CHARS or len(image_pages) == count:
        if image_pages and len(image_pages) * 2 >= count:
            raise ExtractionError(f"image-only PDF, no extractable text: {_unread(image_pages, count)}")
        raise ExtractionError("no extractable text in this PDF")
    if image_pages:
        warnings.append(_unread(image_pages, count))
    meta = pdf_metadata(reader, pages, [*layout.running, *scan_running])  # not for the title: later pages repeat it
    return Extracted(pages, "pdf", title=meta.title or title_heading(pages, layout.running), publisher=meta.publisher,
                     year=meta.year, page_count=count, warnings=warnings)


def _lay_out(reader):
    """Pages in reading order, with the running headers and footers taken off them."""
    from .pdf_layout import lay_out

    return lay_out(reader)


def _ruled_tables(data: bytes, pages) -> None:
    """Ruled tables on pages where the layout found a table are read again, cell by cell, with
    pdfplumber (pdf_tables.py): the layout can glue two close figures into one."""
    from .pdf_tables import read_tables

    read_tables(data, [p for p in pages if p.tables and p.number is not None])


def _notes_apart(pages) -> None:
    """A table's notes ("*Per 100,000 …", "Source: …") are set apart from its rows, never read as
    one; a table's label the layout set apart from its title ("Table 1.") goes back in front of it."""
    from .pdf_tables import label_orphan, notes_apart

    for page in pages:
        notes_apart(page)
        if page.tables:
            label_orphan(page)


def _ocr(data: bytes, layout, indices: list[int]):
    """Read the pages without a text layer by OCR, in place; None when OCR is not installed.

    Printed page numbers are read again over all pages, those of the text layer and those OCR
    found, since a number is trusted only when a neighbouring page agrees with it."""
    from .ocr import recognise, unavailable

    if unavailable():
        return None
    recognised = recognise(data, indices)
    pages = layout.pages
    margins = [recognised.margins.get(i, []) if i in indices else
               (layout.margins[i] if i < len(layout.margins) else []) for i in range(len(pages))]
    labels = printed_labels(margins)
    for index, page in enumerate(pages):
        if index in recognised.pages:
            page = pages[index] = replace(recognised.pages[index], label=page.label)
        if page.label is None:  # the PDF's own page labels first
            page.label = labels[index]
    return recognised


def _unread(image_pages: list[int], count: int) -> str:
    """What became of the pages that are pictures: OCR found nothing, or could not run."""
    from .ocr import unavailable

    reason = unavailable()
    if reason:
        return f"{len(image_pages)} of {count} pages are pictures of text that need OCR, but {reason}"
    return f"OCR found no text on {len(image_pages)} of {count} pages, which are pictures"


def _has_images(reader, index: int) -> bool:
    try:
        return bool(reader.pages[index].images)
    except Exception:
        return False


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


FORMAT = Format(kind="pdf", label="PDF", suffixes=(".pdf",), media_types=("application/pdf",),
                accepts=lambda data: b"%PDF-" in data[:1024], extract=extract_pdf, view="pdf")
