"""OCR of scanned PDFs: character accuracy against the known text, and seconds per page.

Scanned PDFs are made the way the tests make them (tests/scans.py): pages typeset with fpdf2
(a bold heading, paragraphs, a printed page number), rasterised at a scanner's resolution,
roughened (slight skew, blur, speckle, JPEG) and kept as pictures only. The text is real
prose: SciFact abstracts (read from ../shared/bench/scifact at run time) and the letter pages
the tests use. Each PDF is read by the product's own PDF reader (`ingest.formats.extract`),
which OCRs every page without a text layer.

Character accuracy of a page = 1 - (edit distance between OCR text and the typeset text) /
(length of the typeset text), whitespace collapsed on both sides (rapidfuzz's Levenshtein).
Speed is seconds per page on this machine (2 cores): one file at a time in one process, and
two files side by side in two processes (as `kb ingest`'s two workers read them); then the
parts of a page (rendering, Tesseract on the page, the second look at its edges for a page
number) and Tesseract on one core against its default threads.

    python bench/ocr_accuracy.py [--pages 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, load_note, scifact_docs, table  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from scans import LETTER_PAGES, ScanPage, images_to_pdf, scan, typeset  # noqa: E402

from ingest.formats import extract, ocr  # noqa: E402
from kb.text import collapse  # noqa: E402

VARIANTS = [  # (label, dpi, roughened, font size)
    ("300 dpi, clean", 300, False, 11),
    ("200 dpi, rough (the tests' scans)", 200, True, 11),
    ("150 dpi, rough", 150, True, 11),
    ("200 dpi, rough, 9 pt print", 200, True, 9),
]


def pages_of_text(count: int) -> list[ScanPage]:
    """The letter pages, then SciFact abstracts set one to a page (Latin-1 only: fpdf2's core
    fonts), numbered from 1."""
    pages = [ScanPage(p.heading, p.paragraphs) for p in LETTER_PAGES]
    for doc in scifact_docs():
        if len(pages) >= count:
            break
        text = collapse(doc["text"])
        if not (600 <= len(text) <= 1800) or not (doc["title"] + text).isascii():
            continue
        words = text.split()
        third = len(words) // 3
        pages.append(ScanPage(collapse(doc["title"])[:90], [" ".join(words[:third]), " ".join(words[third:2 * third]),
                                                            " ".join(words[2 * third:])]))
    for number, page in enumerate(pages, start=1):
        page.printed_number = str(number)
    return pages[:count]


def accuracy(got: str, want: str) -> float:
    from rapidfuzz.distance import Levenshtein

    got, want = collapse(got), collapse(want)
    return 1 - Levenshtein.distance(got, want) / max(len(want), 1)


def read(path: str) -> tuple[list[str], list[str | None], float]:
    """(page texts, page labels, seconds) of one scanned PDF read by the product's reader."""
    started = time.perf_counter()
    result = extract("scan.pdf", Path(path).read_bytes())
    return [p.text for p in result.pages], [p.label for p in result.pages], time.perf_counter() - started


def accuracy_table(pages: list[ScanPage], folder: Path) -> tuple[list[list], Path]:
    rows, default_pdf = [], None
    for label, dpi, rough, size in VARIANTS:
        pdf = folder / f"scan-{dpi}-{int(rough)}-{size}.pdf"
        pdf.write_bytes(images_to_pdf(scan(typeset(pages, size), dpi, seed=1, rough=rough), dpi))
        if default_pdf is None or (dpi == 200 and rough and size == 11):
            default_pdf = pdf
        texts, labels, seconds = read(str(pdf))
        scores = [accuracy(t, p.text()) for t, p in zip(texts, pages)]
        exact = sum(1 for t, p in zip(texts, pages) if collapse(t) == collapse(p.text()))
        right_labels = sum(1 for got, p in zip(labels, pages) if got == p.printed_number)
        rows.append([label, len(texts), f"{statistics.fmean(scores):.4f}", f"{min(scores):.4f}", f"{exact}/{len(pages)}",
                     f"{right_labels}/{len(pages)}", f"{seconds / len(pages):.2f}"])
    return rows, default_pdf


def speed_table(pdf: Path, pages: int) -> list[list]:
    rows = []
    started = time.perf_counter()
    read(str(pdf))
    one = time.perf_counter() - started
    rows.append(["one file at a time, 1 process", f"{one / pages:.2f}", f"{pages / one * 60:.0f}"])
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(len, [b""] * 2))  # start the workers before timing
        started = time.perf_counter()
        list(pool.map(read, [str(pdf), str(pdf)]))
        two = time.perf_counter() - started
    rows.append(["two files side by side, 2 processes (kb ingest's workers)", f"{two / (2 * pages):.2f}",
                 f"{2 * pages / two * 60:.0f}"])
    return rows


def parts_table(pdf: Path) -> list[list]:
    """Per page: rendering, Tesseract on the page (1 thread, as the product runs it, and its
    default threads), the edge pass."""
    import pypdfium2 as pdfium
    import pytesseract

    document = pdfium.PdfDocument(pdf.read_bytes())
    images = [ocr._render(document, i) for i in range(len(document))]
    started = time.perf_counter()
    for i in range(len(document)):
        ocr._render(document, i)
    render = (time.perf_counter() - started) / len(images)
    started = time.perf_counter()
    cleaned = [ocr.clean(image) for image in images]
    cleaning = (time.perf_counter() - started) / len(images)
    started = time.perf_counter()
    for image in cleaned:
        ocr._words(image)
    one_thread = (time.perf_counter() - started) / len(images)
    saved = os.environ.pop("OMP_THREAD_LIMIT", None)
    started = time.perf_counter()
    for image in images:
        pytesseract.image_to_data(image, lang="eng", config="--psm 3")
    default_threads = (time.perf_counter() - started) / len(images)
    if saved is not None:
        os.environ["OMP_THREAD_LIMIT"] = saved
    started = time.perf_counter()
    for image in images:
        ocr._edge_numbers(image)
    edges = (time.perf_counter() - started) / len(images)
    document.close()
    return [["render page (pypdfium2, 300 dpi, grey)", f"{render:.2f}"],
            ["clean the page image (3x3 median, skew search, turn)", f"{cleaning:.2f}"],
            ["Tesseract on the page, 1 thread (as run)", f"{one_thread:.2f}"],
            ["Tesseract on the page, default OpenMP threads", f"{default_threads:.2f}"],
            ["second look at the top and bottom edges (page number)", f"{edges:.2f}"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=8)
    args = parser.parse_args()
    if ocr.unavailable():
        sys.exit(f"OCR unavailable: {ocr.unavailable()}")
    pages = pages_of_text(args.pages)
    import pytesseract

    with tempfile.TemporaryDirectory() as tmp:
        print(f"## OCR character accuracy, {len(pages)} pages (2 letter pages + SciFact abstracts), Tesseract "
              f"{pytesseract.get_tesseract_version()}; {load_note()}\n")
        rows, default_pdf = accuracy_table(pages, Path(tmp))
        print(table(["scan", "pages", "char. accuracy, mean", "worst page", "pages exact", "printed page number read",
                     "s/page (this run)"], rows))
        print(f"\n## Seconds per page on {os.cpu_count()} cores, 200 dpi rough scan; {load_note()}\n")
        print(table(["how", "s/page", "pages/min"], speed_table(default_pdf, len(pages))))
        print(f"\n## One page's parts (mean over the pages); {load_note()}\n")
        print(table(["part", "s/page"], parts_table(default_pdf)))


if __name__ == "__main__":
    main()
