"""OCR for PDF pages that have no text layer (scans, faxed letters): each page is rendered
with pypdfium2 and read by Tesseract, offline, one page at a time.

Runs inside the extraction worker. `time_limit` gives the worker's remaining time: a PDF
whose pages cannot all be read within it fails with a reason that says how long it would
need, rather than being cut off mid-way or half-ingested. The recognised text is laid out like
a PDF page's: paragraphs apart by a blank line, words hyphenated at line ends joined, a line
set larger than the page's text as a heading, a lone page number at the top or bottom taken
off the text and kept for the page's printed label.
"""
from __future__ import annotations

import os
import shutil
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from kb.errors import ExtractionError

from ..types import Page
from .pdf_labels import is_page_number

DPI = 300  # what Tesseract is trained for
MAX_PIXELS = 40_000_000  # a poster-sized page is rendered at less than DPI, to bound memory and time
MIN_SIDE = 32  # pixels: an image smaller than this holds no text to read
LANGUAGE = "eng"
HEADING_HEIGHT = 1.3  # a short line this much taller than the page's text is a heading
EDGE = 0.08  # share of the page height read again for a printed page number
LOW_CONFIDENCE = 60  # mean word confidence (0-100) under which a page's text is flagged

_deadline: float | None = None
_limit_s: float | None = None


@contextmanager
def time_limit(seconds: float | None):
    """OCR started inside this block stops before `seconds` have passed (None: no limit)."""
    global _deadline, _limit_s
    saved = _deadline, _limit_s
    _deadline, _limit_s = (None, None) if seconds is None else (time.monotonic() + seconds, seconds)
    try:
        yield
    finally:
        _deadline, _limit_s = saved


@lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why OCR cannot run here (None when it can)."""
    if shutil.which("tesseract") is None:
        return "Tesseract is not installed (scripts/setup.sh installs it: Debian packages tesseract-ocr, tesseract-ocr-eng)"
    try:
        import pypdfium2  # noqa: F401
        import pytesseract

        languages = pytesseract.get_languages(config="")
    except ImportError as exc:
        return f"the Python package {exc.name} is missing (pip install -e . installs it)"
    except Exception as exc:  # noqa: BLE001 - a broken Tesseract install
        return f"Tesseract does not run ({type(exc).__name__}: {str(exc)[:80]})"
    if LANGUAGE not in languages:
        return f"Tesseract has no English model (install the Debian package tesseract-ocr-{LANGUAGE})"
    return None


@dataclass
class Recognised:
    pages: dict[int, Page] = field(default_factory=dict)  # 0-based PDF index -> page (ocr=True)
    margins: dict[int, list[str]] = field(default_factory=dict)  # lone numbers taken off the top/bottom
    warnings: list[str] = field(default_factory=list)


def recognise(data: bytes, indices: list[int]) -> Recognised:
    """Read the given pages (0-based) of a PDF by OCR."""
    import pypdfium2 as pdfium

    out = Recognised()
    low: list[int] = []
    started = time.monotonic()
    try:
        document = pdfium.PdfDocument(data)
    except Exception as exc:  # noqa: BLE001
        raise ExtractionError(f"the scanned pages cannot be rendered for OCR ({type(exc).__name__})") from None
    try:
        for done, index in enumerate(indices):
            _check_time(done, len(indices), started)
            image = _render(document, index)
            if image is None:
                continue
            words = _words(image)
            page, margins, confidence = _layout(words, index + 1)
            out.margins[index] = margins or _edge_numbers(image)
            if page.text.strip():
                out.pages[index] = page
                if confidence < LOW_CONFIDENCE:
                    low.append(index + 1)
    finally:
        document.close()
    if low:
        out.warnings.append(f"OCR was unsure of the text on page(s) {_ranges(low)} (poor scan?): check quotes "
                            "from them against the page")
    return out


def _check_time(done: int, total: int, started: float) -> None:
    if _deadline is None:
        return
    now = time.monotonic()
    per_page = (now - started) / done if done else 0.0
    if now + per_page > _deadline:
        need = per_page * total
        raise ExtractionError(
            f"OCR of its {total} scanned pages needs about {need:.0f} s ({per_page:.1f} s a page), more than the "
            f"{_limit_s:g} s allowed per file: raise KB_EXTRACT_TIMEOUT_S and ingest again")


def _render(document, index: int):
    page = document[index]
    try:
        width, height = page.get_size()  # points
        scale = min(DPI / 72, (MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
        if min(width, height) * scale < MIN_SIDE:
            return None
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        page.close()


@dataclass(frozen=True)
class _Word:
    text: str
    block: tuple[int, int]  # (block, paragraph): Tesseract's paragraph
    line: tuple[int, int, int]
    height: int
    confidence: float


def _words(image) -> list[_Word]:
    import pytesseract

    found = _tesseract(pytesseract.image_to_data, image, "--psm 3", output_type=pytesseract.Output.DICT)
    words = []
    for i, text in enumerate(found["text"]):
        confidence = float(found["conf"][i])
        if confidence < 0 or not text.strip():
            continue
        words.append(_Word(text.strip(), (found["block_num"][i], found["par_num"][i]),
                           (found["block_num"][i], found["par_num"][i], found["line_num"][i]),
                           int(found["height"][i]), confidence))
    return words


def _edge_numbers(image) -> list[str]:
    """A page number printed alone at the top or bottom of the page. Tesseract's page layout
    takes a lone digit for a speck, so the two edges are read again on their own, stacked into
    one picture (one Tesseract run), made black and white and despeckled."""
    import pytesseract
    from PIL import Image, ImageFilter

    width, height = image.size
    edge = int(height * EDGE)
    strips = Image.new("L", (width, 2 * edge + 40), 255)
    strips.paste(image.crop((0, 0, width, edge)), (0, 0))
    strips.paste(image.crop((0, height - edge, width, height)), (0, edge + 40))
    cut = _otsu(image)  # over the whole page: the edges alone are nearly all paper
    clean = strips.point(lambda v: 0 if v <= cut else 255).filter(ImageFilter.MedianFilter(3))
    lines = [line.strip() for line in _tesseract(pytesseract.image_to_string, clean, "--psm 6").splitlines()
             if line.strip()]
    return list(dict.fromkeys(line for line in lines[:1] + lines[-1:] if is_page_number(line)))


def _otsu(image) -> int:
    """The grey level that best splits ink from paper (Otsu's threshold)."""
    import numpy as np

    counts = np.bincount(np.asarray(image, dtype=np.uint8).ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256)
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * levels)
    total, total_mass = weight[-1], mass[-1]
    background = total - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight - total * mass) ** 2 / (weight * background)
    return int(np.nanargmax(np.where(background > 0, between, np.nan)))


