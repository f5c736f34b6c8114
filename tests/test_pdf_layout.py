"""Tests for ingest.formats.pdf_layout: reading order, headers, hyphenation, headings, robustness.

Real files come from ../shared (gov-pdfs and pdf-zoo, see their READMEs); small PDFs
for exact checks are written here with pypdf alone.
"""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pypdf
import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    StreamObject,
)

from ingest.formats import pdf_layout
from ingest.formats.pdf_labels import printed_labels
from ingest.formats.pdf_layout import lay_out_pages
from ingest.types import Page

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOV = SHARED / "gov-pdfs"
ZOO = SHARED / "pdf-zoo"
IRS = GOV / "irs_i1040nr_2007_instructions.pdf"
MMWR_HOUSING = GOV / "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf"
MMWR_STROKE = GOV / "cdc_mmwr_2011_v60_suppl_chd_stroke_deaths.pdf"
CENSUS = GOV / "census_disability_2010_report_excerpt.pdf"
DMCA = GOV / "usco_dmca_summary_1998.pdf"

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

pytestmark = [pytest.mark.skipif(not GOV.is_dir(), reason="../shared/gov-pdfs is not there"),
              pytest.mark.usefixtures("quiet_pypdf")]


def flat(text: str) -> str:
    """Text with all whitespace runs made single spaces."""
    return " ".join(text.split())


def lay_out(path: Path) -> list[Page]:
    return lay_out_pages(PdfReader(path))


@pytest.fixture(scope="module")
def irs() -> tuple[list[Page], float]:
    reader = PdfReader(IRS)
    start = time.perf_counter()
    pages = lay_out_pages(reader)
    return pages, time.perf_counter() - start


@pytest.fixture(scope="module")
def federal_register() -> list[Page]:
    return lay_out(GOV / "federal_register_2020-17221.pdf")


# --------------------------------------------------------------------------------------
# Small generated PDFs
# --------------------------------------------------------------------------------------
def _font(writer: PdfWriter, base: str) -> object:
    return writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject(base),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )


