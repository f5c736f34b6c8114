"""Scans of real government PDFs (rendered here from ../shared/gov-pdfs at office-scanner
quality) read by OCR with the page images cleaned: the words, the printed page numbers and
the citation (title, publisher, and a year printed in the document, never the scan's date)."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import GOV_PDFS as GOV
from scans import LETTER_PAGES, ScanPage, images_to_pdf, scan, typeset, word_error_rate

from ingest.formats import extract, ocr

pytestmark = pytest.mark.skipif(ocr.unavailable() is not None, reason="needs Tesseract (scripts/setup.sh)")

MMWR = "cdc_mmwr_2011_v60_suppl_chd_stroke_deaths.pdf"


def test_a_noisy_150_dpi_scan_of_a_gov_report_reads_like_its_text_layer():
    """Two pages of an MMWR report, scanned at 150 dpi in grey, turned by up to 1°, blurred,
    speckled and JPEG-compressed: the body text comes back with under 5% of its words wrong,
    the pages carry the numbers printed in their footers, and the citation is the report's."""
    data = (GOV / MMWR).read_bytes()
    original = extract(MMWR, data)
    scanned = extract("scan.pdf", images_to_pdf(scan(data, 150, seed=3, tilt=1.0, pages=[0, 1]), 150))
    assert [p.ocr for p in scanned.pages] == [True, True]
    errors, total = word_error_rate(original.pages[:2], scanned.pages)
    assert total > 500 and errors / total <= 0.05, (errors, total)
    assert [p.label for p in scanned.pages] == ["62", "63"]  # "62 MMWR / January 14, 2011 / Vol. 60"
    assert scanned.title == "Coronary Heart Disease and Stroke Deaths — United States, 2006"
    assert scanned.publisher == "Centers for Disease Control and Prevention"
    # the image-only PDF was made today: its /CreationDate is the scan's, the footer's date is the report's
    assert scanned.year == 2011 != dt.date.today().year


def test_a_blank_page_inside_a_scan_is_skipped_and_the_rest_ingests():
    """A blank sheet scanned between two pages (speckle and all) is no reason to refuse the
    file: it is left out, the pages around it keep their printed numbers."""
    pages = [LETTER_PAGES[0], ScanPage(None, []), ScanPage(LETTER_PAGES[1].heading, LETTER_PAGES[1].paragraphs, "5")]
    pdf = images_to_pdf(scan(typeset(pages), 200, seed=2), 200)
    result = extract("letter.pdf", pdf)
    assert [(p.number, p.label, bool(p.text.strip())) for p in result.pages] == [(1, "3", True), (2, None, False),
                                                                                  (3, "5", True)]
    assert "Office of Early Childhood Policy" in " ".join(result.pages[2].text.split())
    assert any("1 of 3 pages" in w for w in result.warnings)


def test_a_slanted_page_is_turned_straight_before_recognition():
    import numpy as np
    from PIL import Image

    page = scan(typeset(LETTER_PAGES[:1]), 300, rough=False)[0]
    for tilt in (1.5, -0.8):
        turned = page.rotate(tilt, resample=Image.BICUBIC, fillcolor=255)
        assert ocr.skew_angle(np.asarray(turned)) == pytest.approx(-tilt, abs=0.1)
    assert ocr.skew_angle(np.asarray(page)) == pytest.approx(0, abs=0.1)


def test_chart_labels_and_specks_are_no_section_names():
    """Large print that Tesseract is unsure of (a chart's axis labels, a smudge) is text, not
    a heading; a confident large line is."""
    def paragraph(text: str, confidence: float, height: int = 60):
        return [(text, [ocr._Word(w, (1, 1), (1, 1, 1), height, confidence) for w in text.split()])]

    assert ocr._is_heading(paragraph("Eligibility and Referral", 95), 30, ocr.HEADING_HEIGHT)
    assert not ocr._is_heading(paragraph(". Perce ntage", 95), 30, ocr.HEADING_HEIGHT)
    assert not ocr._is_heading(paragraph("Percentage of homes", 40), 30, ocr.HEADING_HEIGHT)
    assert not ocr._is_heading(paragraph("Eligibility and Referral", 95, height=31), 30, ocr.HEADING_HEIGHT)


def test_closing_marks_read_as_words_go_back_against_their_word():
    assert ocr._join("All (100% ) of the panther's range".split()) == "All (100%) of the panther's range"
    assert ocr._join("states , and then ; done .".split()) == "states, and then; done."
    assert ocr._join("pages 4 - 6".split()) == "pages 4 - 6"
