"""Word documents: real .docx files written with python-docx (footnotes, endnotes, tracked
changes and a table of contents added as raw WordprocessingML), read by the real reader and
ingested end to end."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from ingest.formats import extract
from kb.backends.local import LocalBackend
from kb.errors import ExtractionError

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _part(document, partname: str, content_type: str, reltype: str, xml: str) -> None:
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    part = Part(PackURI(partname), content_type, xml.encode("utf-8"), document.part.package)
    document.part.relate_to(part, reltype)


def add_notes(document, kind: str, notes: dict[int, str]) -> None:
    """A footnotes.xml or endnotes.xml part (python-docx writes neither)."""
    from docx.opc.constants import CONTENT_TYPE as CT
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    tag = kind[:-1]  # footnote / endnote
    separators = "".join(f'<w:{tag} w:type="{t}" w:id="{i}"><w:p><w:r><w:separator/></w:r></w:p></w:{tag}>'
                         for i, t in ((-1, "separator"), (0, "continuationSeparator")))
    bodies = "".join(f'<w:{tag} w:id="{i}"><w:p><w:r><w:{tag}Ref/></w:r><w:r><w:t xml:space="preserve"> {text}'
                     f'</w:t></w:r></w:p></w:{tag}>' for i, text in notes.items())
    xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:{kind} {W_NS}>{separators}{bodies}</w:{kind}>'
    content_type = CT.WML_FOOTNOTES if kind == "footnotes" else CT.WML_ENDNOTES
    _part(document, f"/word/{kind}.xml", content_type, RT.FOOTNOTES if kind == "footnotes" else RT.ENDNOTES, xml)


def cite_note(paragraph, kind: str, note_id: int) -> None:
    from docx.oxml import parse_xml

    run = paragraph.add_run()
    run._r.append(parse_xml(f'<w:{kind}Reference {W_NS} w:id="{note_id}"/>'))


def raw(paragraph, xml: str) -> None:
    """Append raw WordprocessingML (runs, tracked changes) to a paragraph."""
    from docx.oxml import parse_xml

    for element in list(parse_xml(f"<w:wrap {W_NS}>{xml}</w:wrap>")):
        paragraph._p.append(element)


def set_company(document, company: str) -> None:
    for part in document.part.package.iter_parts():
        if str(part.partname) == "/docProps/app.xml":
            part._blob = part.blob.replace(b"<Company/>", f"<Company>{company}</Company>".encode())


def guidebook(path: Path | None = None, page_breaks: bool = False) -> bytes:
    """A state guidebook as Word writes it: title, headings, a list, a table, footnotes."""
    import docx

    d = docx.Document()
    d.core_properties.title = "Early Childhood Mental Health Guidebook"
    d.core_properties.author = "Jane Roe"
    d.core_properties.created = dt.datetime(2019, 5, 1, 9, 0)
    set_company(d, "Massachusetts Department of Mental Health")
    d.add_heading("Early Childhood Mental Health Guidebook", 0)
    d.add_heading("Screening", 1)
    p = d.add_paragraph("Programs screen every infant for social-emotional concerns at enrollment.")
    cite_note(p, "footnote", 1)
    d.add_paragraph("Screening tools approved for use include:")
    for tool in ("Ages and Stages Questionnaire: Social-Emotional", "Brief Infant Toddler Social Emotional Assessment"):
        d.add_paragraph(tool, style="List Bullet")
    if page_breaks:
        d.add_page_break()
    d.add_heading("Consultation Services", 1)
    d.add_heading("Who Provides Consultation", 2)
    p = d.add_paragraph("Consultants hold an infant mental health endorsement")
    raw(p, '<w:del w:id="9" w:author="x"><w:r><w:delText> and a nursing license</w:delText></w:r></w:del>'
           '<w:ins w:id="10" w:author="x"><w:r><w:t xml:space="preserve"> and meet monthly</w:t></w:r></w:ins>'
           '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
           '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>.</w:t></w:r>'
           '<w:r><w:fldChar w:fldCharType="end"/></w:r>')
    cite_note(p, "footnote", 2)
    cite_note(p, "endnote", 1)
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("Region", "Consultants", "Programs served"), ("Western", "4", "38"),
                             ("Metro Boston", "11", "120")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    add_notes(d, "footnotes", {1: "Screening follows the state's periodicity schedule.",
                               2: "Endorsement requirements are set by the state association."})
    add_notes(d, "endnotes", {1: "Figures for fiscal year 2019."})
    buffer = io.BytesIO()
    d.save(buffer)
    if path is not None:
        path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_headings_lists_tables_and_footnotes():
    result = extract("guide.docx", guidebook())
    assert result.kind == "docx" and result.page_count is None
    (page,) = result.pages
    assert page.number is None
    assert [h for _, h in page.headings] == ["Early Childhood Mental Health Guidebook", "Screening",
                                             "Consultation Services", "Who Provides Consultation"]
    text = page.text
    # list items one a line after their lead-in
    assert ("Screening tools approved for use include:\n\nAges and Stages Questionnaire: Social-Emotional\n"
            "Brief Infant Toddler Social Emotional Assessment") in text
    # tracked changes as accepted, field codes out, the field's result in
    assert "Consultants hold an infant mental health endorsement and meet monthly." in text
    assert "nursing license" not in text and "PAGE" not in text
    # the table row by row, its first row the header
    (start, end, header_end) = page.tables[0]
    assert text[start:end] == "Region\tConsultants\tPrograms served\nWestern\t4\t38\nMetro Boston\t11\t120"
    assert text[start:header_end] == "Region\tConsultants\tPrograms served"
    # footnotes numbered in citation order, endnotes in roman numerals, each its own block at the end
    notes = [text[a:b] for a, b in page.footnotes]
    assert notes == ["1 Screening follows the state's periodicity schedule.",
                     "2 Endorsement requirements are set by the state association.", "i Figures for fiscal year 2019."]
    assert page.footnotes[0][0] > end


def test_a_footnote_is_read_with_the_sentence_that_cites_it():
    """Word says where each footnote is cited: its passage carries that sentence as context,
    and the reference leaves no mark in the text."""
    from ingest.split import split_pages

    (page,) = extract("guide.docx", guidebook()).pages
    assert [(page.text[at - 11:at], mark) for at, mark in page.footnote_refs] == \
        [("enrollment.", "1"), ("et monthly.", "2")]
    assert "\ue002" not in page.text and "\ue003" not in page.text
    notes = {p.text: p.context for p in split_pages([page]) if p.footnote}
    assert notes["1 Screening follows the state's periodicity schedule."] == \
        "Programs screen every infant for social-emotional concerns at enrollment."
    assert notes["2 Endorsement requirements are set by the state association."] == \
        "Consultants hold an infant mental health endorsement and meet monthly."
    assert notes["i Figures for fiscal year 2019."] is None  # an endnote: at the end, read alone


def test_a_block_that_only_cites_a_note_leaves_no_empty_block():
    from ingest.formats.blocks import PageBuilder, reference

    builder = PageBuilder()
    builder.paragraph("Rates fell. Visits rose by a third.")
    builder.paragraph(f" {reference('1')} ")
    builder.footnote("1 Program data, 2019.")
    page = builder.page()
    assert page.text == "Rates fell. Visits rose by a third.\n\n1 Program data, 2019."
    assert page.footnote_refs == [(len("Rates fell. Visits rose by a third."), "1")]
    from ingest.split import split_pages

    assert [p.context for p in split_pages([page]) if p.footnote] == ["Visits rose by a third."]


def test_core_properties_are_the_metadata_fallbacks():
    result = extract("guide.docx", guidebook())
    assert result.title == "Early Childhood Mental Health Guidebook"
    assert result.publisher == "Massachusetts Department of Mental Health"  # the company before the author
    assert result.year == 2019


def test_placeholder_properties_are_not_metadata():
    import docx

    d = docx.Document()  # python-docx's template: author "python-docx", created 2013
    d.add_heading("Home Visiting Standards", 1)
    d.add_paragraph("Home visitors complete training in infant mental health within six months of hire.")
    buffer = io.BytesIO()
    d.save(buffer)
    result = extract("standards.docx", buffer.getvalue())
    assert result.title == "Home Visiting Standards" and result.publisher is None and result.year is None


def _agency_file(author: str, company: str = "", cover: tuple[str, ...] = (), core_title: str = "",
                 created: dt.datetime = dt.datetime(2022, 1, 10, 9, 0), footer: str = "", title: str = "") -> bytes:
    """A file as an agency's staff save it: their own name in the author field."""
    import docx

    d = docx.Document()
    if title:
        d.add_heading(title, 0)  # the Title style
    for line in cover:
        d.add_paragraph(line)
    if cover or title:
        d.add_page_break()
    d.add_heading("Consultation Requirements", 1)
    d.add_paragraph("Consultants visit each classroom weekly. The policy was revised in 2015 after a statewide review.")
    if footer:
        d.sections[0].footer.paragraphs[0].text = footer
    d.core_properties.author = author
    d.core_properties.last_modified_by = author
    d.core_properties.title = core_title
    d.core_properties.created = created
    if company:
        set_company(d, company)
    buffer = io.BytesIO()
    d.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("author", ["Whitfield,Dana", "Whitfield, Dana", "Dana Whitfield", "dwhitfield"])