def _tesseract(function, image, config: str, **kwargs):
    """Run Tesseract within the time left, on one core (the workers read files side by side)."""
    import pytesseract

    remaining = None if _deadline is None else max(_deadline - time.monotonic(), 1.0)
    env_threads = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        return function(image, lang=LANGUAGE, config=config, timeout=remaining or 0, **kwargs)
    except RuntimeError as exc:  # pytesseract's timeout
        if "timeout" in str(exc).lower():
            raise ExtractionError(f"OCR of one page took longer than the {_limit_s:g} s allowed per file: raise "
                                  "KB_EXTRACT_TIMEOUT_S and ingest again") from None
        raise ExtractionError(f"Tesseract failed on a scanned page ({str(exc)[:100]})") from None
    except pytesseract.TesseractError as exc:
        raise ExtractionError(f"Tesseract failed on a scanned page ({str(exc.message)[:100]})") from None
    finally:
        if env_threads is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = env_threads


def _layout(words: list[_Word], number: int) -> tuple[Page, list[str], float]:
    """(page, lone page numbers taken off its top and bottom, mean word confidence)."""
    from .blocks import PageBuilder
    from .pdf_layout import _dehyphenate, _vocabulary

    lines: list[tuple[tuple[int, int], str, list[_Word]]] = []
    for word in words:
        if lines and lines[-1][2][-1].line == word.line:
            lines[-1][2].append(word)
        else:
            lines.append((word.block, "", [word]))
    lines = [(block, " ".join(w.text for w in ws), ws) for block, _, ws in lines]
    lines = [line for line in lines if any(ch.isalnum() for ch in line[1])]  # specks read as "|" or "~"
    margins = []
    for edge in (0, -1):
        if lines and is_page_number(lines[edge][1]):
            margins.append(lines.pop(edge)[1])
    paragraphs: list[list[tuple[str, list[_Word]]]] = []
    for i, (block, text, ws) in enumerate(lines):
        if i == 0 or block != lines[i - 1][0]:
            paragraphs.append([])
        paragraphs[-1].append((text, ws))
    heights = [w.height for _, _, ws in lines for w in ws]
    body_height = statistics.median(heights) if heights else 0
    vocab = _vocabulary([[text for text, _ in paragraph] for paragraph in paragraphs])
    out = PageBuilder()
    for paragraph in paragraphs:
        texts = _dehyphenate([text for text, _ in paragraph], vocab)
        if _is_heading(paragraph, body_height):
            out.heading(" ".join(texts))
        else:
            out.paragraph("\n".join(texts))
    page = out.page(number)
    page.ocr = True
    confidence = statistics.fmean(w.confidence for w in words) if words else 0.0
    return page, margins, confidence


def _is_heading(paragraph: list[tuple[str, list[_Word]]], body_height: float) -> bool:
    words = [w for _, ws in paragraph for w in ws]
    if len(paragraph) > 2 or len(words) > 15 or not body_height:
        return False
    text = " ".join(t for t, _ in paragraph)
    return (statistics.median(w.height for w in words) >= HEADING_HEIGHT * body_height
            and any(ch.isalpha() for ch in text) and not text.rstrip().endswith((".", ",", ";")))


def _ranges(numbers: list[int]) -> str:
    out, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}–{n}")
            start = None
    return ", ".join(out)
