"""OCR for PDF pages that have no text layer (scans, faxed letters): each page is rendered
with pypdfium2 and read by Tesseract, offline, one page at a time.

Runs inside the extraction worker. `time_limit` gives the worker's remaining time: a PDF
whose pages cannot all be read within it fails with a reason that says how long it would
need, rather than being cut off mid-way or half-ingested. The recognised text is laid out like
a PDF page's: paragraphs apart by a blank line, words hyphenated at line ends joined, a line
set larger than the page's text as a heading (on the first page, its title lines need less:
a title in capitals measures short), a lone page number at the top or bottom taken off the
text and kept for the page's printed label, with the lines of the top and bottom bands (the
running header and footer, "62 MMWR / January 14, 2011") offered to printed_labels as well.
A large line that Tesseract is unsure of (a chart's labels) is no heading, nor is one that
heads several pages (the running header). A blank page is skipped. A ruled table is read
apart, cell by cell between its rules (`ocr_tables`), and put among the paragraphs where it
stands on the page.

Each page image is cleaned before Tesseract reads it (`clean`): rendered at 300 dpi whatever
the scan's resolution (a 150-dpi scan is brought up to what Tesseract is trained for), a 3x3
median filter takes off the speckle of a scanner or fax, and the page is turned straight when
it was fed in at a slant by MIN_SKEW or more. Tesseract then binarises it with Sauvola's
local threshold, which keeps thin strokes on a grey or unevenly lit page. OCRmyPDF (a text
layer written into the PDF, then read by the PDF reader) was measured against this and lost
on words and time: bench/scan_ocr.py.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import time
from collections import Counter
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
TITLE_HEIGHT = 1.15  # ... among the first page's title lines, where a title in capitals measures short
TITLE_LINES_WORDS = 25  # the title lines end at the first paragraph this long
HEADING_CONFIDENCE = 75  # median word confidence (0-100) a heading needs: chart labels and debris read lower
_LONE_YEAR = re.compile(r"(?:19|20)\d\d")
_STRAY_UNDERSCORE = re.compile(r"(?<=[^\W\d_])_$")  # "on_": the LSTM's guess at a baseline after a word
EDGE = 0.08  # share of the page height read again for a printed page number
LOW_CONFIDENCE = 60  # mean word confidence (0-100) under which a page's text is flagged
DEBRIS_CONFIDENCE = 50  # word confidence (0-100) under which a word far taller than its line is a picture's
RUNNING_LIKENESS = 0.85  # how alike (0-1) two pages' edge lines are when they are one running header or footer
DEBRIS_HEIGHT = 2.0  # ... "far taller": this many times the height of the line's words Tesseract is sure of
CLEAN = os.environ.get("KB_OCR_CLEAN", "1") != "0"  # clean page images first (bench/scan_ocr.py compares off/on)
MAX_SKEW = 2.0  # degrees: a page fed in at a slant up to this much is turned straight
MIN_SKEW = 0.5  # degrees: less, Tesseract's own layout copes (turning it gained nothing in bench/scan_ocr.py)
BLANK_INK = 0.001  # share of dark pixels under which a page is blank paper (its specks are no text)
TESSERACT_CONFIG = "--psm 3 -c thresholding_method=2"  # automatic page layout; Sauvola binarisation
TABLE_CONFIG = "--psm 6 -c thresholding_method=2"  # a ruled table, wiped of its rules: one block of rows
GRID_MARGIN = 10  # pixels around a ruled table read with it
CELL_GAP = 40  # pixels of paper between the cells stacked to be read again (ocr_tables.prose_cells)

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
    margins: dict[int, list[str]] = field(default_factory=dict)  # page numbers, first and last lines
    warnings: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # running headers and footers taken off the pages


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
            if image is None or _blank(image):
                continue
            if CLEAN:
                image = clean(image)
            words, tables = _read_page(image)
            page, margins, confidence = _layout(words, index + 1, image.size[1], tables)
            # the edges are always read again: a page number under a footer rule can come out of
            # the page read as debris that looks like one ("25" as "i)"), and printed_labels
            # keeps only a number that the neighbouring pages agree with
            out.margins[index] = margins + [text for text in _edge_numbers(image) if text not in margins]
            if page.text.strip():
                out.pages[index] = page
                if confidence < LOW_CONFIDENCE:
                    low.append(index + 1)
    finally:
        document.close()
    _drop_running_headings(out)
    _drop_running_lines(out)
    if low:
        out.warnings.append(f"OCR was unsure of the text on page(s) {_ranges(low)} (poor scan?): check quotes "
                            "from them against the page")
    return out


def _drop_running_headings(out: Recognised) -> None:
    """A line set large at the top or bottom of several pages ("Supplement") is the running
    header, not a section: it is kept in the text but is no heading. On the first page it is
    kept: a document's title is what its later pages repeat at their head."""
    seen: dict[str, set[int]] = {}
    for index, margins in out.margins.items():
        for text in margins:
            seen.setdefault(_line_shape(text), set()).add(index)
    for index, page in out.pages.items():
        if index == 0:
            continue  # the title, which later pages repeat at their head
        page.headings = [(offset, text) for offset, text in page.headings
                         if len(seen.get(_line_shape(text), set()) - {index}) == 0]