def test_the_author_field_is_never_the_publisher(author):
    assert extract("a.docx", _agency_file(author)).publisher is None  # nothing else names an agency
    assert extract("b.docx", _agency_file(author, company="Oregon Health Authority")).publisher == \
        "Oregon Health Authority"
    # a person's name or an installation's default in the Company field is no publisher either
    assert extract("c.docx", _agency_file(author, company="Dana Whitfield")).publisher is None
    assert extract("d.docx", _agency_file(author, company="Microsoft")).publisher is None


def test_the_cover_page_names_the_agency_and_prints_the_year():
    cover = ("Prepared by: Dana Whitfield, Program Manager", "State of Vermont", "Department for Children and Families",
             "Revised March 2019")
    result = extract("policy.docx", _agency_file("Whitfield,Dana", cover=cover, title="Infant Mental Health Policy",
                                                 core_title="Microsoft Word - IMH_policy_v2.docx"))
    assert result.publisher == "Department for Children and Families"  # the department before the state
    assert result.title == "Infant Mental Health Policy"  # the Title style, not the file name in the properties
    assert result.year == 2019  # printed, not the file's created year (2022) or a year in a sentence (2015)
    # the Company property, when the file has one, comes before the cover
    with_company = extract("p.docx", _agency_file("Whitfield,Dana", company="Vermont Agency of Human Services",
                                                  cover=cover))
    assert with_company.publisher == "Vermont Agency of Human Services"
    # a cover line that is only a date; a "State of ..." line when no department is named
    dated = extract("d.docx", _agency_file("Whitfield,Dana", cover=("State of Vermont", "June 2017")))
    assert (dated.publisher, dated.year, dated.title) == ("State of Vermont", 2017, "Consultation Requirements")