def make_pdf(
    contents: list[str],
    *,
    size: tuple[float, float] = (612, 792),
    rotate: int | None = None,
    form: str | None = None,
) -> PdfReader:
    """A PDF with one page per content stream; /F1 is Helvetica, /F2 Helvetica-Bold,
    /X1 (if `form` is given) a form XObject with that content."""
    writer = PdfWriter()
    for content in contents:
        page = writer.add_blank_page(*size)
        fonts = DictionaryObject(
            {
                NameObject("/F1"): _font(writer, "/Helvetica"),
                NameObject("/F2"): _font(writer, "/Helvetica-Bold"),
            }
        )
        resources = DictionaryObject({NameObject("/Font"): fonts})
        if form is not None:
            xobject = StreamObject()
            xobject.set_data(form.encode("latin-1"))
            xobject[NameObject("/Type")] = NameObject("/XObject")
            xobject[NameObject("/Subtype")] = NameObject("/Form")
            xobject[NameObject("/BBox")] = ArrayObject([FloatObject(v) for v in (0, 0, *size)])
            xobject[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
            resources[NameObject("/XObject")] = DictionaryObject(
                {NameObject("/X1"): writer._add_object(xobject)}
            )
        page[NameObject("/Resources")] = resources
        if rotate is not None:
            page[NameObject("/Rotate")] = NumberObject(rotate)
        stream = StreamObject()
        stream.set_data(content.encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    buffer = io.BytesIO()
    writer.write(buffer)
    buffer.seek(0)
    return PdfReader(buffer)


def make_pdf_with_font(content: str, font: DictionaryObject) -> PdfReader:
    """A one-page PDF whose /F1 is `font` (streams in it given as bytes are added as streams)."""
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    for key, value in list(font.items()):
        if isinstance(value, bytes):
            stream = StreamObject()
            stream.set_data(value)
            font[key] = writer._add_object(stream)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = StreamObject()
    stream.set_data(content.encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    buffer = io.BytesIO()
    writer.write(buffer)
    buffer.seek(0)
    return PdfReader(buffer)


def to_unicode(pairs: dict[int, str]) -> bytes:
    """A /ToUnicode CMap: printable ASCII to itself, then `pairs` (code -> text) on top."""
    entries = {code: chr(code) for code in range(0x20, 0x7F)} | pairs
    lines = [f"<{code:02x}> <{''.join(f'{ord(c):04x}' for c in text)}>" for code, text in sorted(entries.items())]
    return (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /T def /CMapType 2 def\n"
        "1 begincodespacerange <00> <ff> endcodespacerange\n"
        f"{len(lines)} beginbfchar\n" + "\n".join(lines) + "\nendbfchar\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end"
    ).encode("ascii")


def text_ops(lines: list[tuple]) -> str:
    """(x, y, text[, font, size]) tuples as text-showing operators."""
    ops = []
    for x, y, text, *rest in lines:
        font = rest[0] if rest else "F1"
        size = rest[1] if len(rest) > 1 else 10
        text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"BT /{font} {size} Tf {x} {y} Td ({text}) Tj ET")
    return "\n".join(ops)


def column(x: float, top: float, lines: list[str], pitch: float = 12, **kw) -> list[tuple]:
    return [(x, top - i * pitch, line, *kw.get("style", ())) for i, line in enumerate(lines)]


LEFT = [
    "The council met in March to review",
    "the budget for early childhood",
    "programmes and agreed to expand",
    "home visiting to every county.",
]
RIGHT = [
    "Funding for the second year will",
    "come from the state general fund",
    "and from federal matching grants",
    "awarded under the new statute.",
]


# --------------------------------------------------------------------------------------
# Reading order
# --------------------------------------------------------------------------------------
def test_irs_pages_numbered_in_order(irs):
    pages, _ = irs
    assert len(pages) == 50
    assert [p.number for p in pages] == list(range(1, 51))
    assert all(isinstance(p, Page) for p in pages)


def test_irs_three_columns_are_not_interleaved(irs):
    pages, _ = irs
    # the README's known interleaving, from default extract_text() on page 6
    assert not any("for The election does not apply to" in p.text for p in pages)
    page6 = flat(pages[5].text)
    assert "See Pub. 555, Community Property, for more details." in page6
    assert (
        "The election does not apply to dispositions of U.S. real property "
        "interests discussed earlier." in page6
    )
    # a sentence running over four lines of the middle column of page 2
    assert (
        "If you are not a citizen of the United\nStates, specific rules apply to determine\n"
        "if you are a resident alien or a\nnonresident alien for tax purposes." in pages[1].text
    )


def test_irs_columns_read_left_to_right(irs):
    pages, _ = irs
    text = pages[1].text
    order = [
        "Items to Note",  # column 1
        "Additional Information",  # column 1, lower
        "Resident Alien or Nonresident Alien",  # column 2
        "Substantial Presence Test",  # column 2, lower
        "Closer Connection to Foreign Country",  # column 3
        "Who Must File",  # column 3, lower
    ]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    # the end of column 2 runs on into the top of column 3 ...
    assert "that you are physically present in the\n\ncountry at any time during the day." in text


def test_irs_layout_is_fast_enough(irs):
    _, seconds = irs
    assert seconds < 15, f"IRS booklet took {seconds:.1f}s"


def test_federal_register_three_columns_with_footnotes(federal_register):
    page2 = flat(federal_register[1].text)
    assert (
        "The FAA sent Emergency AD 2018–23–51 to all affected civil aviation authorities "
        "(CAAs) at the same time." in page2
    )
    # column 2 goes on where column 1 stopped: the footnotes at its foot are not spliced in
    assert "(EASA), the manufacturer, the operator, and the Ethiopian Civil Aviation Authority (ECAA)." in page2
    assert "the operator, 5 Stall warning indication" not in page2


def test_federal_register_figure_page_reads_above_then_below(federal_register):
    """A figure (no text) spans the page: the column gutters run on through it."""
    page7 = federal_register[6].text
    top = [
        "inserting a copy of figures 1 through 9",
        "(1) In the Certificate Limitations and",
        "(2) In the Operating Procedures chapter,\nrevise the General paragraph",
        "(3) In the Operating Procedures chapter,\nreplace the existing Airspeed Unreliable",
        "paragraph with the information in figure 2",
    ]
    positions = [page7.index(part) for part in top]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "name, passage",
    [
        (
            "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf",
            "Healthy homes are essential to a healthy community and population (1,2). They "
            "contribute to meeting physical needs (e.g., air, water, food, and shelter) and to "
            "the occupants’ psychological and social health.",
        ),
        (
            "cdc_mmwr_2011_v60_suppl_chd_stroke_deaths.pdf",
            "Healthy People 2020 has four overarching goals",
        ),
        (
            "census_disability_2010_report_excerpt.pdf",
            "had a severe disability (Table 1). About 12.3 million people aged 6 years and "
            "older (4.4 percent) needed assistance with one or more activities of daily living",
        ),
    ],
)
def test_two_and_three_column_reports_read_continuously(name, passage):
    pages = lay_out(GOV / name)
    assert any(passage in flat(p.text) for p in pages)


def test_generated_two_columns_under_full_width_title():
    lines = [(72, 720, "Statewide Plan for Infant Mental Health Services", "F2", 18)]
    lines += column(72, 680, LEFT) + column(320, 680, RIGHT)  # baselines line up
    pages = lay_out_pages(make_pdf([text_ops(lines)]))
    text = pages[0].text
    assert text.startswith("Statewide Plan for Infant Mental Health Services\n\n")
    assert "\n".join(LEFT) in text
    assert "\n".join(RIGHT) in text
    assert text.index(LEFT[-1]) < text.index(RIGHT[0])
    assert pages[0].headings == [(0, "Statewide Plan for Infant Mental Health Services")]


def test_generated_columns_whose_paragraph_gaps_line_up():
    """Both columns break a paragraph at the same height: still column by column."""
    lines = column(72, 700, LEFT[:2]) + column(72, 650, LEFT[2:])
    lines += column(320, 700, RIGHT[:2]) + column(320, 650, RIGHT[2:])
    text = lay_out_pages(make_pdf([text_ops(lines)]))[0].text
    assert text == "\n".join(LEFT[:2]) + "\n\n" + "\n".join(LEFT[2:]) + "\n\n" + "\n".join(
        RIGHT[:2]
    ) + "\n\n" + "\n".join(RIGHT[2:])


def test_single_column_page_keeps_its_order():
    page = lay_out(ZOO / "crazyones.pdf")[0]
    assert page.text.startswith("The Crazy Ones\n\nOctober 14, 1998\n\nHeres to the crazy ones.")
    assert page.text.endswith("\nare the ones who do.")
    assert page.headings == [(0, "The Crazy Ones"), (16, "October 14, 1998")]


def test_tables_are_read_row_by_row():
    fbi = lay_out(GOV / "fbi_nics_background_checks_2015-11.pdf")[0].text
    assert "\nAlabama\t18,870\t23,022\t22,650\t859\t1,178\t" in fbi
    housing = lay_out(GOV / "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf")[1].text
    assert "\nMale\t61,206\t2,862\t(4.7)\tRef.\t—\t60,721\t2,962\t(4.9)\tRef.\t—\n" in housing


# --------------------------------------------------------------------------------------
# Lines, words and blocks
# --------------------------------------------------------------------------------------
def test_words_drawn_glyph_by_glyph_keep_their_spaces():
    page = lay_out(GOV / "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf")[0]
    assert "homes, mobile homes, and vacant housing units." in page.text
    assert "of 55,000 U.S. housing units, including apartments, single-family" in page.text


def test_words_split_by_position_get_a_space_and_kerning_does_not():
    content = (
        "BT /F1 10 Tf 72 700 Td (Early) Tj 30 0 Td (childhood) Tj ET\n"  # gap: a space
        "BT /F1 10 Tf 72 680 Td [(W) 80 (ellbeing) -20 (matters)] TJ ET\n"  # kerning only
        "BT /F1 10 Tf 72 660 Td [(home) -300 (visits)] TJ ET"  # TJ word gap
    )
    text = lay_out_pages(make_pdf([content]))[0].text
    assert text == "Early childhood\nWellbeingmatters\nhome visits"


def test_blocks_split_on_paragraph_gaps_only():
    lines = column(72, 700, LEFT) + column(72, 630, RIGHT)
    text = lay_out_pages(make_pdf([text_ops(lines)]))[0].text
    assert text == "\n".join(LEFT) + "\n\n" + "\n".join(RIGHT)


def test_superscript_footnote_markers_are_dropped_from_the_text():
    """A marker glued to a word garbles a quote ("copying2"); the footnote keeps its number."""
    page = lay_out(GOV / "campus_attacks_2010_report_excerpt.pdf")[0]
    assert "(The Digest), there were 6,563" in page.text
    assert "7 Snyder, T.D., Dillow, S.A., and Hoffman, C.M. (2009, March)." in page.text
    dmca = lay_out(GOV / "usco_dmca_summary_1998.pdf")
    assert "The Digital Millennium Copyright Act (DMCA) was signed into law by" in dmca[0].text
    assert "unauthorized copying of a copyrighted work." in dmca[3].text
    assert dmca[0].text.endswith("\n\n1 Pub. L. No. 105-304, 112 Stat. 2860 (Oct. 28, 1998).")


# --------------------------------------------------------------------------------------
# Running headers and footers
# --------------------------------------------------------------------------------------
def test_irs_running_headers_and_footers_removed(irs):
    pages, _ = irs
    for page in pages[:48]:  # pages 49-50 are a separate two-page notice with its own header
        assert not re.search(r"Page \d+ of 48", page.text), page.number
        assert "MUST be removed before printing" not in page.text, page.number
        assert not re.search(r"(^|\n)-\d+-($|\n)", page.text), page.number


def test_federal_register_running_lines_removed(federal_register):
    for page in federal_register:
        assert "VerDate" not in page.text
        assert "Sfmt" not in page.text
        assert "jbell on DSKJLSW7X2PROD" not in page.text  # sideways, in the margin
    for page in federal_register[1:]:
        assert "Federal Register/Vol. 85" not in page.text.replace(" / ", "/")


def test_generated_running_header_and_page_numbers():
    contents = []
    for n in range(1, 5):
        lines = [(72, 760, "Quarterly Report on Home Visiting 2021"), (500, 760, f"Page {n} of 4")]
        lines += column(72, 700, LEFT if n % 2 else RIGHT)
        lines += [(300, 40, f"- {n} -")]
        contents.append(text_ops(lines))
    pages = lay_out_pages(make_pdf(contents))
    assert [p.number for p in pages] == [1, 2, 3, 4]
    for n, page in enumerate(pages, start=1):
        assert page.text == "\n".join(LEFT if n % 2 else RIGHT)


def test_short_document_keeps_its_margin_lines():
    """Two pages are too few to call a repeated line a running header."""
    contents = [
        text_ops([(72, 760, "Quarterly Report on Home Visiting"), (72, 700, f"Body {n}.")])
        for n in (1, 2)
    ]
    pages = lay_out_pages(make_pdf(contents))
    assert all(p.text.startswith("Quarterly Report on Home Visiting") for p in pages)


def test_bare_page_number_removed_even_on_one_page():
    content = text_ops([(72, 700, "A single page of text."), (300, 36, "- 7 -")])
    assert lay_out_pages(make_pdf([content]))[0].text == "A single page of text."


# --------------------------------------------------------------------------------------
# Hyphenation
# --------------------------------------------------------------------------------------
def test_real_line_end_hyphens_joined():
    page = lay_out(GOV / "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf")[0]
    assert "population (1,2)" in page.text  # "popu-" / "lation (1,2)"
    assert "environmental factors" in page.text  # "envi-" / "ronmental factors"
    assert "popu-" not in page.text
    campus = lay_out(GOV / "campus_attacks_2010_report_excerpt.pdf")[0]
    assert "4,314 were degree-granting" in campus.text  # compound seen whole elsewhere


def test_generated_hyphenation():
    lines = column(
        72,
        700,
        [
            "The state will fund the develop-",
            "ment of a new social-",
            "emotional screening tool for 1040-",
            "NR filers and promote social-emotional health.",
        ],
    )
    text = lay_out_pages(make_pdf([text_ops(lines)]))[0].text
    assert "the development of a new social-emotional screening tool" in text
    assert "tool for 1040-\nNR filers" in text  # capital letter next: not a broken word


def test_word_broken_across_columns_is_joined():
    lines = column(72, 700, ["Each county reports on the develop-"]) + column(
        320, 700, ["ment of its home visiting network.", "Reports are due in May."]
    )
    text = lay_out_pages(make_pdf([text_ops(lines)]))[0].text
    assert text == (
        "Each county reports on the development of its home visiting network.\n"
        "Reports are due in May."
    )


# --------------------------------------------------------------------------------------
# Headings
# --------------------------------------------------------------------------------------
def test_generated_headings_with_offsets():
    lines = [
        (72, 720, "Family Support Programs", "F1", 20),
        *column(72, 690, ["Programs that help parents were reviewed in", "every region."]),
        (72, 640, "Eligibility", "F2", 10),  # bold at body size, standing alone
        *column(72, 624, ["Families qualify when a child is under", "three years of age."]),
        (72, 580, "Services Offered to Families with Infants", "F1", 14),
        (72, 564, "and Toddlers", "F1", 14),  # a heading wrapped onto two lines
        *column(72, 540, ["Home visits, screening and referrals are", "offered at no cost."]),
        (72, 500, "This sentence is large but it is body text.", "F1", 14),
    ]
    page = lay_out_pages(make_pdf([text_ops(lines)]))[0]
    titles = [h for _, h in page.headings]
    assert titles == [
        "Family Support Programs",
        "Eligibility",
        "Services Offered to Families with Infants and Toddlers",
    ]
    for offset, heading in page.headings:
        assert page.text[offset:].startswith(heading)
        assert offset == 0 or page.text[offset - 1] == "\n"
    assert [o for o, _ in page.headings] == sorted(o for o, _ in page.headings)


def test_irs_headings_have_correct_offsets(irs):
    pages, _ = irs
    assert {"Items to Note", "Green Card Test", "Substantial Presence Test", "Who Must File"} <= {
        h for _, h in pages[1].headings
    }
    assert any(h == "Closer Connection to Foreign Country" for _, h in pages[1].headings)
    for page in pages:
        offsets = [o for o, _ in page.headings]
        assert offsets == sorted(offsets)
        for offset, heading in page.headings:
            assert page.text[offset:].startswith(heading), (page.number, heading)
            assert offset == 0 or page.text[offset - 1] == "\n"


def test_bold_run_in_heads_are_not_headings(irs):
    pages, _ = irs
    titles = {h for _, h in pages[1].headings}
    assert not any(t.startswith("Form 1040NR-EZ") for t in titles)
    assert "Form 1040NR-EZ. You may be able" in pages[1].text


# --------------------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------------------
def _open(path: Path) -> PdfReader | None:
    reader = PdfReader(path)
    if reader.is_encrypted:
        try:
            if not reader.decrypt(""):
                return None
        except (PdfReadError, NotImplementedError):
            return None
    return reader


@pytest.mark.skipif(not ZOO.is_dir(), reason="../shared/pdf-zoo is not there")
def test_every_zoo_file_lays_out():
    skipped = []
    for path in sorted(ZOO.glob("*.pdf")):
        reader = _open(path)
        if reader is None:
            skipped.append(path.name)
            continue
        pages = lay_out_pages(reader)
        assert [p.number for p in pages] == list(range(1, len(reader.pages) + 1)), path.name
        for page in pages:
            assert not CONTROL.search(page.text), path.name
            assert page.text == page.text.strip()
            page.text.encode("utf-8")  # no lone surrogates
    assert set(skipped) == {
        "crazyones-encrypted-256.pdf",
        "r4-aes-user-password.pdf",
        "libreoffice-writer-password.pdf",
    }


@pytest.mark.skipif(not ZOO.is_dir(), reason="../shared/pdf-zoo is not there")
def test_zoo_texts():
    assert "Hello World" in lay_out(ZOO / "multilang.pdf")[0].text
    assert "مرحبا بالعالم" in lay_out(ZOO / "multilang.pdf")[0].text  # right to left
    rotated = lay_out(ZOO / "indirect-rotation.pdf")
    assert len(rotated) == 5 and all(len(p.text) > 200 for p in rotated)
    ocr = lay_out(ZOO / "Seige_of_Vicksburg_Sample_OCR.pdf")
    assert sum(len(p.text) for p in ocr) > 10_000
    empty = _open(ZOO / "encrypted_doc_no_id.pdf")
    assert [(p.text, p.headings) for p in lay_out_pages(empty)] == [("", [])] * 3


def test_every_gov_file_lays_out(irs, federal_register):
    for path in sorted(GOV.glob("*.pdf")):
        if path == IRS:
            pages = irs[0]
        elif path.name.startswith("federal_register"):
            pages = federal_register
        else:
            pages = lay_out(path)
        assert len(pages) == len(PdfReader(path).pages)
        for page in pages:
            assert page.text.strip(), (path.name, page.number)
            assert not CONTROL.search(page.text)
            assert "\n\n\n" not in page.text


def test_layout_keeps_the_text_of_plain_extraction(irs):
    """Reordering must not lose characters: compare letter counts with plain text."""
    pages, _ = irs
    reader = PdfReader(IRS)
    for number in (2, 6, 20, 35):
        plain = reader.pages[number - 1].extract_text()
        ours = pages[number - 1].text
        count = lambda s: sum(c.isalnum() for c in s)  # noqa: E731
        # running header + footer lines (~150 characters) are the only loss
        assert count(plain) - 200 <= count(ours) <= count(plain), number


@pytest.mark.parametrize(
    "content",
    [
        "",
        "BT /F9 12 Tf 72 700 Td (unknown font) Tj ET",
        "BT 72 700 Td (no font set) Tj ET",
        "BT /F1 12 Tf 1 2 Tm (short matrix) Tj ET",
        "BT /F1 0 Tf 72 700 Td (zero size) Tj ET",
        "BT /F1 12 Tf 0 0 0 0 72 700 Tm (singular matrix) Tj ET",
        "BT /F1 1e30 Tf 1e30 0 0 1e30 1e30 5 Tm (huge) Tj ET",
        "Q Q q q BT /F1 12 Tf 72 700 Td (unbalanced) Tj",
        "BT /F1 12 Tf 72 700 Td (a) Tj ] ] >> ET ET (x) Tj 5 Tf [(a) /N 5 (b)] TJ ' \" T* TD TL",
        "q /X1 Do Q BT /F1 12 Tf 72 700 Td (page text) Tj ET",
        " ".join(
            f"BT /F1 8 Tf {72 + i % 50 * 10} {700 - i // 50 * 10} Td (x) Tj ET" for i in range(3000)
        ),
    ],
)
def test_odd_content_never_raises(content):
    reader = make_pdf([content], form="BT /F1 12 Tf 72 650 Td (in a form) Tj ET /X1 Do")
    pages = lay_out_pages(reader)
    assert len(pages) == 1 and pages[0].number == 1
    assert not CONTROL.search(pages[0].text)


def test_empty_page_gives_empty_text():
    assert lay_out_pages(make_pdf(["", "q Q"])) == [Page(1, "", []), Page(2, "", [])]


def test_control_characters_removed():
    content = "BT /F1 12 Tf 72 700 Td (a\\000b\\007c\\tq) Tj ET"
    assert lay_out_pages(make_pdf([content]))[0].text == "abc q"


def test_text_in_form_xobjects_is_placed_by_position():
    reader = make_pdf(
        ["BT /F1 12 Tf 72 600 Td (below the form) Tj ET q /X1 Do Q"],
        form="BT /F1 12 Tf 72 700 Td (inside the form) Tj ET /X1 Do",  # and a cycle
    )
    assert lay_out_pages(reader)[0].text == "inside the form\n\nbelow the form"


def test_font_missing_from_resources_falls_back_to_plain_text():
    reader = make_pdf(["BT 72 700 Td (no font selected) Tj ET"])
    assert lay_out_pages(reader)[0].text == "no font selected"


def test_rotated_text_reads_in_order():
    # drawn turned 90 degrees (as on a landscape page set with /Rotate)
    content = (
        "q 0 1 -1 0 500 100 cm BT /F1 12 Tf 0 0 Td (First line of the table) Tj "
        "0 -14 Td (Second line of the table) Tj ET Q"
    )
    for rotate in (None, 90):
        text = lay_out_pages(make_pdf([content], rotate=rotate))[0].text
        assert text == "First line of the table\nSecond line of the table"


def test_watermark_and_margin_text_do_not_break_lines():
    content = text_ops(column(72, 700, LEFT)) + (
        "\nBT /F1 40 Tf 0.7 0.7 -0.7 0.7 150 300 Tm (DRAFT) Tj ET"
        "\nBT /F1 6 Tf 0 1 -1 0 20 300 Tm (printed 2021-03-04) Tj ET"
    )
    text = lay_out_pages(make_pdf([content]))[0].text
    assert text.startswith("\n".join(LEFT) + "\n\n")
    assert "DRAFT" in text and "printed 2021-03-04" in text


def test_accepts_reader_with_pages_of_different_sizes():
    reader = make_pdf([text_ops([(30, 150, "Small page text.")])], size=(200, 200))
    assert lay_out_pages(reader)[0].text == "Small page text."


def test_pypdf_version_is_supported():
    assert int(pypdf.__version__.split(".")[0]) >= 6


# --------------------------------------------------------------------------------------
# Glyphs: ligatures, letter case, compatibility characters
# --------------------------------------------------------------------------------------
# Words the CDC MMWR files gave before glyph names were read: their /ToUnicode maps keep
# only the last letter of a ligature ("fi" -> "i", "Th" -> "h") and lower-case some capitals.
DROPPED_LIGATURES = re.compile(
    r"\b(?:dei(?:ned?|nition)|signiican\w*|classii\w*|conidence|diferen\w*|speciic\w*|speciied|irst|"
    r"afect\w*|deiciencies|certiicates?|indings|Paciic|relect|ifth|insuicient|beneits|eforts)\b"
    r"|(?:^|[.!?]\s+)(?:he|hey|his|hese|hird)\s|\btABLE\b"
)


@pytest.mark.parametrize("path", [MMWR_HOUSING, MMWR_STROKE], ids=["housing", "stroke"])
def test_mmwr_ligatures_and_capitals_are_read_from_glyph_names(path):
    text = "\n".join(p.text for p in lay_out(path))
    found = sorted({m.group(0).strip() for m in DROPPED_LIGATURES.finditer(text)})
    assert found == []
    assert not re.search("[\ufb00-\ufb06]", text)


def test_mmwr_quotes_read_as_printed():
    housing = [p.text for p in lay_out_pages(PdfReader(MMWR_HOUSING))]
    assert "The definition of inadequate housing is related to the basic" in housing[0]
    assert "The proportion of housing units classified as inadequate in the" in housing[0]
    assert "the difference was considered\nstatistically significant." in housing[0]
    assert "Asians/Pacific Islanders (1.1) when compared with non-Hispanic" in housing[0]
    stroke = [p.text for p in lay_out_pages(PdfReader(MMWR_STROKE))]
    assert "Heart disease and stroke are the first and third leading causes of" in stroke[0]
    # "Th" and "fi" drawn from a CID font, which has no glyph names: repaired by width
    assert "The rate for males was 41.6% higher than for females" in flat(stroke[0])
    assert stroke[1].startswith("TABLE 1. Number of deaths and age-adjusted death rates* for coronary heart")


def test_census_ligature_characters_are_expanded():
    pages = lay_out_pages(PdfReader(CENSUS))
    for page in pages:
        assert not re.search("[\ufb00-\ufb06]", page.text), page.number
    assert "<factfinder2.census.gov/bkmk/table/1.0/en" in pages[0].text
    assert "may differ from actual" in pages[0].text


def test_broken_unicode_map_is_corrected_by_glyph_names():
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): DictionaryObject({
            NameObject("/BaseEncoding"): NameObject("/WinAnsiEncoding"),
            NameObject("/Differences"): ArrayObject(
                [NumberObject(28), NameObject("/fi"), NameObject("/T_h"), NameObject("/f_f_l"),
                 NameObject("/uni00E9")]),
        }),
        # what the MMWR producer wrote: last letters only, "T" as "t", nothing for code 31
        NameObject("/ToUnicode"): to_unicode({28: "i", 29: "h", 30: "l", 0x54: "t"}),
    })
    content = "BT /F1 12 Tf 72 700 Td (\\035e de\\034nition of TABLE 2 for the ba\\036e caf\\037) Tj ET"
    text = lay_out_pages(make_pdf_with_font(content, font))[0].text
    assert text == "The definition of TABLE 2 for the baffle café"


