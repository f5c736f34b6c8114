"""Scans of real government PDFs (rendered here from ../shared/gov-pdfs at office-scanner
quality) read by OCR with the page images cleaned: the words, the printed page numbers and
the citation (title, publisher, and a year printed in the document, never the scan's date)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import GOV_PDFS as GOV
from scans import LETTER_PAGES, ScanPage, images_to_pdf, scan, typeset, word_error_rate

from ingest.formats import extract, ocr
from ingest.types import Page

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


ED_REPORT = "ed_nclb_implementation_report_excerpt.pdf"


def test_page_numbers_under_a_footer_rule_are_read_on_every_page_and_the_footer_is_no_text():
    """The ED report prints "Chapter II ... 25" under a rule at each page's foot. Read with the
    page cleaned and Sauvola-binarised, Tesseract took the 25 for "i) un" on one page, that debris
    passed for a lone page number, and the page was cited by its PDF index ("2"). The footer
    itself is taken off the text, as the PDF layout takes it off the born-digital report."""
    data = (GOV / ED_REPORT).read_bytes()
    scanned = extract("scan.pdf", images_to_pdf(scan(data, 200, seed=7, tilt=1.0), 200))
    assert [p.label for p in scanned.pages] == ["24", "25", "26"]
    assert not [p.number for p in scanned.pages if re.search(r"Chapter I", p.text)]
    assert scanned.pages[0].headings[0] == (0, "INCLUDING ALL STUDENTS IN ASSESSMENTS")


def test_a_running_header_read_a_little_differently_on_each_page_is_taken_off_the_text():
    def page(number: int, text: str, headings=()) -> Page:
        return Page(number, text, [(text.index(h), h) for h in headings], ocr=True)

    out = ocr.Recognised(
        pages={0: page(1, "Campus Attacks\n\nFirst page text.\n\nCampus Attacks Page 5", ["Campus Attacks"]),
               1: page(2, "Campus Attacks Page 6\n\nA heading\n\nSecond page text\nand more.", ["A heading"]),
               2: page(3, "Third page.\n\nCampus Atacks Page 7\n\nAfter it.\n\nOnce at this edge")},
        margins={0: ["Campus Attacks", "Campus Attacks Page 5"], 1: ["Campus Attacks Page 6", "and more."],
                 2: ["Third page.", "Campus Atacks Page 7", "Once at this edge"]})
    ocr._drop_running_lines(out)
    assert [p.text for p in out.pages.values()] == [
        "Campus Attacks\n\nFirst page text.", "A heading\n\nSecond page text\nand more.",
        "Third page.\n\nAfter it.\n\nOnce at this edge"]
    assert out.pages[0].headings == [(0, "Campus Attacks")]  # the title the later pages repeat
    assert out.pages[1].headings == [(0, "A heading")]
    assert out.running == ["Campus Attacks Page 5", "Campus Attacks Page 6", "Campus Atacks Page 7"]


@pytest.mark.parametrize("name, page, printed", [
    # a capital I read as a bracket: "requires [HEs to"
    ("campus_attacks_2010_report_excerpt.pdf", 1, "The amendment requires IHEs to “immediately notify” the campus"),
    # a word read as two: "based on vary ing state laws"
    ("fbi_nics_background_checks_2015-11.pdf", 0, "based on varying state laws pertaining to handgun permits"),
    # a photograph beside the line read into it: 'to Pe eae ee "threatened"'
    ("epa_mercury_ecorisk_excerpt.pdf", 1, 'status upgrade from "endangered" to "threatened" in five states'),
])
def test_ocr_slips_the_page_itself_shows_are_mended(name, page, printed):
    """The whole report scanned as bench/scan_ocr.py does, the one page read."""
    data = (GOV / name).read_bytes()
    scanned = images_to_pdf(scan(data, 200, seed=7, tilt=1.0), 200)
    assert printed in " ".join(ocr.recognise(scanned, [page]).pages[page].text.split())


def test_a_word_is_mended_only_where_the_page_prints_the_mended_word():
    from collections import Counter

    def words(*texts: str, confidence: float = 95):
        return [ocr._Word(text, (1, 1), (1, 1, 1), 35, confidence) for text in texts]

    page = Counter("ihes in varying vary ing around round the".split())
    assert ocr._mended(words("[HEs", "|n", "vary", "ing."), page) == ["IHEs", "In", "varying."]
    # the page never prints these mended: an editor's bracket, a phrase, a word used on its own
    assert ocr._mended(words("[Emphasis", "added]", "[HE", "a", "round", "on", "ing"), Counter(
        "emphasis added he a round on ing ing".split())) == ["[Emphasis", "added]", "[HE", "a", "round", "on", "ing"]
    assert ocr._mended(words("vary", "ing"), Counter("varying vary ing ing".split())) == ["vary", "ing"]


def test_picture_pieces_read_into_a_line_are_left_out_and_tall_sure_words_kept():
    def word(text: str, confidence: float, height: int = 35):
        return ocr._Word(text, (1, 1), (1, 1, 1), height, confidence)

    line = [word("to", 96), word("Pe", 26, 91), word("eae", 30, 91), word("“threatened”", 88), word("States", 40, 40),
            word("TITLE", 95, 90)]
    assert [w.text for w in ocr._without_debris(line)] == ["to", "“threatened”", "States", "TITLE"]
    unsure = [word("Pe", 26, 91), word("eae", 30, 20)]
    assert ocr._without_debris(unsure) == unsure  # nothing sure to measure against


def test_a_scans_title_that_its_later_pages_repeat_in_their_running_header_stays_its_title():
    """The IRS instructions print "Instructions for Form 1040NR" large on the first page and in
    every later page's header: the header taken off the later pages gives the year, not a reason
    to pass the title over for the next heading ("U.S. Nonresident Alien Income Tax Return")."""
    name = "irs_i1040nr_2007_instructions.pdf"
    scanned = extract(name, images_to_pdf(scan((GOV / name).read_bytes(), 200, seed=7, tilt=1.0, pages=[0, 1, 2]), 200))
    assert (scanned.title, scanned.publisher, scanned.year) == ("Instructions for Form 1040NR", "Internal Revenue Service",
                                                                2007)