def test_a_labelled_date_in_the_footer_comes_before_the_files_own_date():
    result = extract("f.docx", _agency_file("Whitfield,Dana", footer="Effective date: October 1, 2020"))
    assert result.year == 2020
    assert extract("g.docx", _agency_file("Whitfield,Dana")).year == 2022  # nothing printed: created, as before


def test_a_good_core_title_is_kept_and_a_placeholder_is_not():
    assert extract("a.docx", _agency_file("x", core_title="Home Visiting Standards")).title == "Home Visiting Standards"
    for placeholder in ("Document1", "Microsoft Word - standards.docx", "hv_standards_FINAL"):
        assert extract("b.docx", _agency_file("x", core_title=placeholder)).title == "Consultation Requirements"


def test_page_numbers_only_with_explicit_page_breaks():
    result = extract("guide.docx", guidebook(page_breaks=True))
    assert [p.number for p in result.pages] == [1, 2] and result.page_count == 2
    first, second = result.pages
    assert "Programs screen every infant" in first.text and "Consultants hold" in second.text
    # a footnote sits at the end of the page that cites it
    assert [first.text[a:b][:2] for a, b in first.footnotes] == ["1 "]
    assert [second.text[a:b][:2] for a, b in second.footnotes] == ["2 ", "i "]


