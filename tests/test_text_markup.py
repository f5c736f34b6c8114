"""Text files whose content is Markdown or HTML (text copied from a web page, like the seed
documents) are read as Markdown or HTML; plain text that merely holds a URL, a dash line or a
'#' stays plain."""
from __future__ import annotations

import re

from conftest import CORPUS

from ingest.formats import extract
from ingest.sniff import markup_of
from ingest.split import split_pages
from kb.backends.local import LocalBackend

RAW = re.compile(r"</?sup>|<https?://|^\s*---\s*$|\*\*|\\\$|\]\(|^#+\s", re.M)
SEED_MARKDOWN = CORPUS / "iecmh-workforce-systems-and-supports-2020.md"  # the seed ../shared/seeds/004_*.txt, as is


def test_the_seed_that_is_markdown_in_a_txt_file_reaches_no_quote_raw():
    """Before, the seed read as plain text put "consultation.<sup>2</sup> Project ECHO",
    "<https://www.scimha.org/>" and "---" into 8 of its 8 passages."""
    data = SEED_MARKDOWN.read_bytes()
    result = extract("004_f52a586766064acc.txt", data)
    assert result.kind == "text"
    passages = split_pages(result.pages)
    assert not [p.text for p in passages if RAW.search(p.text)]
    body = " ".join(p.text for p in passages if not p.footnote)
    assert "interprofessional consultation. Project ECHO is a well-known model" in body
    assert "leveraged a $10.6 million grant" in body  # "\$" read as Markdown reads it
    notes = [p.text for p in passages if p.footnote]
    assert len(notes) == 5 and "5 https://www.scimha.org/" in notes
    assert result.title == "Infant and Early Childhood Mental Health Systems and Supports Developing the Workforce"
    assert {p.section for p in passages} >= {"Alabama", "South Carolina", "Louisiana"}
    # read as the same document is read from its .md copy
    md = split_pages(extract("seed.md", data).pages)
    assert [p.text for p in md if p.footnote] == notes


def test_markdown_copied_from_a_web_page_keeps_one_paragraph_a_line():
    text = ("# Consultation in Child Care\n"
            "Consultants visit each classroom **every week** for six months.\n"
            "Programs pay nothing; the [state block grant](https://example.gov/grant) pays consultants.\n"
            "Eligibility\n"
            "Any licensed program may ask for a consultant.<sup>1</sup>\n\n"
            "<sup>1</sup> Licensed under the state child care rules.\n")
    (page,) = extract("consultation.txt", text.encode()).pages
    assert "Consultants visit each classroom every week for six months.\n\nPrograms pay nothing; the state block " \
           "grant pays consultants.\n\nEligibility\n\n" in page.text  # each line a block, as the plain reader has them
    assert [page.text[a:b] for a, b in page.footnotes] == ["1 Licensed under the state child care rules."]


def test_a_txt_holding_an_html_page_is_read_as_the_page():
    html = ("<!DOCTYPE html>\n<html><head><title>Home Visiting | Department of Early Childhood</title></head><body>"
            "<nav><a href='/'>Home</a> <a href='/about'>About</a></nav><main><h1>Home Visiting</h1>"
            "<p>Home visitors see each family at least twice a month.<sup>2</sup></p><h2>Training</h2>"
            "<p>Visitors complete infant mental health training within six months of hire.</p>"
            "<p><sup>2</sup> Families in the first year of the program are seen weekly.</p></main>"
            "<footer>Copyright 2024 Department of Early Childhood</footer></body></html>")
    result = extract("saved-page.txt", html.encode())
    (page,) = result.pages
    assert "<" not in page.text and "Copyright" not in page.text and "About" not in page.text
    assert [h for _, h in page.headings] == ["Home Visiting", "Training"]
    assert "Home visitors see each family at least twice a month.\n" in page.text
    assert [page.text[a:b] for a, b in page.footnotes] == ["2 Families in the first year of the program are seen weekly."]
    assert result.title == "Home Visiting" and result.publisher == "Department of Early Childhood"


PLAIN = ("Part C Early Intervention\n\n"
         "Referral line: https://example.gov/part-c or call 555-0100.\n"
         "---\n"
         "# of children served in 2023: 1,204\n"
         "Eligibility is set by the lead agency - see the state plan (2021).\n"
         "Costs are $0 for families; *all* services are free.\n")


def test_plain_text_with_a_url_a_dash_line_or_a_hash_stays_plain():
    assert markup_of(PLAIN) is None
    result = extract("notes.txt", PLAIN.encode())
    (page,) = result.pages
    assert page.text == PLAIN  # read exactly as written: nothing taken as markup
    assert result.title == "Part C Early Intervention"


def test_what_counts_as_markup():
    assert markup_of("<html><body><p>x</p></body></html>") == "html"
    assert markup_of("<p>One.</p>\n<p>Two.</p>\n<ul><li>Three</li></ul>") == "html"
    assert markup_of("Use the <b> tag in <p>paragraphs</p>.") is None  # HTML talked about, not written
    assert markup_of("See **Table 2** and [the plan](https://example.gov/plan).") == "markdown"
    assert markup_of("Caseloads rose 12%.[^1]\n\n[^1]: State report.\n\n---\n") == "markdown"
    assert markup_of("**Important:** call the line.") is None  # one signal alone is not enough
    assert markup_of("Contact: <https://example.gov>\n---\n") is None
    assert markup_of("Intro\n---\nText with a URL https://example.gov and 2 * 3 = 6.\n") is None


def test_ingested_quotes_from_a_markdown_txt_carry_no_markup(tmp_path, run_ingest, kb_dir, searcher):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "workforce.txt").write_bytes(SEED_MARKDOWN.read_bytes())
    (docs / "notes.txt").write_text(PLAIN)
    report = run_ingest(docs)
    assert report.failed == [] and sorted(report.added) == ["notes.txt", "workforce.txt"]
    with LocalBackend(kb_dir).read() as conn:
        texts = [r[0] for r in conn.execute("SELECT p.text FROM passages p JOIN documents d ON d.id = p.document_id "
                                            "WHERE d.name = 'workforce.txt'")]
    assert texts and not [t for t in texts if RAW.search(t)]
    hit = searcher.ask("Which model brings clinicians together for peer-to-peer consultation?", k=3).hits[0]
    assert hit.document.name == "workforce.txt" and "<sup>" not in hit.passage.text