def test_a_unicode_map_that_disagrees_otherwise_is_kept():
    """A symbol font names its glyphs privately: /ToUnicode is the better source there."""
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): DictionaryObject({
            NameObject("/Differences"): ArrayObject([NumberObject(28), NameObject("/registerserif"),
                                                     NameObject("/a")]),
        }),
        NameObject("/ToUnicode"): to_unicode({28: "\u00ae", 29: "\u03b1"}),
    })
    text = lay_out_pages(make_pdf_with_font("BT /F1 12 Tf 72 700 Td (x\\034 \\035) Tj ET", font))[0].text
    assert text == "x\u00ae \u03b1"


def test_cells_set_apart_by_character_spacing_are_not_glued():
    """The FBI table shows neighbouring cells in one string spread by a wide Tc."""
    fbi = lay_out_pages(PdfReader(GOV / "fbi_nics_background_checks_2015-11.pdf"))[0].text
    assert ("\nFlorida\t15,907\t50,796\t28,981\t2,268\t1,957\t121\t8\t9\t0\t2,248\t1,135\t2\t40\t5\t0\t36\t19"
            "\t0\t0\t0\t0\t103,532\n") in fbi


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------
def test_mmwr_table_rows_are_lines_of_tab_separated_cells():
    page = lay_out_pages(PdfReader(MMWR_STROKE))[1]
    row = "Total\t425,425\t135.0\t(134.6–135.4)\t137,119\t43.6\t(43.3–43.8)"
    assert f"\n{row}\n" in page.text
    start, end, header_end = next(t for t in page.tables if row in page.text[t[0]:t[1]])
    assert page.text[start:header_end].endswith("Characteristic\tNo.\tRate\t(95% CI)\tNo.\tRate\t(95% CI)\n")
    assert page.text[header_end:].startswith("Sex\nFemale\t200,915\t103.1\t(102.7–103.6)\t82,595\t")
    assert "\n\n" not in page.text[start:end]  # one block: the splitter sees it whole


