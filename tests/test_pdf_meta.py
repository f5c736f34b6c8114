"""Tests for ingest.formats.pdf_meta: what a PDF is cited by, on the strings real PDFs carry.

The info-dictionary strings below are copied from files in ../shared/gov-pdfs and
../shared/pdf-zoo (and, where said, from producers' well-known defaults).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ingest.formats import extract
from ingest.formats.pdf_meta import agency_named, clean_publisher, clean_title, file_year, printed_year, title_year

GOV = Path(__file__).resolve().parents[1].parent / "shared" / "gov-pdfs"


pytestmark = pytest.mark.usefixtures("quiet_pypdf")


@pytest.mark.parametrize(
    "author, publisher",
    [
        ("United States Copyright Office - jmf", "U.S. Copyright Office"),  # usco_dmca_summary_1998.pdf
        ("U.S. Census Bureau (abc)", "U.S. Census Bureau"),
        ("FAA", "Federal Aviation Administration"),  # faa_amt_general_handbook_sample.pdf
        ("Ohio Department of Health", "Ohio Department of Health"),
        ("Zero to Three National Center for Infants, Toddlers and Families",
         "Zero to Three National Center for Infants, Toddlers and Families"),
        ("W:CAR:MP:FP", None),  # irs_i1040nr_2007_instructions.pdf: an office code
        ("Microsoft Word - brief.docx", None),
        ("Adobe Acrobat Pro DC 15.0", None),
        ("pdfTeX-1.40.21", None),
        ("Administrator", None),
        ("John Smith", None),  # a person wrote it; the publisher is someone else
        ("", None),
        (None, None),
    ],
)
def test_publisher_from_author(author, publisher):
    assert clean_publisher(author) == publisher


@pytest.mark.parametrize(
    "title, kept",
    [
        ("The Digital Millennium Copyright Act of 1998", True),
        ("2007 Instruction 1040-NR", True),
        ("AMT General Handbook", True),
        ("C:My DocumentsSUMMARY6.WPD", False),
        ("Microsoft Word - final_report.docx", False),
        ("Untitled", False),
        ("ab", False),
    ],
)
def test_title_from_info(title, kept):
    assert (clean_title(title) == title) is kept


def test_year_of_a_printed_date():
    assert printed_year(["MMWR / January 14, 2011 / Vol. 60", "Supplement"], []) == 2011
    assert printed_year([], ["NICS Firearm Background Checks", "November - 2015"]) == 2015
    assert printed_year(["Copyright Office Summary", "December 1998", "Page #"], []) == 1998
    assert printed_year(["Federal Register/Vol. 85, No. 152/Thursday, August 6, 2020/Proposed Rules"], []) == 2020
    assert printed_year(["Campus Attacks", "Page 5"], ["In 2010, about 56.7 million people"]) is None


def test_year_of_the_file():
    assert file_year({"/CreationDate": "D:20071206080123-05'00'", "/Producer": "Acrobat Distiller 7.0"}) == 2007
    assert file_year({"/CreationDate": "D:00000101000000Z"}) is None  # usco_dmca_summary_1998.pdf
    # the ICDAR excerpts: re-written by Ghostscript in 2013, published 2009-2011
    assert file_year({"/CreationDate": "D:20130405114211+01'00'", "/Producer": "GPL Ghostscript 9.06"}) is None
    assert file_year({"/CreationDate": "D:20130405114211+01'00'", "/Producer": "GPL Ghostscript 9.06",
                      "/Creator": "dvips(k) 5.98"}) == 2013
    assert title_year("The Digital Millennium Copyright Act of 1998") == 1998
    assert title_year("Instructions for Form 1040NR") is None


def test_agency_named_on_a_first_page():
    assert agency_named("National Center for Environmental Health, CDC") == "Centers for Disease Control and Prevention"
    assert agency_named("U.S. Census Bureau") == "U.S. Census Bureau"
    assert agency_named("THE ACT\nU.S. Copyright Office Summary") == "U.S. Copyright Office"
    assert agency_named("Prepared by the U.S. Government Accountability Office") == "Government Accountability Office"
    assert agency_named("Campus Attacks\nPage #") is None
    assert agency_named("ABCDC rules") is None  # a short form only counts as a whole word


@pytest.mark.parametrize(
    "name, publisher, year",
    [
        ("usco_dmca_summary_1998.pdf", "U.S. Copyright Office", 1998),
        ("cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf", "Centers for Disease Control and Prevention", 2011),
        ("census_disability_2010_report_excerpt.pdf", "U.S. Census Bureau", None),
        # the agency headings above the rule's title: the most specific one
        ("federal_register_2020-17221.pdf", "Federal Aviation Administration", 2020),
        # "Department of the Treasury / Internal Revenue Service" printed as a block on page 1
        ("irs_i1040nr_2007_instructions.pdf", "Internal Revenue Service", 2007),
        ("fbi_nics_background_checks_2015-11.pdf", None, 2015),
        ("campus_attacks_2010_report_excerpt.pdf", None, None),
    ],
)
def test_gov_pdf_citation_metadata(name, publisher, year):
    result = extract(GOV / name, (GOV / name).read_bytes())
    assert (result.publisher, result.year) == (publisher, year)


@pytest.mark.parametrize(
    "name, title",
    [
        # "Proposed Rules" is the section every page's header names, then come the agency and
        # the CFR part: the rule's own heading is the title
        ("federal_register_2020-17221.pdf", "Airworthiness Directives; The Boeing Company Airplanes"),
        # excerpts that open mid-text ("quarters had a disability in 2010."): their headings are a
        # table's or a section's, the report's title is on a page not in the file
        ("census_disability_2010_report_excerpt.pdf", None),
        ("epa_mercury_ecorisk_excerpt.pdf", None),
        ("campus_attacks_2010_report_excerpt.pdf", None),
        # a figure caption and the labels in its diagram are not titles: the file name stands in
        ("fda_pro_guidance_excerpt.pdf", None),
        ("cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf", "Inadequate and Unhealthy Housing, 2007 and 2009"),
        ("usco_dmca_summary_1998.pdf", "The Digital Millennium Copyright Act of 1998"),  # the info title
    ],
)
def test_gov_pdf_titles(name, title):
    assert extract(GOV / name, (GOV / name).read_bytes()).title == title


def test_a_title_is_no_caption_section_name_agency_or_code():
    from ingest.formats.pdf_meta import title_heading
    from ingest.types import Page

    def first(*headings, running=()):
        text = "\n\n".join(headings)
        return title_heading([Page(1, text, [(text.index(h), h) for h in headings])], list(running))

    assert first("HIGHLIGHTS", "Contents", "Infant Mental Health Consultation in Child Care") == \
        "Infant Mental Health Consultation in Child Care"
    assert first("DEPARTMENT OF HEALTH AND HUMAN SERVICES", "Office of Head Start", "45 CFR 1302",
                 "Program Performance Standards for Early Head Start") == "Program Performance Standards for Early Head Start"
    assert first("Notices", "Home Visiting Program Guidance", running=["Federal Register / Vol. 9 / Notices"]) == \
        "Home Visiting Program Guidance"
    assert first("Table 2. Enrollment by state", "Enrollment Total") is None


def test_publisher_from_the_agency_headings_above_the_title():
    from ingest.formats.pdf_meta import heading_agency
    from ingest.types import Page

    def publisher(*headings):
        text = "\n\n".join(headings)
        return heading_agency([Page(1, text, [(text.index(h), h) for h in headings])], [])

    assert publisher("DEPARTMENT OF HEALTH AND HUMAN SERVICES", "Home Visiting Guidance") == \
        "Department of Health and Human Services"
    assert publisher("U.S. Department of Health and Human Services", "Administration for Children and Families",
                     "Home Visiting Guidance") == "Administration for Children and Families"
    # an agency named after the title is the body's business, not the publisher
    assert publisher("Home Visiting Guidance", "Office of Head Start") is None


def test_publisher_from_the_agency_printed_as_a_block_on_the_first_page():
    from ingest.formats.pdf_meta import agency_block
    from ingest.types import Page

    def publisher(*blocks):
        return agency_block([Page(1, "\n\n".join(blocks))])

    assert publisher("Cat. No. 11368V", "Department of the Treasury\nInternal Revenue Service",
                     "retirement plan and your modified AGI") == "Internal Revenue Service"
    assert publisher("Proposed Rules", "DEPARTMENT OF TRANSPORTATION", "Federal Aviation Administration",
                     "14 CFR Part 39") == "Federal Aviation Administration"
    # OCR debris: a box's edge, the seal beside the name
    assert publisher("p< Department of the Treasury\nInternal Revenue Service") == "Internal Revenue Service"
    assert publisher("A Department of the Treasury\nInternal Revenue Service") == "Internal Revenue Service"
    assert publisher("Questions may be sent to the Office of Early Childhood Policy at the address below.") is None


def test_a_scans_year_is_printed_on_its_pages_never_its_file_date():
    """An image-only PDF made in 2026 from a 2011 report: the scan's /CreationDate is the
    scanner's; the date in the running footer OCR read on both pages is the report's."""
    from types import SimpleNamespace

    from ingest.formats.pdf_meta import pdf_metadata
    from ingest.types import Page

    reader = SimpleNamespace(metadata={"/CreationDate": "D:20260102093000Z", "/Producer": "Scanner firmware 2.1"})
    pages = [Page(1, "Supplement\n\nHeart disease deaths fell in every state.\n\n62 MMWR / January 14, 2011 / Vol. 60",
                  ocr=True),
             Page(2, "Supplement\n\nStroke deaths fell too.\n\nMMWR / January 14, 2011 / Vol. 60 63", ocr=True)]
    assert pdf_metadata(reader, pages, []).year == 2011
    assert pdf_metadata(reader, [Page(1, "Heart disease deaths fell in every state.", ocr=True)], []).year is None
    digital = [Page(1, "Heart disease deaths fell in every state.")]
    assert pdf_metadata(SimpleNamespace(metadata={"/CreationDate": "D:20110114"}), digital, []).year == 2011
