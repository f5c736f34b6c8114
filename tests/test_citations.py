"""Citations in the style the user picks: the house style, and the official APA 7th and
Chicago author-date CSL styles rendered by citeproc-py, as plain text and HTML."""
from __future__ import annotations

import re
import threading

import pytest
from citation_docs import ANSWER, BARE, DMH, HRSA, document, hit

from kb.citations import csl_render
from kb.citations import (STYLES, UnknownStyle, citation, csl_item, csl_type, format_bibliography, format_citation,
                          quote_citation)

ALLOWED_TAGS = re.compile(r"</?i>|<p( style=\"[^\"]*\")?>|</p>")


def test_styles_offered_are_the_house_style_and_the_official_csl_files():
    assert list(STYLES) == ["house", "apa", "chicago-author-date"]
    for style in ("apa", "chicago-author-date"):  # labels are the titles inside the shipped CSL files
        assert STYLES[style] == csl_render.style_name(style)


def test_house_citation_cites_the_printed_page_and_falls_back_to_the_pdf_page():
    labelled, unlabelled = hit(DMH, page=4, label="24", section="Financing"), hit(DMH, page=4)
    assert citation(DMH, labelled.passage) == ("Massachusetts Department of Mental Health (DMH), “Infant and Early "
                                               "Childhood Mental Health Consultation: A Policy Brief” (2019), p. 24, "
                                               "section “Financing”.")
    assert ", p. 4." in citation(DMH, unlabelled.passage)
    assert citation(BARE, hit(BARE).passage) == "“IECMH Resources” (n.d.)."


def test_house_citation_is_one_line_whatever_the_metadata_holds():
    doc = document(5, "A Title\nWith a Line Break", "Office of\r\nEarly Learning", 2021)
    assert citation(doc, hit(doc).passage) == "Office of Early Learning, “A Title With a Line Break” (2021)."


def test_quote_citation_quotes_the_highlighted_span():
    text = "Some context first. Consultation is funded through Medicaid. More text after."
    h = hit(DMH, text=text, page=4, label="24", highlights=[(20, 61)])
    assert quote_citation(h).startswith("“Consultation is funded through Medicaid.” (Massachusetts Department")
    assert quote_citation(h).endswith("p. 24).")


@pytest.mark.parametrize("style, expected", [
    ("house", ANSWER.hits[0].citation),
    ("apa", "(Massachusetts Department of Mental Health (DMH), 2019, p. 24)"),
    ("chicago-author-date", "(Massachusetts Department of Mental Health (DMH) 2019, 24)"),
])
def test_in_text_citation_with_the_printed_page_as_locator(style, expected):
    assert format_citation(ANSWER.hits[0], style).text == expected


def test_citation_of_a_roman_numbered_page_and_of_a_document_without_pages():
    front = hit(DMH, page=3, label="iv")
    assert format_citation(front, "apa").text == "(Massachusetts Department of Mental Health (DMH), 2019, p. iv)"
    assert format_citation(hit(HRSA), "apa").text == "(U.S. Department of Health and Human Services - H.R.S.A., 2022)"


def test_apa_reference_list_entries():
    refs = format_bibliography(ANSWER, "apa")
    assert refs.text.splitlines() == [
        "IECMH Resources. (n.d.). [Resource list].",
        "Massachusetts Department of Mental Health (DMH). (2019). Infant and Early Childhood Mental Health "
        "Consultation: A Policy Brief [Policy brief].",
        "U.S. Department of Health and Human Services - H.R.S.A. (2022). Home Visiting Program: Early Childhood "
        "Mental Health. https://mchb.hrsa.gov/programs-impact/programs/home-visiting",
    ]
    # italics survive as <i> for pasting into a word processor; hanging indent as the style asks
    assert "<i>Infant and Early Childhood Mental Health Consultation: A Policy Brief</i> [Policy brief]." in refs.html
    assert refs.html.count('<p style="padding-left:0.5in;text-indent:-0.5in">') == 3


def test_chicago_reference_list_entries():
    refs = format_bibliography(ANSWER, "chicago-author-date").text.splitlines()
    assert refs[0] == "“IECMH Resources.” n.d. Resource list."  # sorted by the title standing in for an author
    assert refs[1] == ("Massachusetts Department of Mental Health (DMH). 2019. Infant and Early Childhood Mental Health "
                       "Consultation: A Policy Brief. Policy brief. Massachusetts Department of Mental Health (DMH).")
    # American punctuation: the period goes inside the closing quote
    assert refs[2].startswith("U.S. Department of Health and Human Services - H.R.S.A. 2022. “Home Visiting Program: "
                              "Early Childhood Mental Health.” ")