def test_table_spans_are_well_formed():
    for path in [MMWR_STROKE, MMWR_HOUSING, CENSUS, GOV / "fbi_nics_background_checks_2015-11.pdf"]:
        pages = lay_out_pages(PdfReader(path))
        assert any(page.tables for page in pages), path.name
        for page in pages:
            for start, end, header_end in page.tables:
                assert 0 <= start <= header_end <= end <= len(page.text)
                assert start == 0 or page.text[start - 2:start] == "\n\n"
                assert "\t" in page.text[start:end]
                assert header_end in (start, end) or page.text[header_end - 1] == "\n"


def test_census_table_leader_dots_are_dropped():
    page = lay_out_pages(PdfReader(CENSUS))[0]
    assert "\nWith a disability\t54,425\t894\t18.7\t0.3\t56,672\t905\t18.7\t0.3\t*2,247\t–\n" in page.text


# --------------------------------------------------------------------------------------
# Footnotes
# --------------------------------------------------------------------------------------
def footnotes(page: Page) -> list[str]:
    return [page.text[a:b] for a, b in page.footnotes]


def test_federal_register_footnote_13_is_its_own_block_after_the_text(federal_register):
    page = federal_register[2]
    notes = footnotes(page)
    assert notes[3] == "13 More than 10 degrees difference for more than\n10 seconds."
    assert [note.split()[0] for note in notes] == ["10", "11", "12", "13", "14", "15"]
    body_end = page.footnotes[0][0]
    assert "13 More than" not in page.text[:body_end]
    # the sentence that refers to it reads on, its marker gone
    assert "sensors greater than a certain\nthreshold would cause an AOA\nDISAGREE alert" in page.text[:body_end]
    # footnote 12 runs over into the next column: one footnote, not a stray block in the text
    assert notes[2].startswith("12 The magnitude of the command varies")
    assert "airplane’s\naltitude and airspeed, and would be limited such" in notes[2]
    assert "altitude and airspeed" not in page.text[:body_end]
    for start, end in page.footnotes:
        assert page.text[start - 2:start] == "\n\n" and (end == len(page.text) or page.text[end:end + 2] == "\n\n")


