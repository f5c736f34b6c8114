"""OCR of scanned PDF pages with the real Tesseract, on PDFs made here by typesetting known text,
rasterising it like a scanner and keeping only the pictures (tests/scans.py)."""
from __future__ import annotations

import difflib
import os
import subprocess
import sys

import pytest
from conftest import PDF_ZOO, ROOT
from scans import LETTER_PAGES, ScanPage, mixed_pdf, scanned_pdf

from ingest.formats import extract, ocr
from kb.errors import ExtractionError
from kb.text import collapse


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, collapse(a), collapse(b), autojunk=False).ratio()


def test_scanned_pdf_is_read_page_by_page_with_printed_labels(tmp_path):
    pdf = scanned_pdf(tmp_path / "letter.pdf", LETTER_PAGES)
    result = extract(pdf.name, pdf.read_bytes())
    assert [(p.number, p.label, p.ocr) for p in result.pages] == [(1, "3", True), (2, "4", True)]
    for page, source in zip(result.pages, LETTER_PAGES):
        assert similarity(page.text, source.text()) > 0.97, page.text
        assert [h for _, h in page.headings] == [source.heading]  # set large and bold: a heading
        assert source.printed_number not in page.text.split()  # the lone page number is a label, not text
    assert result.title == LETTER_PAGES[0].heading and result.page_count == 2


def test_mixed_pdf_reads_the_text_layer_and_ocrs_the_rest(tmp_path):
    pages = LETTER_PAGES + [ScanPage("Funding", ["Consultation is paid from the state general fund and from the "
                                                 "federal Preschool Development Grant."], "5")]
    pdf = mixed_pdf(tmp_path / "mixed.pdf", pages, scanned={1})
    result = extract(pdf.name, pdf.read_bytes())
    assert [p.ocr for p in result.pages] == [False, True, False]
    assert [p.label for p in result.pages] == ["3", "4", "5"]
    assert "Office of Early Childhood Policy" in collapse(result.pages[1].text)
    assert similarity(result.pages[1].text, pages[1].text()) > 0.97
    assert result.warnings == []


def test_ocr_stops_with_a_reason_when_the_time_limit_would_pass(tmp_path):
    pdf = scanned_pdf(tmp_path / "letter.pdf", LETTER_PAGES * 2)
    with ocr.time_limit(0.5), pytest.raises(ExtractionError, match="KB_EXTRACT_TIMEOUT_S"):
        extract(pdf.name, pdf.read_bytes())


def test_pictures_without_text_are_still_reported():
    with pytest.raises(ExtractionError, match="image-only PDF.*OCR found no text"):
        extract("imagemagick-images.pdf", (PDF_ZOO / "imagemagick-images.pdf").read_bytes())


def test_without_tesseract_the_clear_reason_stays(tmp_path):
    """Tesseract off the PATH (a machine where setup has not installed it)."""
    pdf = scanned_pdf(tmp_path / "letter.pdf", LETTER_PAGES[:1], rough=False)
    script = ("import sys; from ingest.formats import extract; from kb.errors import ExtractionError\n"
              f"try: extract('letter.pdf', open({str(pdf)!r}, 'rb').read())\n"
              "except ExtractionError as e: print(e)\n")
    python_dir = os.path.dirname(sys.executable)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "PATH": python_dir, "PYTHONPATH": str(ROOT)})
    assert "image-only PDF" in result.stdout and "need OCR" in result.stdout
    assert "Tesseract is not installed" in result.stdout and "scripts/setup.sh" in result.stdout