def _line_shape(text: str) -> str:
    """A margin line with its numbers as '#', spaces and case evened: one running line on every page."""
    return re.sub(r"\d+", "#", " ".join(text.split())).casefold()


def _drop_running_lines(out: Recognised) -> None:
    """The running header and footer ("Campus Attacks Page 6", "Chapter II 25") taken off the
    text of each page that shares it with another, as the PDF layout takes them off a born-digital
    page: left in, they cut every sentence that runs over a page break and add their words to
    each page's passages. They stay among the margins (printed page numbers) and go to
    `out.running` (the year and agency they print). OCR reads them a little differently on each
    page ("Chapter I 26"), so they are matched by likeness (RUNNING_LIKENESS), digits aside. A
    line the first page sets as a heading stays: the title later pages repeat at their head."""
    from difflib import SequenceMatcher

    edges = {index: {_line_shape(text): text for text in texts
                     if len(text) <= 120 and sum(map(len, _LETTERS.findall(text))) >= 3}
             for index, texts in out.margins.items()}

    def repeated(index: int, line_shape: str) -> bool:
        return any(other != index and any(
            SequenceMatcher(None, line_shape, s, autojunk=False).ratio() >= RUNNING_LIKENESS for s in shapes)
            for other, shapes in edges.items())

    for index, page in out.pages.items():
        titles = {text for _, text in page.headings} if index == min(out.pages) else set()
        running = {text for s, text in edges.get(index, {}).items() if text not in titles and repeated(index, s)}
        if not running:
            continue
        lines = page.text.split("\n")
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        gone = [line.strip() in running and not any(s <= at < e for s, e, _ in page.tables)  # a row stays
                for line, at in zip(lines, starts)]
        for i in range(len(lines)):  # with the blank line that set it apart, so paragraphs stay one blank line apart
            if gone[i] and i + 1 < len(lines) and not lines[i + 1] and (i == 0 or not lines[i - 1] or gone[i - 1]):
                gone[i + 1] = True
        if not any(gone):
            continue
        out.running += [line.strip() for line, g in zip(lines, gone) if g and line.strip()]

        def moved(at: int) -> int:
            return at - sum(starts[i + 1] - starts[i] for i, g in enumerate(gone) if g and starts[i] < at)

        page.text = "\n".join(line for line, g in zip(lines, gone) if not g).rstrip("\n")
        page.headings = [(moved(at), text) for at, text in page.headings if text not in running]
        page.tables = [(moved(start), moved(end), moved(header)) for start, end, header in page.tables]
        page.footnotes = [(moved(start), moved(end)) for start, end in page.footnotes]
        page.footnote_refs = [(moved(at), marker) for at, marker in page.footnote_refs]


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
        return page.render(scale=scale, grayscale=True).to_pil().convert("L")
    finally:
        page.close()