def test_a_footnote_is_read_with_the_sentence_that_cites_it(federal_register):
    """"13 More than 10 degrees difference for more than 10 seconds." means nothing alone: the
    layout keeps the place of the marker it dropped, and the footnote's passage is read with
    the sentence that cites it."""
    from ingest.split import split_pages

    page = federal_register[2]
    at = next(at for at, mark in page.footnote_refs if mark == "13")
    assert flat(page.text[:at]).endswith("greater than a certain threshold")
    passages = split_pages(federal_register)
    note = next(p for p in passages if p.text.startswith("13 More than"))
    assert note.text == "13 More than 10 degrees difference for more than 10 seconds." and note.footnote
    assert "differences between the two AOA sensors greater than a certain threshold would cause an AOA " \
           "DISAGREE alert" in note.context
    campus = split_pages(lay_out(GOV / "campus_attacks_2010_report_excerpt.pdf"))
    start_year = next(p for p in campus if p.text.startswith("23 Due to the limited availability"))
    assert "The incident occurred between January 1, 1900 and December 31, 2008" in start_year.context


def test_dropped_markers_keep_their_place():
    mark = lambda m: f"{pdf_layout._MARK_OPEN}{m}{pdf_layout._MARK_CLOSE}"  # noqa: E731
    for raw, text, before in [(f"a certain threshold{mark('13')} would cause", "a certain threshold would cause",
                               "a certain threshold"),
                              (f"in 2007,{mark('4')}3.6 million", "in 2007, 3.6 million", "in 2007,"),
                              (f"the alert.{mark('*')}  The next", "the alert. The next", "the alert."),
                              (f"word {mark('9')} next", "word next", "word")]:
        got, lead, refs = pdf_layout._resolve_marks(raw, {"13", "4", "*", "9"})
        assert (got, lead) == (text, None) and [got[:at] for at, _ in refs] == [before]
    # the footnote's own marker opens it; an exponent after a digit stays
    assert pdf_layout._resolve_marks(f"{mark('1')} Pub. L. 10{mark('5')}", {"1"}) == ("1 Pub. L. 105", "1", ())