@pytest.mark.parametrize("style", ["apa", "chicago-author-date"])
def test_a_document_without_publisher_prints_its_title_once(style):
    entry = format_bibliography(hit(BARE), style).text
    assert entry.count("IECMH Resources") == 1, entry


@pytest.mark.parametrize("style", ["apa", "chicago-author-date"])
def test_organisation_is_never_split_into_initials(style):
    text = format_bibliography(ANSWER, style).text + format_citation(hit(HRSA), style).text
    assert "U.S. Department of Health and Human Services - H.R.S.A." in text
    assert "Massachusetts Department of Mental Health (DMH)" in text
    assert not re.search(r"\b[A-Z]\. [A-Z]\. [A-Z]\.", text.replace("H.R.S.A.", ""))


@pytest.mark.parametrize("style", list(STYLES))
def test_document_text_never_becomes_html(style):
    doc = document(6, "<script>alert(1)</script> & <b>Bold</b> Plans?", "<img src=x onerror=alert(1)>", 2020, "report")
    h = hit(doc, page=2)
    for formatted in (format_citation(h, style), format_bibliography(h, style)):
        assert "<img src=x onerror=alert(1)>" in formatted.text and "&lt;img src=x" in formatted.html
        assert not ALLOWED_TAGS.sub("", formatted.html).count("<")
        assert not re.search("[\ue000-\ue00f]", formatted.text + formatted.html)  # no markup marker leaks
    bibliography = format_bibliography(h, style)
    assert "<script>alert(1)</script>" in bibliography.text and "&lt;script&gt;" in bibliography.html


@pytest.mark.parametrize("style", ["apa", "chicago-author-date"])
def test_no_doubled_punctuation_at_markup_seams(style):
    for title in ("What Works for Infants?", "A Plan for Families.", "Ready…"):
        entry = format_bibliography(hit(document(7, title, "State Agency", 2020, "report")), style).text
        assert not re.search(r"[?.]\.|\?”\.", entry), entry


def test_document_punctuation_is_left_alone():
    title = "Wait... Why?! Services -- and “Supports”, 2020"
    entry = format_bibliography(hit(document(8, title, "State Agency", 2020, "report")), "apa").text
    assert "Wait... Why?! Services -- and" in entry


def test_unknown_style_is_refused_with_the_choices():
    with pytest.raises(UnknownStyle, match="choose one of: house, apa, chicago-author-date"):
        format_citation(ANSWER.hits[0], "mla")


def test_rendering_from_many_threads_gives_the_same_result():
    """The app renders from several sessions' threads; a parsed style holds rendering state."""
    hits = [ANSWER.hits[0], hit(HRSA), hit(BARE)]
    expected = {(s, i): format_citation(h, s) for s in ("apa", "chicago-author-date") for i, h in enumerate(hits)}
    results, errors = [], []

    def work(offset: int):
        try:
            for n in range(6):
                style, i = list(expected)[(offset + n) % len(expected)]
                results.append(format_citation(hits[i], style) == expected[style, i])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 36 and all(results)


@pytest.mark.parametrize("doc_type, kind, url, expected", [
    ("policy brief", "pdf", None, "report"),
    ("state web page", "text", None, "webpage"),
    ("topic page", "text", None, "webpage"),
    ("Public Law (Act)", "pdf", None, "legislation"),
    ("bill", "pdf", None, "bill"),
    ("journal article", "pdf", None, "article-journal"),
    ("handbook", "pdf", None, "book"),
    ("resource list", "text", None, "document"),
    (None, "html", "https://example.org", "webpage"),
    (None, "pdf", None, "report"),
    (None, "docx", None, "document"),
])
def test_csl_type_from_document_type_then_format(doc_type, kind, url, expected):
    assert csl_type(document(9, "T", doc_type=doc_type, kind=kind, url=url)) == expected


def test_csl_item_shape():
    assert csl_item(DMH, "k") == {
        "id": "k", "type": "report", "title": DMH.title,
        "author": [{"literal": "Massachusetts Department of Mental Health (DMH)"}],
        "publisher": "Massachusetts Department of Mental Health (DMH)",
        "issued": {"date-parts": [[2019]]}, "genre": "Policy brief"}
    web = csl_item(HRSA, "w")
    assert web["URL"] == HRSA.url and web["accessed"] == {"date-parts": [[2024, 3, 5]]} and "genre" not in web
    assert csl_item(BARE, "b") == {"id": "b", "type": "document", "title": "IECMH Resources", "genre": "Resource list"}
    assert "accessed" not in csl_item(document(9, "T", url="https://x.org", accessed="yesterday"), "x")
