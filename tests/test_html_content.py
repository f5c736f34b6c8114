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


def test_dates_come_from_markup_and_the_printed_review_date_not_from_running_text():
    running = RESOURCE_LIST + "<p>In March 2019 the legislature funded consultation in every region.</p>"
    assert extract("a.html", page(running)).year is None  # the copyright line and a date in a sentence are not one
    dated = extract("b.html", page(running, meta='<meta name="citation_publication_date" content="2020/05/01">'))
    assert dated.year == 2020
    published = extract("c.html", page(running, meta='<meta property="article:published_time" '
                                                     'content="2019-09-30T10:00:00Z">'))
    assert published.year == 2019 and published.published == "2019-09-30"
    modified = extract("d.html", page(running, meta='<meta property="article:published_time" content="2016-01-04">'
                                                    '<meta name="dcterms.modified" content="2021-02-08">'))
    assert modified.year == 2021  # the page as last modified is the page cited
    # the date the page prints as reviewed or updated comes first, the footer's included
    reviewed = RESOURCE_LIST + "<p>This page was last reviewed on March 3, 2022.</p>"
    assert extract("e.html", page(reviewed, meta='<meta name="dc.date" content="2017-05-01">')).year == 2022
    footer = page(RESOURCE_LIST).replace(b"</body>", b"<footer><p>Last Reviewed: 11/6/2015</p></footer></body>")
    result = extract("f.html", footer)
    assert result.year == 2015 and result.published == "2015-11-06"
    assert "Last Reviewed" not in result.pages[0].text  # the footer is still not content


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


# ---- older agency sites: one <form> around the page, layout tables, page tools -------------------

WEBFORMS = """<html><head><title>Child Care Consultation - Oregon Department of Human Services</title>
<meta name="author" content="Nguyen, Linda"></head><body><form name="aspnetForm" method="post" action="./Page.aspx"
id="aspnetForm"><div><input type="hidden" name="__VIEWSTATE" value="/wEPDwUKMTY1NDU2MTA1Mg9kFgJmD2QWAgIDD2Q=" /></div>
<div id="ctl00_pnlHeader"><a href="#main">Skip to main content</a><span class="agencyName">Oregon Department of Human
Services</span><label for="q">Search this site</label><input id="q"></div>
<div id="ctl00_main"><p><a href="javascript:print()">Print this page</a> | <a href="mailto:">Email this page</a></p>
<h1>Child Care Consultation</h1><p><b>Contents</b></p><ul><li><a href="#who">Who may ask</a></li>
<li><a href="#cost">Cost</a></li></ul>
<h2 id="who">Who may ask</h2><p>Any licensed child care program may ask for a mental health consultant, who visits the
classroom weekly for up to six months.</p><p><a href="#top">&#8593; Back to top</a></p>
<h2 id="cost">Cost</h2><p>Consultation is free to programs and families; the state pays consultants from the block grant.</p>
<p><a href="#top">Return to Top</a></p><p>Page updated: March 2019</p></div>
<form action="/subscribe"><p>Get email updates</p><input type="email"></form></form></body></html>"""


def test_a_webforms_page_is_read_without_its_page_tools_and_contents():
    result = extract("Page.aspx.html", WEBFORMS.encode())
    (p,) = result.pages
    assert "weekly for up to six months" in p.text and "state pays consultants" in p.text
    assert [h for _, h in p.headings] == ["Child Care Consultation", "Who may ask", "Cost"]
    for furniture in ("Skip to main content", "Print this page", "Email this page", "Back to top", "Return to Top",
                      "Contents", "Search this site", "VIEWSTATE", "|"):
        assert furniture not in p.text, furniture
    # the contents list is gone: the headings appear once each
    assert p.text.count("Who may ask") == 1 and p.text.count("Cost") == 1
    assert result.title == "Child Care Consultation"
    assert result.publisher == "Oregon Department of Human Services"  # not "Nguyen, Linda"
    assert result.year == 2019 and result.published is None  # a month printed, so no day is made up


def test_a_small_form_is_still_furniture():
    result = extract("signup.html", page(RESOURCE_LIST + '<form action="/s"><p>Sign up for our newsletter today</p>'
                                                         '<input type="email"></form>'))
    assert "newsletter" not in result.pages[0].text and "Dear Colleague Letter" in result.pages[0].text