def test_census_footnotes_leave_the_sentences_whole():
    page = lay_out_pages(PdfReader(CENSUS))[0]
    body = page.text[: page.footnotes[0][0]]
    assert "a disability in 2010. About 38.3\nmillion people (12.6 percent)\n\nhad a severe disability (Table 1)." in body
    assert "S2601A" not in body and "The estimates in this report" not in body
    assert [note.split()[0] for note in footnotes(page)] == ["8", "9", "10", "1", "2"]


def test_dmca_footnote_markers_and_notes():
    pages = lay_out_pages(PdfReader(DMCA))
    assert footnotes(pages[0]) == ["1 Pub. L. No. 105-304, 112 Stat. 2860 (Oct. 28, 1998)."]
    assert footnotes(pages[3])[0].startswith("2 “Copying” is used in this context as a short-hand")


# --------------------------------------------------------------------------------------
# Running headers and headings
# --------------------------------------------------------------------------------------
def test_dmca_running_footer_date_is_not_a_heading_and_the_title_stays():
    layout = pdf_layout.lay_out(PdfReader(DMCA))
    headings = [h for page in layout.pages for _, h in page.headings]
    assert not any("December 1998" in h for h in headings)
    assert layout.pages[0].text.startswith("THE DIGITAL MILLENNIUM COPYRIGHT ACT OF 1998")
    assert "December 1998" in layout.pages[0].text  # still text, just not a section name
    assert "Copyright Office Summary" in layout.running and "The Digital Millennium Copyright Act of 1998" in layout.running


# --------------------------------------------------------------------------------------
# Printed page numbers
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, labels",
    [
        ("cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf", ["21", "22", "23", "24", "25", "26"]),
        ("census_disability_2010_report_excerpt.pdf", ["4", "5", "6"]),
        ("epa_mercury_ecorisk_excerpt.pdf", ["ES-2", "ES-3", "ES-4"]),
        ("federal_register_2020-17221.pdf", [str(n) for n in range(47698, 47713)]),
        ("faa_amt_general_handbook_sample.pdf", ["7-45"]),  # one page: the number alone in its footer
        ("fbi_nics_background_checks_2015-11.pdf", ["1"]),  # "Page 1 of 205"
    ],
)
def test_printed_page_numbers_become_labels(name, labels):
    pages = lay_out_pages(PdfReader(GOV / name))
    assert [p.label for p in pages] == labels
    assert [p.number for p in pages] == list(range(1, len(labels) + 1))