def _blank(image) -> bool:
    """Whether a page is blank paper (a separator sheet, the back of a page): nothing to read,
    and no page number to find on it."""
    import cv2
    import numpy as np

    pixels = np.asarray(image, dtype=np.uint8)
    if int(pixels.max()) - int(pixels.min()) < 48:
        return True
    _, ink = cv2.threshold(cv2.medianBlur(pixels, 3), 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return float(ink.mean()) < BLANK_INK


def clean(image):
    """The page image as Tesseract reads it best: speckle taken off (3x3 median) and turned
    straight (`skew_angle`) when it leans by MIN_SKEW or more. Greyscale in, greyscale out:
    Tesseract binarises it itself."""
    import cv2
    import numpy as np
    from PIL import Image

    pixels = cv2.medianBlur(np.asarray(image, dtype=np.uint8), 3)
    angle = skew_angle(pixels)
    if abs(angle) >= MIN_SKEW:
        height, width = pixels.shape
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        pixels = cv2.warpAffine(pixels, turn, (width, height), flags=cv2.INTER_CUBIC, borderValue=255)
    return Image.fromarray(pixels)


def skew_angle(pixels) -> float:
    """The angle (degrees) that turns the page's lines of text level: the one at which the
    rows of ink are most sharply split from the white between lines (projection profile),
    searched coarse then fine on a half-size black-and-white copy."""
    import cv2
    import numpy as np

    small = cv2.resize(pixels, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    _, ink = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    height, width = ink.shape
    centre = (width / 2, height / 2)

    def sharpness(angle: float) -> float:
        turned = cv2.warpAffine(ink, cv2.getRotationMatrix2D(centre, angle, 1.0), (width, height),
                                flags=cv2.INTER_NEAREST, borderValue=0)
        rows = turned.sum(axis=1, dtype=np.float64)
        return float(np.square(np.diff(rows)).sum())

    best = max(np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 0.25), key=sharpness)
    return float(max(np.arange(best - 0.2, best + 0.2 + 1e-9, 0.05), key=sharpness))


@dataclass(frozen=True)
class _Word:
    text: str
    block: tuple[int, int]  # (block, paragraph): Tesseract's paragraph
    line: tuple[int, int, int]
    height: int
    confidence: float
    top: int = 0  # pixels from the top of the page
    left: int = 0
    width: int = 0


def _read_page(image) -> tuple[list[_Word], list[tuple]]:
    """The page's words as Tesseract lays them out, and its ruled tables read apart, each as
    (bottom in pixels, caption lines, rows of cells, header rows): each grid wiped of its rules and
    read as one block, its words put in the cells their centres fall in (ocr_tables)."""
    import numpy as np
    from PIL import Image

    from . import ocr_tables

    if not CLEAN:
        return _words(image), []
    pixels = np.asarray(image, dtype=np.uint8)
    grids, wiped = ocr_tables.find_grids(pixels)
    if not grids:
        return _words(image), []
    # The page is read as before and the words inside a grid left out: read without its tables, a
    # page's lone page number went unread (the FDA's "11" under its Table 2).
    page_words = [w for w in _words(image) if not any(ocr_tables.inside(
        grid, ocr_tables.TableWord(w.text, w.left, w.top, w.width, w.height)) for grid in grids)]
    read = []
    for grid in grids:
        top, left = max(grid.top - GRID_MARGIN, 0), max(grid.left - GRID_MARGIN, 0)
        crop = Image.fromarray(wiped[top:grid.bottom + GRID_MARGIN, left:grid.right + GRID_MARGIN])
        read.append((grid, top, left, _words(crop, TABLE_CONFIG)))
    # a capital I read as a bracket is mended where the page prints the word ("[nterview")
    counts = Counter(token.casefold() for *_, words in read for w in words for token in _LETTERS.findall(w.text))
    counts.update(token.casefold() for w in page_words for token in _LETTERS.findall(w.text))
    tables = []
    for grid, top, left, found in read:
        words = [ocr_tables.TableWord(w.text, w.left + left, w.top + top, w.width, w.height) for w in found]
        words = [w for w in words if ocr_tables.inside(grid, w)]
        boxes = ocr_tables.prose_cells(grid, words)
        if boxes:
            words = [w for w in words if not any(box.holds(w) for box in boxes)] + _cells_read(wiped, boxes)
        words = [ocr_tables.TableWord(_bar_mended(w.text, counts), w.left, w.top, w.width, w.height) for w in words]
        caption, rows, header = ocr_tables.table_rows(grid, words, frozenset(counts))
        if rows or caption:
            tables.append((grid.bottom, caption, rows, header))
    return page_words, tables


def _cells_read(pixels, boxes) -> list:
    """The words of the given cells, read in one Tesseract run: the cells cut out and stacked
    one under another, apart by a blank band, each word then put back where its cell is."""
    from PIL import Image

    from .ocr_tables import TableWord

    width = max(box.right - box.left for box in boxes)
    height = sum(box.bottom - box.top + CELL_GAP for box in boxes) + CELL_GAP
    stack = Image.new("L", (width + 2 * CELL_GAP, height), 255)
    offsets, y = [], CELL_GAP
    for box in boxes:
        stack.paste(Image.fromarray(pixels[box.top:box.bottom, box.left:box.right]), (CELL_GAP, y))
        offsets.append(y)
        y += box.bottom - box.top + CELL_GAP
    out = []
    for w in _words(stack, TABLE_CONFIG):
        centre = w.top + w.height / 2
        at = max((i for i, o in enumerate(offsets) if o - CELL_GAP / 2 <= centre), default=0)
        box = boxes[at]
        out.append(TableWord(w.text, w.left - CELL_GAP + box.left, w.top - offsets[at] + box.top, w.width, w.height))
    return out


def _words(image, config: str | None = None) -> list[_Word]:
    import pytesseract

    config = config or (TESSERACT_CONFIG if CLEAN else "--psm 3")
    found = _tesseract(pytesseract.image_to_data, image, config, output_type=pytesseract.Output.DICT)
    words = []
    for i, text in enumerate(found["text"]):
        confidence = float(found["conf"][i])
        if confidence < 0 or not text.strip():
            continue
        words.append(_Word(_STRAY_UNDERSCORE.sub("", text.strip()), (found["block_num"][i], found["par_num"][i]),
                           (found["block_num"][i], found["par_num"][i], found["line_num"][i]),
                           int(found["height"][i]), confidence, int(found["top"][i]), int(found["left"][i]),
                           int(found["width"][i])))
    return words


def _edge_numbers(image) -> list[str]:
    """The first and last lines read at the top and bottom edges of the page, where the page
    number is printed. Tesseract's page layout takes a lone digit, or one set apart from the
    running footer's words ("4      U.S. Census Bureau"), for a speck, and reads one just under
    a footer rule on a Sauvola-binarised page as debris ("25" as "i) un"), so the two edges are
    read again on their own, stacked into one picture (one Tesseract run), made black and
    white with one threshold over the page (Otsu) and despeckled."""
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
    return list(dict.fromkeys(lines[:1] + lines[-1:]))  # "4 U.S. Census Bureau" too: printed_labels judges


def _otsu(image) -> int:
    """The grey level that best splits ink from paper (Otsu's threshold; OpenCV's)."""
    import cv2
    import numpy as np

    cut, _ = cv2.threshold(np.asarray(image, dtype=np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return int(cut)


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


def _layout(words: list[_Word], number: int, page_height: int | None = None,
            tables: list[tuple] = ()) -> tuple[Page, list[str], float]:
    """(page, margin texts, mean word confidence). The margin texts are the lone page
    numbers taken off the page's top and bottom, then its top and bottom lines and any line in
    the top or bottom EDGE of the page as they stand ("MMWR / January 14, 2011 / Vol. 60 63",
    "4 U.S. Census Bureau"): printed_labels keeps a number in them only when the neighbouring
    pages agree."""
    from .blocks import PageBuilder
    from .pdf_layout import _dehyphenate, _vocabulary

    lines: list[tuple[tuple[int, int], str, list[_Word]]] = []
    for word in words:
        if lines and lines[-1][2][-1].line == word.line:
            lines[-1][2].append(word)
        else:
            lines.append((word.block, "", [word]))
    lines = [(block, ws) for block, _, ws in lines]
    lines = [(block, ws) for block, ws in ((block, _without_debris(ws)) for block, ws in lines) if ws]
    counts = Counter(token.casefold() for _, ws in lines for w in ws for token in _LETTERS.findall(w.text))
    lines = [(block, _join(_mended(ws, counts)), ws) for block, ws in lines]
    lines = [line for line in lines if any(ch.isalnum() for ch in line[1])]  # specks read as "|" or "~"
    margins = []
    for edge in (0, -1):  # the top and bottom lines on the page, whatever order the columns were read in
        at = _edge_line(lines, edge)
        if at is not None and is_page_number(lines[at][1]) and not (number == 1 and _LONE_YEAR.fullmatch(lines[at][1])):
            margins.append(lines.pop(at)[1])  # a year alone on a first page is the cover's date, kept
    extremes = sorted({_edge_line(lines, 0), _edge_line(lines, -1)} - {None})
    edge_lines = list(dict.fromkeys(lines[at][1] for at in extremes))
    if page_height:  # and every line in the top or bottom band: a footer beside a column's last line
        band = EDGE * page_height
        edge_lines += [text for _, text, ws in lines if text not in edge_lines and (
            statistics.median(w.top for w in ws) < band
            or statistics.median(w.top + w.height for w in ws) > page_height - band)]
    paragraphs: list[list[tuple[str, list[_Word]]]] = []
    for i, (block, text, ws) in enumerate(lines):
        if i == 0 or block != lines[i - 1][0]:
            paragraphs.append([])
        paragraphs[-1].append((text, ws))
    heights = [w.height for _, _, ws in lines for w in ws]
    body_height = statistics.median(heights) if heights else 0
    vocab = _vocabulary([[text for text, _ in paragraph] for paragraph in paragraphs])
    blocks: list[tuple[bool, str, float]] = []  # (heading, text, median word height)
    in_title_lines = number == 1  # the first page's lines above its first body paragraph
    tables = sorted(tables, key=lambda t: t[0])
    placed: list[tuple] = []  # (blocks before it, caption, rows, header rows) of each table
    for paragraph in paragraphs:
        top = min(w.top for _, ws in paragraph for w in ws)
        # a table goes before the first paragraph below it; text beside a narrow table comes first
        # (placed by its top, the table cut "enrolled 55 percent of" from "all college students")
        while tables and tables[0][0] < top:
            placed.append((len(blocks), *tables[0][1:]))
            tables = tables[1:]
        texts = _dehyphenate([text for text, _ in paragraph], vocab)
        height = statistics.median(w.height for _, ws in paragraph for w in ws)
        in_title_lines = in_title_lines and sum(len(ws) for _, ws in paragraph) < TITLE_LINES_WORDS
        if _is_heading(paragraph, body_height, TITLE_HEIGHT if in_title_lines else HEADING_HEIGHT):
            previous = blocks[-1] if blocks else None
            if (previous and previous[0] and abs(previous[2] - height) <= 0.12 * height
                    and not previous[1].endswith((".", ":", ";"))):
                blocks[-1] = (True, f"{previous[1]} {' '.join(texts)}", previous[2])  # one title set in two blocks
            else:
                blocks.append((True, " ".join(texts), height))
        else:
            blocks.append((False, "\n".join(texts), height))
    placed += [(len(blocks), *table[1:]) for table in tables]
    out = PageBuilder()
    for at in range(len(blocks) + 1):
        for _, caption, rows, header in (t for t in placed if t[0] == at):
            if caption:  # a title set inside the table's box, a heading when set large (the page's title)
                text = " ".join(line for line, _ in caption)
                ratio = TITLE_HEIGHT if number == 1 and at == 0 else HEADING_HEIGHT
                large = body_height and statistics.median(h for _, h in caption) >= ratio * body_height
                (out.heading if large and len(text.split()) <= 30 and not text.endswith((".", ",", ";"))
                 else out.paragraph)(text)
            out.table(rows, header)
        if at < len(blocks):
            heading, text, _ = blocks[at]
            (out.heading if heading else out.paragraph)(text)
    page = out.page(number)
    page.ocr = True
    confidence = statistics.fmean(w.confidence for w in words) if words else 0.0
    return page, margins + [line for line in edge_lines if line not in margins], confidence


def _without_debris(words: list[_Word]) -> list[_Word]:
    """A line's words less the pieces of a picture beside it that Tesseract read into the
    line ("to Pe eae ee "threatened"" beside a photograph): words it is unsure of
    (DEBRIS_CONFIDENCE) and far taller (DEBRIS_HEIGHT) than the line's words it is sure of."""
    sure = [w.height for w in words if w.confidence >= LOW_CONFIDENCE]
    if not sure:
        return words
    typical = statistics.median(sure)
    return [w for w in words if not (w.confidence < DEBRIS_CONFIDENCE and w.height > DEBRIS_HEIGHT * typical)]


def _mended(words: list[_Word], counts: Counter) -> list[str]:
    """A line's word texts with two slips of Tesseract's mended where the page itself shows the
    right word (`counts`: the page's words, case-folded, and how often each is read):
    - a capital I read as a bracket or bar ("[HEs", "|n"), when the word with I is on the page;
    - a word read as two ("vary ing"), when the page prints it whole elsewhere and the second
      piece is no word the page uses on its own."""
    texts = [_bar_mended(w.text, counts) for w in words]
    out: list[str] = []
    for text in texts:
        if out and _SPLIT_LEFT.fullmatch(out[-1]) and (piece := _SPLIT_RIGHT.match(text)):
            whole = (out[-1] + piece.group(1)).casefold()
            if counts[whole] and counts[piece.group(1).casefold()] <= 1:
                out[-1] += text
                continue
        out.append(text)
    return out


def _bar_mended(text: str, counts: Counter) -> str:
    if _BAR_FOR_I.match(text) and "]" not in text:
        mended = "I" + text[1:]
        if counts[_LETTERS.match(mended).group(0).casefold()]:
            return mended
    return text


_LETTERS = re.compile(r"[^\W\d_]+")
_BAR_FOR_I = re.compile(r"[\[|](?=[^\W\d_])")
_SPLIT_LEFT = re.compile(r"[^\W\d_]{2,}")  # a piece of a word: letters only, no closing mark
_SPLIT_RIGHT = re.compile(r"([a-z]{2,})[.,;:!?)]*$")


def _join(words) -> str:
    """A line's words, with the closing marks Tesseract reads as words of their own put back
    against the word before ("All (100% ) of" is "All (100%) of")."""
    return _LOOSE_MARK.sub(r"\1", " ".join(words))


_LOOSE_MARK = re.compile(r"(?<=\S) ([)\]},.;:!?%]+)(?=\s|$)")


def _edge_line(lines: list, edge: int) -> int | None:
    """Index of the top (edge 0) or bottom (-1) line on the page by position."""
    if not lines:
        return None
    if edge == 0:  # medians: a rule or a speck read into a line stretches its box
        return min(range(len(lines)), key=lambda i: statistics.median(w.top for w in lines[i][2]))
    return max(range(len(lines)), key=lambda i: statistics.median(w.top + w.height for w in lines[i][2]))


def _is_heading(paragraph: list[tuple[str, list[_Word]]], body_height: float, ratio: float) -> bool:
    """A short paragraph set larger than the page's text (by `ratio`), not ending a sentence.
    Word heights are the boxes Tesseract draws, so a title in capitals (no descenders) looks
    smaller than it is: the first page's title lines need less (TITLE_HEIGHT)."""
    words = [w for _, ws in paragraph for w in ws]
    if len(paragraph) > 4 or len(words) > 30 or not body_height:
        return False
    if len(paragraph) > 2 and ratio >= HEADING_HEIGHT:  # long headings only among the title lines
        return False
    text = " ".join(t for t, _ in paragraph)
    if not re.search(r"[^\W\d_]{3}", text) or not text[0].isalnum() \
            or statistics.median(w.confidence for w in words) < HEADING_CONFIDENCE:
        return False  # a chart's labels or specks read as letters (". Perce ntage"), never a section name
    return (statistics.median(w.height for w in words) >= ratio * body_height
            and not text.rstrip().endswith((".", ",", ";")))


def _ranges(numbers: list[int]) -> str:
    out, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}–{n}")
            start = None
    return ", ".join(out)
