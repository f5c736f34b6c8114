"""Main-content extraction of saved HTML pages: furniture out, content (including link lists and
tables) in, metadata from the page's markup, and the whole page when no content stands out."""
from __future__ import annotations

import re

from conftest import CORPUS

from ingest.formats import extract

SHELL = """<html><head><title>{title} | Early Childhood Agency</title>
<meta property="og:site_name" content="Early Childhood Agency">{meta}</head><body>
<div class="cookie-consent-banner"><p>This site uses cookies. By continuing you accept our cookie policy.</p></div>
<div class="top"><a href="/">Home</a> <a href="/a">Agencies</a> <a href="/s">Services</a></div>
<nav aria-label="Breadcrumb"><a>Home</a> › <a>Programs</a></nav>
<div class="layout"><div class="left-sidebar"><h3>In this section</h3><ul><li><a>Child care</a></li>
<li><a>Home visiting</a></li></ul></div>
<div class="article-body">{body}</div></div>
<div class="footer-links"><a>Privacy</a> <a>Accessibility</a> <a>Site map</a></div>
<p class="copyright">© 2023 Early Childhood Agency. All rights reserved.</p></body></html>"""


def page(body: str, title: str = "Resources", meta: str = "") -> bytes:
    return SHELL.format(body=body, title=title, meta=meta).encode()


RESOURCE_LIST = """<h1>Resources</h1><p>The agency funds the following statewide resources for infant and early childhood
mental health consultation, screening, and workforce development across every region of the state.</p>
<h2>Federal Resources</h2><ul><li><a href="/1">Dear Colleague Letter on Social-Emotional Development</a></li>
<li><a href="/2">Supporting Child and Student Social, Emotional, Behavioral, and Mental Health Needs</a></li></ul>
<h2>State Data</h2><table><thead><tr><th>Region</th><th>Consultants</th></tr></thead>
<tbody><tr><td>North</td><td>12</td></tr><tr><td>South</td><td>9</td></tr></tbody></table>
<div class="social-emotional-development"><p>Social-emotional development is screened at every well-child visit from
birth to age five, following the periodicity schedule.</p></div>"""


def test_furniture_out_content_in():
    result = extract("resources.html", page(RESOURCE_LIST))
    (p,) = result.pages
    text = p.text
    for furniture in ("cookies", "Agencies", "Programs", "In this section", "Site map", "All rights reserved"):
        assert furniture not in text, furniture
    assert "Dear Colleague Letter on Social-Emotional Development" in text  # link-only items are content
    assert "Social-emotional development is screened" in text  # "social" in a class name is a topic
    assert [h for _, h in p.headings] == ["Resources", "Federal Resources", "State Data"]
    (start, end, header_end) = p.tables[0]
    assert text[start:end] == "Region\tConsultants\nNorth\t12\nSouth\t9" and text[start:header_end] == "Region\tConsultants"
    assert result.title == "Resources" and result.publisher == "Early Childhood Agency"
    assert result.site_name == "Early Childhood Agency" and result.warnings == []


def test_dates_come_from_markup_not_from_running_text():
    body = RESOURCE_LIST + "<p>This page was last reviewed on March 3, 2022.</p>"
    assert extract("a.html", page(body)).year is None  # the copyright line and a review note are not a date
    dated = extract("b.html", page(body, meta='<meta name="citation_publication_date" content="2020/05/01">'))
    assert dated.year == 2020
    published = extract("c.html", page(body, meta='<meta property="article:published_time" '
                                                  'content="2019-09-30T10:00:00Z">'))
    assert published.year == 2019 and published.published == "2019-09-30"


def test_page_without_distinct_content_is_read_whole_with_a_warning():
    result = extract("tiny.html", b"<html><body><nav>Menu</nav><div>Hi</div></body></html>")
    assert "Hi" in result.pages[0].text and "Menu" not in result.pages[0].text
    assert any("main content could not be told" in w for w in result.warnings)