def test_irs_labels_come_from_the_pdf_page_labels(irs):
    pages, _ = irs
    assert [p.label for p in pages[:3]] == ["1", "2", "3"]


def test_pdf_page_labels_win_over_printed_numbers():
    writer = PdfWriter()
    for n in range(3):
        writer.add_blank_page(612, 792)
    writer.set_page_label(0, 1, style="/r")
    writer.set_page_label(2, 2, style="/D", start=1)
    buffer = io.BytesIO()
    writer.write(buffer)
    buffer.seek(0)
    assert [p.label for p in lay_out_pages(PdfReader(buffer))] == ["i", "ii", "1"]


def test_printed_numbers_need_a_page_that_agrees():
    assert printed_labels([["21"], ["22"], ["MMWR / January 14, 2011 / Vol. 60", "23"]]) == ["21", "22", "23"]
    assert printed_labels([["Vol. 60", "2011"], ["Vol. 60", "2011"]]) == [None, None]
    assert printed_labels([["iii"], ["iv"], ["1"], ["2"]]) == ["iii", "iv", "1", "2"]
    # a blank page between: the number two pages on agrees
    assert printed_labels([["12"], [], ["14"], ["15"]]) == ["12", None, "14", "15"]
    # numbers that agree with no other page are not page numbers
    assert printed_labels([["3"], [], [], ["40"]]) == [None, None, None, None]
    assert printed_labels([["12", "Vol. 7"], [], ["Vol. 7"]]) == [None, None, None]


def test_a_one_page_excerpt_keeps_its_printed_number():
    assert printed_labels([["7-45"]]) == ["7-45"]
    assert printed_labels([["Page 3 of 9"]]) == ["3"]
    assert printed_labels([["xii"]]) == ["xii"]
    # a year, or a number inside a line, is not taken on the page's word alone
    assert printed_labels([["2015"]]) == [None]
    assert printed_labels([["Revised 2019 edition 12"]]) == [None]
    # a frame number that counts pages too loses to the page number standing alone
    assert printed_labels([["47698", "Frm 00001"], ["47699", "Frm 00002"]]) == ["47698", "47699"]


def test_generated_page_numbers_in_footers():
    contents = [text_ops(column(72, 700, LEFT) + [(300, 40, f"Page {n}")]) for n in (11, 12, 13)]
    pages = lay_out_pages(make_pdf(contents))
    assert [p.label for p in pages] == ["11", "12", "13"]
    assert all(p.text == "\n".join(LEFT) for p in pages)


def test_a_sentence_across_a_federal_register_page_break_is_one_passage(federal_register):
    """"… from Soekarno-" ends p. 47698 and "Hatta International Airport … 189 fatalities." opens
    the body of p. 47699: one passage, cited on both pages, and the next one starts after it."""
    from ingest.split import split_pages
    from kb.citations import cited_page

    passages = split_pages(federal_register)
    broken = next(p for p in passages if "Soekarno-" in p.text)
    assert "Soekarno-Hatta International Airport in Jakarta, Indonesia, resulting in 189 fatalities." in broken.text
    assert cited_page(broken) == "47698–47699"
    following = passages[passages.index(broken) + 1:]
    assert not any(p.text.startswith("Hatta International") for p in following)
    footnote = next(p for p in passages if p.text.startswith("9 An AOA disagree alert"))
    assert footnote.footnote and not broken.footnote


def test_a_sentence_continued_below_a_table_on_the_next_page_is_one_passage():
    """The MMWR sets tables at the top of p. 63 and p. 64; the sentences broken at the foot of
    pp. 62 and 63 go on below them, not into the table or its notes."""
    from ingest.split import split_pages
    from kb.citations import cited_page

    passages = split_pages(lay_out(MMWR_STROKE))
    utah = next(p for p in passages if "193.5 per 100,000 (District of" in p.text)
    assert utah.text.endswith("(District of Columbia), with a median of 126.1 per 100,000 (North Carolina).")
    assert cited_page(utah) == "62–63"
    such = next(p for p in passages if "contributing causes of death such" in p.text)
    assert "causes of death such as diabetes, which varies substantially across racial/ethnic groups." in such.text
    assert not any(p.text.startswith(("Columbia), with", "as diabetes")) for p in passages)


def test_a_sentence_continued_past_full_page_tables_is_one_passage():
    """The housing MMWR's sentence "… Although the" ends PDF p. 1; pp. 2–3 are full-page tables
    and "odds of a Hispanic female …" opens p. 4: one passage, cited on pp. 21–24."""
    from ingest.split import split_pages
    from kb.citations import cited_page

    passages = split_pages(lay_out(MMWR_HOUSING))
    odds = next(p for p in passages if "Although the odds of a Hispanic female living" in p.text)
    assert odds.text.endswith("the odds were still elevated (OR = 1.9 and 1.8, respectively) (Table 1).")
    assert (odds.page, odds.end_page, cited_page(odds)) == (1, 4, "21–24")
    assert not any(p.text.startswith("odds of a Hispanic") for p in passages)
    assert all(p.page in (2, 3) for p in passages if "Inadequate housing units" in p.text)  # the tables stay put


def test_a_table_or_title_set_inside_a_sentence_goes_after_its_paragraph():
    """Campus report p. 2: Table 1 sits between "… employed at degree-granting" and
    "institutions."; IRS p. 18: a worksheet title between "… effectively" and "connected with".
    Each sentence reads whole, and the table and title are still there, after it."""
    from ingest.split import split_pages

    campus = lay_out(GOV / "campus_attacks_2010_report_excerpt.pdf")
    text = campus[1].text
    assert "employed at degree-granting\n\ninstitutions. This number includes" in text
    assert text.index("institutions. This number") < text.index("Table 1: Student Enrollment") < \
        text.index("Total\t17,758,000\t100")  # read as a table, cells apart
    passages = split_pages(campus)
    assert any("3.6 million people were employed at degree-granting institutions." in p.text for p in passages)
    irs = lay_out(IRS)
    page = irs[17]
    assert "income that is effectively\n\nconnected with a U.S. trade or\nbusiness." in page.text
    title = page.text.index("Deduction for Exemptions Worksheet—Line 39")
    assert (title, "Deduction for Exemptions Worksheet—Line 39") in page.headings
    assert any("income that is effectively connected with a U.S. trade or business." in p.text
               for p in split_pages(irs))