def test_table_of_contents_is_left_out():
    import docx
    from docx.oxml import parse_xml

    d = docx.Document()
    d.add_heading("Contents", 1)
    toc = parse_xml(f'<w:sdt {W_NS}><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/>'
                    '</w:docPartObj></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Screening ........ 4</w:t></w:r></w:p>'
                    '</w:sdtContent></w:sdt>')
    d.element.body.insert(1, toc)
    d.add_heading("Screening", 1)
    d.add_paragraph("Every program screens infants at enrollment and again at twelve months.")
    buffer = io.BytesIO()
    d.save(buffer)
    text = extract("toc.docx", buffer.getvalue()).pages[0].text
    assert "........" not in text and "Every program screens infants" in text


def test_broken_and_misnamed_files_get_one_line_reasons():
    with pytest.raises(ExtractionError, match="not a Word document"):
        extract("notes.docx", b"just some text that was renamed to .docx\n")
    data = guidebook()
    with pytest.raises(ExtractionError, match="corrupt or unreadable Word document|not a Word document"):
        extract("cut.docx", data[: len(data) // 2])


def test_word_documents_are_ingested_and_uploaded(tmp_path, run_ingest, kb_dir, searcher):
    from ingest.uploads import ALLOWED_SUFFIXES, save_uploads

    assert ".docx" in ALLOWED_SUFFIXES
    corpus = tmp_path / "corpus"
    saved = save_uploads(corpus, [("Guidebook.docx", guidebook())], limit_mb=5)
    assert [s.path.name for s in saved.saved] == ["Guidebook.docx"] and not saved.rejected
    report = run_ingest(corpus)
    assert report.added == ["Guidebook.docx"] and report.failed == []
    (doc,) = LocalBackend(kb_dir).documents()
    assert doc.kind == "docx" and doc.pages is None and doc.year == 2019
    hit = searcher.ask("Who sets the endorsement requirements for consultants?", k=3).hits
    sections = {h.passage.section for h in hit}
    # "Consultation Services" has nothing under it before its subheading: it heads that section too
    assert "Consultation Services \u203a Who Provides Consultation" in sections
    assert all(h.passage.page is None for h in hit)


def test_a_memo_block_in_a_table_and_a_letterhead_in_the_page_header():
    import docx

    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "Colorado Office of Early Childhood"
    memo = d.add_table(rows=3, cols=2)
    for r, (label, value) in enumerate([("TO:", "Early Intervention providers"), ("FROM:", "Dana Whitfield, Director"),
                                        ("DATE:", "April 3, 2023")]):
        memo.cell(r, 0).text, memo.cell(r, 1).text = label, value
    d.add_heading("Caseload Standards", 1)
    d.add_paragraph("Service coordinators carry no more than 45 families at a time.")
    d.core_properties.author = "Whitfield, Dana"
    d.core_properties.created = dt.datetime(2024, 1, 9, 8, 0)
    buffer = io.BytesIO()
    d.save(buffer)
    result = extract("memo.docx", buffer.getvalue())
    assert (result.title, result.publisher, result.year) == ("Caseload Standards", "Colorado Office of Early Childhood",
                                                             2023)