def test_markdown_is_read_whole():
    result = extract("brief.md", b"# Brief\n\n## Menu\n\n- [Home](/)\n- [About](/about)\n\nText of the brief.\n")
    assert "Home\nAbout" in result.pages[0].text


def test_shipped_corpus_carries_no_navigation_lines():
    breadcrumb = re.compile(r"^\s*Home\s*[/>›»]", re.M)
    furniture = ("Skip to main content", "Join our Policy Network", "We need your support now", "On This Page",
                 "Topic Editor:")
    for path in sorted(CORPUS.glob("*")):
        if path.suffix in (".txt", ".md", ".html"):
            text = path.read_text(encoding="utf-8")
            assert not breadcrumb.search(text), path.name
            assert not any(f in text for f in furniture), path.name


def test_content_in_one_element_without_blocks_inside():
    """The content element may be a paragraph itself: its own text is the content."""
    result = extract("one.html", b"<html><body><nav>Menu</nav><p>The giraffe funding guidance says &lt;b&gt; is "
                                 b"literal text, and funding follows the state plan for every county.</p></body></html>")
    assert result.pages[0].text.startswith("The giraffe funding guidance says <b> is literal text")


# ---- footnotes ---------------------------------------------------------------------------------

def _passages(name: str, data: bytes):
    from ingest.split import split_pages

    return split_pages(extract(name, data).pages)


def test_markdown_footnotes_are_read_with_the_sentence_that_cites_them():
    md = (b"# Caseloads\n\nHome visitors carry at most 12 families.[^1] Supervisors meet them weekly.\n\n"
          b"The service area is 40 km<sup>2</sup>.\n\n"
          b"[^1]: Caseload limits are set by the [model developer](https://example.org/limits).\n")
    (page_,) = extract("caseloads.md", md).pages
    assert "families. Supervisors" in page_.text  # the reference left the sentence, no "[1]" or "1"
    assert "40 km2" in page_.text  # an exponent is not a note: no note opens with "2"
    notes = [page_.text[a:b] for a, b in page_.footnotes]
    assert notes == ["1 Caseload limits are set by the model developer."]  # no "↩" back-link
    (note,) = [p for p in _passages("caseloads.md", md) if p.footnote]
    assert note.context == "Home visitors carry at most 12 families."
    assert note.context_label.startswith("Note to: “Home visitors")


def test_superscript_markers_in_the_shipped_corpus_become_notes():
    """The seed guidebook marks notes with bare <sup>1</sup>, both where the sentence cites the
    note and where the note begins; before, "supervision.1 Many states" reached the quote."""
    path = CORPUS / "iecmh-workforce-systems-and-supports-2020.md"
    passages = _passages(path.name, path.read_bytes())
    body = " ".join(p.text for p in passages if not p.footnote)
    assert "reflective supervision. Many states across the Southeast" in body
    assert not re.search(r"[a-z]\.\d ", body)
    notes = {p.text.split()[0]: p for p in passages if p.footnote}
    assert sorted(notes) == ["1", "2", "3", "4", "5"]
    assert notes["1"].text.startswith("1 Reflective supervision is a framework")
    assert notes["1"].context.startswith("These associations are membership-driven organizations")
    assert notes["4"].context == "It will also cross-walk the DC:0-5 with DSM-5, ICD-10, and CPT codes."


def test_linked_references_on_a_web_page():
    body = ('<h1>Claims</h1><p>Claims rose in 2021.<sup class="reference"><a href="#cite_note-3">[3]</a></sup> '
            'They fell in 2022.</p><h2>References</h2><ol class="references"><li id="cite_note-3">'
            '<a href="#cite_ref-3">^</a> <span>State Medicaid Agency, <i>Annual Claims Report</i>, 2022.</span></li></ol>')
    (page_,) = extract("claims.html", page(body, title="Claims")).pages
    assert "Claims rose in 2021. They fell in 2022." in page_.text
    assert [page_.text[a:b] for a, b in page_.footnotes] == ["3 State Medicaid Agency, Annual Claims Report, 2022."]
    assert [marker for _, marker in page_.footnote_refs] == ["3"]