def test_a_footnote_numbered_35_dot_is_not_spliced_into_a_sentence_over_the_page():
    """Issue 26: "… between member 35. These include … states still remain". A note opened by a
    plain "35." (not raised), under a page that cites 35 with a raised marker, is a footnote: the
    sentence broken at the foot of the page goes on with the next page, and the note is apart."""
    from ingest.split import split_pages

    def lines(texts: list[str], y: float, size: float, pitch: float) -> str:
        return "".join(f"BT /F1 {size} Tf 72 {y - pitch * i} Td ({t}) Tj ET\n" for i, t in enumerate(texts))

    first = lines(["Cross-border cooperation in child protection has grown over the last decade, and most",
                   "countries now share case files when a family moves abroad. Agreements on data exchange",
                   "were signed by twenty countries.) Tj /F1 7 Tf 4 Ts (35) Tj /F1 11 Tf 0 Ts "
                   "( However, the procedures between member"], 700, 11, 14)
    first += lines(["35. These include the exchange of data on cross-border cases and joint training.",
                    "See the annual report of the network for the full list of agreements."], 90, 8, 10)
    second = lines(["states still remain large, and a family that moves may wait months for a first visit.",
                    "The network therefore proposes common forms for referrals."], 700, 11, 14)
    pages = lay_out_pages(make_pdf([first, second]))
    assert pages[0].footnotes and pages[0].text[pages[0].footnotes[0][0]:].startswith("35. These include")
    passages = split_pages(pages)
    sentence = next(p for p in passages if "between member" in p.text)
    assert "the procedures between member states still remain large," in sentence.text
    assert "These include" not in sentence.text
    note = next(p for p in passages if "These include" in p.text)
    assert note.footnote


def test_dmca_bold_capital_title_headings_set_smaller_than_the_text_are_sections():
    """Issue 26: the DMCA memo sets "TITLE II: ONLINE COPYRIGHT INFRINGEMENT LIABILITY
    LIMITATION" in 11 pt bold capitals over 12 pt text. It is the section of the passage below
    it, not words run into its text under the heading before it."""
    from ingest.split import split_pages

    pages = lay_out(DMCA)
    assert (pages[7].text.index("TITLE II: ONLINE"), "TITLE II: ONLINE COPYRIGHT INFRINGEMENT LIABILITY LIMITATION") \
        in pages[7].headings
    assert pages[1].headings[0][1] == "TITLE I: WIPO TREATY IMPLEMENTATION"
    passages = split_pages(pages)
    title_two = next(p for p in passages if "Title II of the DMCA adds" in p.text)
    assert title_two.section == "TITLE II: ONLINE COPYRIGHT INFRINGEMENT LIABILITY LIMITATION"
    assert title_two.text.startswith("Title II of the DMCA adds a new section 512")
    assert not any("LIABILITY LIMITATION" in p.text for p in passages)
    title_three = next(p for p in passages if "Title III expands" in p.text)
    assert title_three.section == "TITLE III: COMPUTER MAINTENANCE OR REPAIR"


def test_a_figure_caption_set_like_a_heading_is_quotable_text():
    """Issue 26: the FDA guidance sets "Figure 4. Diagram of the Conceptual Framework of a PRO
    Instrument" large, like a heading, with the figure's labels below it: it was only a section
    label nobody saw. It is text of a passage now, so its words can be found and quoted."""
    from ingest.split import split_pages

    pages = lay_out(GOV / "fda_pro_guidance_excerpt.pdf")
    assert not any(h.startswith("Figure 4") for page in pages for _, h in page.headings)
    passages = split_pages(pages)
    assert any("Figure 4. Diagram of the Conceptual Framework of a PRO Instrument" in p.text for p in passages)
    # a table's caption set as a heading still names the table's passages
    nclb = split_pages(lay_out(GOV / "ed_nclb_implementation_report_excerpt.pdf"))
    assert any(p.table is not None and p.section == "Exhibit 9 Characteristics of Types of Assessments and "
               "Participating Students" for p in nclb)


def test_a_byline_in_bold_on_its_own_line_is_text_not_a_section():
    """Issue 26: "Topic Editor: Jane Doe, PhD" and "By Maria Lopez" in bold on lines of their own
    hold content; they are passage text (every word of a document quotable), while a real bold
    heading above them stays the section."""
    from ingest.split import split_pages

    def line(font: str, y: float, text: str) -> str:
        return f"BT /{font} 11 Tf 72 {y} Td ({text}) Tj ET\n"

    content = (line("F2", 720, "Reflective Supervision")
               + line("F2", 690, "Topic Editor: Jane Doe, PhD")
               + line("F2", 660, "By Maria Lopez")
               + line("F1", 630, "Reflective supervision is a framework for regular meetings between a")
               + line("F1", 616, "practitioner and a supervisor, in which the work with families is")
               + line("F1", 602, "discussed with attention to the feelings it raises."))
    pages = lay_out_pages(make_pdf([content]))
    assert [h for _, h in pages[0].headings] == ["Reflective Supervision"]
    passages = split_pages(pages)
    assert any("Topic Editor: Jane Doe, PhD" in p.text for p in passages)
    assert any("By Maria Lopez" in p.text for p in passages)
    assert all(p.section == "Reflective Supervision" for p in passages)


def test_a_topic_editor_line_in_a_text_copy_of_a_web_page_is_text():
    """Issue 26's real case (the ECTA topic page saved as text, ../shared/seeds): the line
    "Topic Editor: Andy Gomm" under the page title was read as a heading with no text under
    it, so it was in no passage at all. The shared rule (blocks.holds_content) that keeps PDF
    bylines in the text keeps it there too; the title stays the section."""
    from ingest import formats
    from ingest.split import split_pages

    seed = SHARED / "seeds" / "001_0dda6adf06f96cff.txt"
    extracted = formats.for_path(seed).extract(seed.read_bytes())
    assert "Topic Editor: Andy Gomm" not in [h for _, h in extracted.pages[0].headings]
    holder = next(p for p in split_pages(extracted.pages) if "Topic Editor: Andy Gomm" in p.text)
    assert holder.section == "Infant and Early Childhood Mental Health (IECMH)"