LAYOUT = """<html><head><title>Home Visiting Standards</title><meta name="DC.publisher" content="Vermont Agency of
Human Services"></head><body><a name="top"></a><table width="100%"><tr><td colspan="2"><img alt="Vermont Agency of Human
Services" src="b.gif"><a href="/">Home</a> | <a href="/c">Contact</a> | <a href="/s">Search</a></td></tr>
<tr><td width="180"><a href="/1">Programs</a><br><a href="/2">Licensing</a><br><a href="/3">Publications</a><br>
<a href="/4">Careers</a></td><td valign="top"><h1>Home Visiting Standards</h1><p>Home visitors carry no more than
twelve families at a time and see each family at least twice a month.</p><p>Every visitor receives reflective
supervision for at least one hour each week.</p><p><a href="#top">Back to Top</a></p>
<table><tr><th>Visits</th><th>Families</th></tr><tr><td>2 a month</td><td>12</td></tr></table></td></tr>
<tr><td colspan="2">Last Reviewed: November 6, 2015</td></tr></table></body></html>"""


def test_a_page_laid_out_in_a_table_is_read_as_blocks():
    result = extract("standards.html", LAYOUT.encode())
    (p,) = result.pages
    assert [h for _, h in p.headings] == ["Home Visiting Standards"]
    assert "twelve families at a time and see each family at least twice a month.\n" in p.text  # a paragraph, not a cell
    for furniture in ("Programs", "Licensing", "Careers", "Contact", "Back to Top"):
        assert furniture not in p.text, furniture
    (start, end, _) = p.tables[0]  # a real table inside the layout is still a table
    assert p.text[start:end] == "Visits\tFamilies\n2 a month\t12"
    assert result.publisher == "Vermont Agency of Human Services" and result.year == 2015


def test_navigation_text_inside_content_is_dropped_but_similar_words_in_sentences_stay():
    body = ('<h1>Sharing data</h1><p>Programs share screening results with the medical home.</p>'
            '<p><a href="/print">Print</a> · <a href="#top">Top ↑</a></p>'
            '<p>Back to top of the list of questions: families may print this page for their records.</p>')
    text = extract("share.html", page(body)).pages[0].text
    assert "Programs share screening results" in text and "families may print this page" in text
    assert "Print\n" not in text and "Top ↑" not in text and "·" not in text


def test_words_that_name_page_tools_stay_in_tables_and_headings():
    body = ('<h1>Caseloads</h1><h2><span>Top</span> ten counties</h2><table><thead><tr><th>County</th><th>Share</th>'
            '</tr></thead><tbody><tr><td>Lane</td><td>12%</td></tr></tbody></table>')
    (p,) = extract("caseloads.html", page(body, title="Caseloads")).pages
    assert "Top ten counties" in [h for _, h in p.headings]
    (start, end, _) = p.tables[0]
    assert p.text[start:end] == "County\tShare\nLane\t12%"


def test_an_agency_named_in_the_title_tag_is_the_publisher_and_not_part_of_the_title():
    def read(title: str, body: str):
        return extract("t.html", f"<html><head><title>{title}</title></head><body><main>{body}<p>Consultants visit "
                                 f"every classroom weekly for six months at no cost to programs.</p></main></body></html>"
                       .encode())

    guide = read("Home Visiting Guide | Lakeshore County Public Health", "<h2>Visits</h2>")
    assert (guide.title, guide.publisher) == ("Home Visiting Guide", "Lakeshore County Public Health")
    banner = read("Department of Health - Home Visiting Guide", "<h1>Department of Health</h1>")
    assert (banner.title, banner.publisher) == ("Home Visiting Guide", "Department of Health")
    topic = read("Early Childhood Mental Health Services - Health and Safety", "<h2>Visits</h2>")
    assert topic.title == "Early Childhood Mental Health Services - Health and Safety" and topic.publisher is None


def test_the_site_header_names_the_publisher_and_an_articles_header_does_not():
    site = ('<html><head><title>Consultation</title></head><body><div id="site-header"><img alt="Department of Early '
            'Learning" src="l.png"><a href="/">Home</a></div><main><h1>Consultation</h1><p>Consultants visit every '
            'classroom weekly for six months at no cost to programs or families.</p></main></body></html>')
    assert extract("a.html", site.encode()).publisher == "Department of Early Learning"
    article = ('<html><head><title>Mental Health Consultation Services</title></head><body><article><header '
               'class="entry-header"><h1>Mental Health Consultation Services</h1></header><p>Consultants visit every '
               'classroom weekly for six months at no cost to programs or families.</p></article></body></html>')
    assert extract("b.html", article.encode()).publisher is None
