"""HTML pages: the page's main content (navigation, breadcrumbs, footers, cookie banners
left out), headings as sections, lists and tables kept, meta tags as metadata.

Finding the main content is trafilatura's job (a boilerplate-removal library); reading it is
ours. A <form> is page furniture (search box, newsletter sign-up) unless it holds most of the
page: ASP.NET WebForms and SharePoint wrap the whole body in one. A table whose cells hold
headings, paragraphs or other tables lays the page out and is read as blocks, not rows.
Link text that only moves around the page ("Return to Top", "Skip to main content", "Print this
page", "Share") and an in-page table of contents (a list of same-page #links) are left out. trafilatura also drops short link-only blocks inside the content, which on a resource
list are the content, so its output is used only to locate the element that holds the
content (the deepest one holding nearly all of trafilatura's text), and that element is read
whole. Markdown, which has no boilerplate, is read whole with `html_to_pages`.
"""
from __future__ import annotations

import re

from kb.text import collapse

from ..limits import TextBudget, active
from ..metadata import DATE, has_day, names_an_agency, organisation_or_none, parse_date
from ..sniff import decode_text, looks_like_text
from ..types import Extracted
from .base import Format
from .blocks import PageBuilder, reference

YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")

DROP_TAGS = ["script", "style", "noscript", "template", "iframe", "svg", "canvas", "object", "embed", "nav",
             "button", "select", "input", "textarea", "head", "link", "meta", "dialog"]
WRAPPER_FORM_SHARE = 0.5  # a <form> holding at least this share of the page's words wraps the page
# Link text that moves around the page or acts on it, never content (matched whole, arrows aside).
NAVIGATION_TEXT = re.compile(
    r"(?:(?:return|back|go|jump|skip)\s+to\s+(?:the\s+)?(?:top(?:\s+of\s+(?:the\s+)?page)?|(?:main\s+)?content|main|"
    r"navigation|menu|search|page\s+top)|skip\s+(?:navigation|nav|links?)|top(?:\s+of\s+(?:the\s+)?page)?|"
    r"(?:print|e-?mail|share|bookmark|save)(?:\s+(?:this|the))?(?:\s+(?:page|article|story|link))?|"
    r"printer[-\s]friendly(?:\s+(?:version|page))?|print\s+version|(?:text|font)\s+size|"
    r"translate(?:\s+this\s+page)?|select\s+language)", re.I)
ARROWS = re.compile(r"[\s\u2190-\u21ff\u25b2\u25b4\u25b5\u2303^\u00ab\u00bb\u203a\u2039<>|:.\-]+")
SEPARATORS_ONLY = re.compile(r"[\s|\u2022\u00b7/\\,;:\-\u2013\u2014]+")
# The title an in-page table of contents goes under.
CONTENTS_TITLE = re.compile(r"(?:on\s+this\s+page|(?:table\s+of\s+|page\s+)?contents|in\s+this\s+(?:section|article|"
                            r"page|guide)|jump\s+to(?:\s+(?:a\s+)?section)?|sections?(?:\s+on\s+this\s+page)?|"
                            r"quick\s+links)\s*:?", re.I)
LAYOUT_ROLES = {"presentation", "none"}
BLOCK_TAGS = {"p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "ul",
              "ol", "dl", "dt", "dd", "li", "table", "thead", "tbody", "tfoot", "tr", "figure", "figcaption",
              "caption", "address", "hr", "br", "details", "summary", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
ITEM_TAGS = {"li", "dt", "dd"}
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Page furniture by ARIA landmark role, and by the words sites name it with in id/class.
BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "alertdialog", "dialog"}
# ("social" and "consent" alone are not here: "social-emotional" and "parental consent" are topics.)
BOILERPLATE_NAMES = re.compile(
    r"(?:^|[-_\s])(?:breadcrumbs?|cookies?|cookie-?(?:banner|notice|bar|consent|policy)|consent-?(?:banner|manager|"
    r"notice|popup)|gdpr|skip-?(?:link|links|nav|to-content|to-main)|share|sharing|social-?(?:share|media|links|icons)|"
    r"newsletter|subscribe|site-?header|site-?footer|masthead|footer|navbar|nav-?menu|menu|sidebar|pager|pagination|"
    r"feedback|toc|table-?of-?contents|on-?this-?page|back-?to-?top)"
    r"(?:$|[-_\s])", re.I)
MIN_SHARE = 0.9  # the content element holds at least this share of trafilatura's text
NOTE_MARKER = re.compile(r"\[?\s*(\d{1,3}|[*\u2020\u2021\u00a7\u00b6#]{1,3})\s*\]?")  # 1, [1], *, †
NOTE_BLOCKS = {"li", "p", "div", "dd", "aside", "section"}
BACKREF = re.compile(r"\s*[\u21a9\u2191^]\ufe0e?\ufe0f?\s*$")  # the "↩" link back to the citing sentence


def extract_html(data: bytes) -> Extracted:
    html, warnings = decode_text(data)
    result = main_content_pages(html)
    result.warnings = warnings + result.warnings
    return result


def html_to_pages(html: str) -> Extracted:
    """The whole page's visible text (for Markdown, and HTML without boilerplate)."""
    check_text_size(html)
    soup = _soup(html)
    meta = _metadata(soup)
    _drop_invisible(soup)
    _drop_forms(soup)
    _drop_page_navigation(soup)
    return _read(soup.body or soup, meta)


def main_content_pages(html: str, url: str | None = None) -> Extracted:
    """The page's main content with its metadata; the whole visible page (navigation, header,
    footer and banners dropped) when no main content can be told apart."""
    check_text_size(html)
    soup = _soup(html)
    meta = _metadata(soup)
    meta.update({k: v for k, v in _page_metadata(html, url).items() if v and not meta.get(k)})
    _drop_invisible(soup)
    _drop_forms(soup)
    meta["printed_date"] = _printed_date(soup)
    meta["header_publisher"] = _header_organisation(soup)
    _drop_furniture(soup)
    _drop_page_navigation(soup)
    _drop_layout_menus(soup)
    body = soup.body or soup
    container = _content_element(body, _main_text_blocks(html))
    result = _read(container if container is not None else body, meta)
    if container is None:
        result.warnings.append("the main content could not be told from the rest of the page; "
                               "all its text except navigation, header and footer was indexed")
    return result


def check_text_size(html: str, chunk: int = 1 << 20) -> None:
    """Refuse a page whose text is over KB_MAX_DOCUMENT_CHARS before any tree is built: lxml
    reads it a piece at a time and only counts the text (scripts and styles aside), so 150 MB
    of HTML costs a moment, not gigabytes. A page no longer than the limit cannot hold more."""
    if len(html) <= active().max_chars:
        return
    from lxml import etree

    class Counter:
        def __init__(self):
            self.budget, self.hidden = TextBudget(), 0

        def start(self, tag, attrib):
            self.hidden += tag in ("script", "style")

        def end(self, tag):
            self.hidden -= tag in ("script", "style") and self.hidden > 0

        def data(self, text):
            if not self.hidden:
                self.budget.spend(len(text.strip()))

        def close(self):
            return None

    parser = etree.HTMLParser(target=Counter())
    for at in range(0, len(html), chunk):
        parser.feed(html[at:at + chunk])
    parser.close()


def _soup(html: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml")


def _read(root, meta: dict) -> Extracted:
    builder, inline = PageBuilder(), []
    _walk(root, builder, inline, "paragraph", _Notes.of(root))
    _flush(inline, builder, "paragraph")
    page = builder.page(None)
    tag_title, tag_publisher = _split_title_tag(meta.get("title_tag"), meta.get("site_name"), meta.get("h1"))
    title = meta.get("title") or tag_title or (page.headings[0][1] if page.headings else None)
    publisher = meta.get("publisher") or meta.get("header_publisher") or tag_publisher
    printed = meta.get("printed_date")
    date = printed[1] if printed else meta.get("date")
    year = printed[0] if printed else _year(date)
    return Extracted([page], "html", title=title, publisher=publisher, year=year,
                     published=_iso_date(date), site_name=meta.get("site_name"))


# ---- metadata ---------------------------------------------------------------------------------

def _metadata(soup) -> dict:
    """What the page's own tags say: the scholarly and Dublin Core tags first; the date a page
    was last modified before the date it was first published; <meta name="author"> only when
    it names an organisation."""
    h1 = soup.find("h1")
    tags = _meta_tags(soup)
    return {
        "title": _meta(tags, "citation_title", "dc.title", "dcterms.title", "og:title"),
        "title_tag": _first(soup.title.get_text(" ", strip=True) if soup.title else None),
        "h1": _first(h1.get_text(" ", strip=True) if h1 else None),
        "publisher": _meta(tags, "citation_publisher", "dc.publisher", "dcterms.publisher", "publisher",
                           "og:site_name") or organisation_or_none(_meta(tags, "author", "dc.creator")),
        "site_name": _meta(tags, "og:site_name", "application-name"),
        "date": _meta(tags, "citation_publication_date", "citation_date", "article:modified_time", "og:updated_time",
                      "dcterms.modified", "dc.date.modified", "last-modified", "dc.date", "dcterms.date",
                      "dcterms.issued", "article:published_time", "date"),
    }


def _page_metadata(html: str, url: str | None) -> dict:
    """trafilatura's reading of the page: site name and publication date from the page's markup
    (never guessed from its running text, where a copyright line or a 'last reviewed' date
    would pass for it)."""
    try:
        from trafilatura.metadata import extract_metadata

        found = extract_metadata(html, default_url=url, extensive=False)
    except Exception:  # noqa: BLE001 - metadata is a fallback; the page is still read
        return {}
    if found is None:
        return {}
    return {"site_name": found.sitename, "publisher": found.sitename, "date": found.date}


TITLE_SEPARATORS = (" | ", " – ", " — ", " - ", " • ", " :: ", ": ")
TITLE_SPLIT = re.compile(r"\s+(?:\||–|—|-|•|::)\s+|:\s+|\|")


def _split_title_tag(title: str | None, site: str | None, h1: str | None) -> tuple[str | None, str | None]:
    """(title, publisher) from a <title>: the page's own <h1> when the <title> holds it; the
    site's name or an agency's that pages append or prepend ("Guide | Mass.gov", "Guide -
    Oregon Department of Human Services") taken off, the agency as publisher."""
    if not title:
        return None, None
    parts = [part.strip() for part in TITLE_SPLIT.split(title) if part.strip()]
    if h1 and len(h1) >= 3 and h1.casefold() in title.casefold():
        others = [part for part in parts if part.casefold() not in h1.casefold()]
        if names_an_agency(h1) and len(others) == 1 and not names_an_agency(others[0]):
            return others[0], h1  # the <h1> is the site's banner: "Department of Health" over "Guide"
        return h1, next((part for part in others if names_an_agency(part)), None)
    for sep in TITLE_SEPARATORS:
        head, found, tail = title.rpartition(sep)  # "Guide | Site"
        if found and head.strip() and tail.strip():
            if (site and tail.strip().casefold() == site.casefold()) or names_an_agency(tail):
                return head.strip(), None if site and tail.strip().casefold() == site.casefold() else tail.strip()
        tail, found, head = title.partition(sep)  # "Site | Guide"
        if found and head.strip() and tail.strip():
            if site and tail.strip().casefold() == site.casefold():
                return head.strip(), None
            if names_an_agency(tail) and not names_an_agency(head):
                return head.strip(), tail.strip()
    return title, None


PRINTED_DATE = re.compile(
    r"\b(?:(?:page|content|date|this\s+page\s+was)\s+)?(?:last\s+)?(?:reviewed|updated|modified|revised)"
    rf"(?:\s+on)?\s*:?\s*(?P<date>{DATE})\b", re.I)


def _printed_date(soup) -> tuple[int, str | None] | None:
    """The latest "Last reviewed / updated / modified: <date>" the page prints, as (year, ISO
    date when it prints the day). Read from the whole visible page, footer included, before
    furniture is dropped; a copyright line or a date in running text is not one."""
    text = " ".join((soup.body or soup).get_text(" ").split())
    found = [(parsed, has_day(m.group("date"))) for m in PRINTED_DATE.finditer(text)
             if (parsed := parse_date(m.group("date"))) is not None]
    if not found:
        return None
    latest, day = max(found)
    return latest.year, latest.isoformat() if day else None


HEADER_NAMES = re.compile(r"logo|site-?name|site-?title|agency|brand|site-?header|masthead|siteicon|banner|seal|"
                          r"header", re.I)


def _header_organisation(soup) -> str | None:
    """The agency the site's header names (its logo's alt text, the agency name beside it):
    a header outside the page's <main> or <article> (an article's own header holds its title),
    and a name with an agency's word in it (department, office, county...), so that a page
    title about "mental health services" is not taken for one."""
    body = soup.body or soup
    candidates = body.find_all(lambda tag: (tag.name == "header" or str(tag.get("role", "")).lower() == "banner" or
                                            bool(HEADER_NAMES.search(" ".join([str(tag.get("id", "")),
                                                                              *(tag.get("class") or [])]))))
                               and tag.find_parent(("main", "article")) is None and tag.name not in ("main", "article"),
                               limit=20)
    for element in candidates:
        texts = [img.get("alt", "") for img in element.find_all("img")]
        texts += [t for t in element.stripped_strings][:10]
        for text in texts:
            text = " ".join(text.split())
            if 2 <= len(text.split()) <= 12 and names_an_agency(text) and not re.search(r"\d|seal|logo", text, re.I):
                return text
    return None


def _first(*values: str | None) -> str | None:
    return next((" ".join(v.split()) for v in values if v and v.strip()), None)


def _meta(tags: dict[str, str], *names) -> str | None:
    """The first of the named <meta> tags that has content."""
    return next((tags[name] for name in names if name in tags), None)


def _meta_tags(soup) -> dict[str, str]:
    """The page's <meta> contents by lower-cased name, property and http-equiv (the first of
    each), gathered in one pass."""
    found: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        content = " ".join(str(tag.get("content", "")).split())
        if not content:
            continue
        for key in ("name", "property", "http-equiv"):
            if tag.get(key):
                found.setdefault(str(tag[key]).strip().lower(), content)
    return found


def _year(value: str | None) -> int | None:
    m = YEAR.search(value or "")
    return int(m.group(1)) if m else None


def _iso_date(value: str | None) -> str | None:
    m = re.match(r"\s*(\d{4}-\d{2}-\d{2})", value or "")
    return m.group(1) if m else None


# ---- what is not content ------------------------------------------------------------------------

def _drop_invisible(soup) -> None:
    for tag in soup(DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()


def _gone(tag) -> bool:
    """Whether the tag was removed with an ancestor. (bs4's `decomposed` property falls back on
    a search of the tag's subtree when the tag is still there: slow on every tag of a page.)"""
    return bool(tag.__dict__.get("_decomposed", False))


def _drop_forms(soup) -> None:
    """Forms are furniture (a search box, a sign-up) unless one holds most of the page: ASP.NET
    WebForms and SharePoint put the whole body inside <form id="aspnetForm">."""
    body = soup.body or soup
    total = len(body.get_text(" ").split())
    for form in body.find_all("form"):
        if _gone(form):
            continue
        if not total or len(form.get_text(" ").split()) < WRAPPER_FORM_SHARE * total:
            form.decompose()
        else:
            form.unwrap()


def _drop_page_navigation(soup) -> None:
    """Links that move around the page or act on it ("Return to Top", "Print this page"), the
    separators left between them, and in-page tables of contents."""
    body = soup.body or soup
    for link in body.find_all(("a", "button")):
        if not _gone(link) and _is_navigation_text(link.get_text(" ")):
            link.decompose()
    # (blocks only: a span or a cell reading "Top" or "Share" may be a word of a heading or a table)
    for tag in body.find_all(("p", "div", "li")):
        # the innermost blocks only: reading each wrapper's text again would make deeply nested
        # pages quadratic (a wrapper left empty by its child's removal says nothing)
        if _gone(tag) or tag.find(("p", "div", "li"), recursive=False) is not None:
            continue
        text = _short_text(tag)
        if text and (SEPARATORS_ONLY.fullmatch(text) or _is_navigation_text(text)) and \
                tag.find(("img", "table")) is None:
            tag.decompose()
    for listing in body.find_all(("ul", "ol")):
        if _gone(listing):
            continue
        title = listing.find_previous_sibling(True)
        titled = title is not None and CONTENTS_TITLE.fullmatch(" ".join(title.get_text(" ").split())) is not None
        if _is_contents_list(listing, 1 if titled else 2):
            if titled:
                title.decompose()
            listing.decompose()


def _drop_layout_menus(soup) -> None:
    """The menu and banner cells of a layout table: cells of three or more links and little
    else (trafilatura reads a layout table as one table, menu included)."""
    for table in soup.find_all("table"):
        if _gone(table) or not _is_layout_table(table):
            continue
        for cell in table.find_all(("td", "th")):
            if _gone(cell) or cell.find_parent("table") is not table:
                continue
            words = _word_count(cell)
            links = cell.find_all("a")
            linked = sum(_word_count(a) for a in links)
            if len(links) >= 3 and words and linked >= 0.8 * words:
                cell.decompose()


def _short_text(tag, limit: int = 80) -> str | None:
    """The tag's text, stripped, or None once it runs past `limit` characters (navigation text
    is short; a content block is not read whole just to find that out)."""
    parts, size = [], 0
    for piece in tag.strings:
        parts.append(piece)
        size += len(piece)
        if size > limit and len("".join(parts).strip()) > limit:
            return None
    return " ".join(parts).strip()


def _word_count(element) -> int:
    """Words of an element's text, separators such as "|" not counted."""
    return sum(1 for word in element.get_text(" ").split() if any(c.isalnum() for c in word))


def _is_navigation_text(text: str) -> bool:
    squeezed = ARROWS.sub(" ", text).strip()
    return bool(squeezed) and NAVIGATION_TEXT.fullmatch(" ".join(squeezed.split())) is not None


def _is_contents_list(listing, at_least: int) -> bool:
    """A list of `at_least` items or more, each of which is only links to places on the same page."""
    items = listing.find_all("li", recursive=False)
    if len(items) < at_least:
        return False
    for item in items:
        links = item.find_all("a")
        if not links or not all(str(a.get("href", "")).startswith("#") and len(str(a.get("href", ""))) > 1
                                for a in links):
            return False
        linked = "".join("".join(a.get_text().split()) for a in links)
        if linked != "".join(item.get_text().split()):
            return False
    return True


def _is_layout_table(table) -> bool:
    """A table that lays the page out: marked so, or with headings, paragraphs of prose,
    lists, forms or tables inside its cells."""
    if str(table.get("role", "")).lower() in LAYOUT_ROLES:
        return True
    for cell in table.find_all(("td", "th")):
        if cell.find_parent("table") is not table:
            continue
        if cell.find(("h1", "h2", "h3", "h4", "h5", "h6", "table", "form")) is not None:
            return True
        if len(cell.find_all(("p", "ul", "ol", "div"))) >= 2 and len(cell.get_text(" ").split()) >= 60:
            return True
    return False


def _is_hidden(tag) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    return ("hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true"
            or bool(HIDDEN_STYLE.search(str(attrs.get("style", "")))))


def _drop_furniture(soup) -> None:
    """Landmarks and named blocks that are page furniture on any site: the site header and
    footer, sidebars, breadcrumbs, cookie banners, share buttons."""
    for tag in soup.find_all(_is_furniture):
        if not tag.decomposed:
            tag.decompose()


def _is_furniture(tag) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    if str(attrs.get("role", "")).lower() in BOILERPLATE_ROLES:
        return True
    if tag.name in ("header", "footer", "aside") and tag.find_parent(("article", "main")) is None:
        return True  # the site's header, footer and sidebar, not an article's
    if tag.name in ("body", "main", "article"):
        return False
    label = str(attrs.get("aria-label", ""))
    names = " ".join([str(attrs.get("id", "")), label, *(attrs.get("class") or [])])
    return bool(BOILERPLATE_NAMES.search(names))


def _main_text_blocks(html: str) -> list[str]:
    """The paragraphs, headings, list items and cells trafilatura judges to be main content."""
    try:
        import trafilatura
        from lxml import etree

        xml = trafilatura.extract(html, output_format="xml", include_tables=True, include_comments=False,
                                  include_links=False, include_images=False, deduplicate=False)
        if not xml:
            return []
        root = etree.fromstring(xml.encode("utf-8"))
    except Exception:  # noqa: BLE001 - then the page is read whole, minus its furniture
        return []
    main = root.find("main")
    if main is None:
        return []
    return [text for el in main.iter("p", "head", "item", "cell", "quote", "code")
            if len(text := "".join(el.itertext()).strip()) >= 3]


def _content_element(body, blocks: list[str]):
    """The deepest element that holds at least MIN_SHARE of the blocks' text (None when no
    block is found in the page)."""
    from bs4 import NavigableString
    from bs4.element import Comment, Doctype, ProcessingInstruction

    nodes, starts, parts = [], [], []
    at = 0
    for node in body.descendants:
        if isinstance(node, NavigableString) and not isinstance(node, (Comment, Doctype, ProcessingInstruction)):
            squeezed = "".join(str(node).split())
            if squeezed:
                nodes.append(node)
                starts.append(at)
                parts.append(squeezed)
                at += len(squeezed)
    text = "".join(parts)
    weight: dict[int, int] = {}
    elements: dict[int, object] = {}
    total = 0
    position = 0
    for block in blocks:
        needle = "".join(block.split())
        found = text.find(needle, position)
        if found < 0:
            found = text.find(needle)
        if found < 0:
            continue
        position = found + len(needle)
        total += len(needle)
        first, last = _node_at(starts, found), _node_at(starts, found + len(needle) - 1)
        for element in _common_ancestors(nodes[first], nodes[last]):
            weight[id(element)] = weight.get(id(element), 0) + len(needle)
            elements[id(element)] = element
    if not total:
        return None
    held = [elements[key] for key, w in weight.items() if w >= MIN_SHARE * total]
    return max(held, key=lambda el: len(list(el.parents)), default=None)


def _node_at(starts: list[int], offset: int) -> int:
    from bisect import bisect_right

    return bisect_right(starts, offset) - 1


def _common_ancestors(a, b) -> list:
    """Elements that contain both nodes, innermost first."""
    ancestors_of_b = {id(p) for p in b.parents}
    return [p for p in a.parents if id(p) in ancestors_of_b]


# ---- reading -----------------------------------------------------------------------------------

class _Notes:
    """The page's footnotes, found before it is read: a reference is a <sup> that links to an
    element of the page (`<sup><a href="#fn1">[1]</a></sup>`: Markdown's [^1], Wikipedia's [1]),
    or a <sup> holding the marker a note of the page opens with (`… supervision.<sup>1</sup>` and
    `<p><sup>1</sup> Reflective supervision is …</p>`). A reference leaves the quote (the builder
    keeps where it stood); a note becomes a footnote block, "1 Reflective supervision is …"."""

    def __init__(self) -> None:
        self.references: dict[int, str] = {}  # id() of a <sup> -> its marker
        self.notes: dict[int, tuple[str, object]] = {}  # id() of a note's element -> (marker, the marker's <sup> or None)

    @classmethod
    def of(cls, root) -> "_Notes":
        found = cls()
        sups = root.find_all("sup")
        if not sups:
            return found
        ids = {tag["id"]: tag for tag in root.find_all(id=True)}
        markers = {id(sup): m.group(1) for sup in sups if (m := NOTE_MARKER.fullmatch(sup.get_text().strip()))}
        sups = [sup for sup in sups if id(sup) in markers]
        for sup in sups:
            link = sup.find("a", href=re.compile(r"^#."))
            if link is None:
                continue
            target = ids.get(link["href"][1:])
            note = target if target is not None and target.name in NOTE_BLOCKS else \
                target.find_parent(NOTE_BLOCKS) if target is not None else None
            if note is not None and not any(d is sup for d in note.descendants):
                found.references[id(sup)] = markers[id(sup)]
                found.notes.setdefault(id(note), (markers[id(sup)], None))
        unlinked = [sup for sup in sups if id(sup) not in found.references]
        opening = {}  # marker -> the <sup> a note's block opens with
        for sup in unlinked:
            block = sup.find_parent(NOTE_BLOCKS)
            if block is not None and _opens_with(block, sup):
                opening.setdefault(markers[id(sup)], (block, sup))
        cited = {id(sup): markers[id(sup)] for sup in unlinked
                 if markers[id(sup)] in opening and sup is not opening[markers[id(sup)]][1]}
        for marker in set(cited.values()):
            block, sup = opening[marker]
            found.notes.setdefault(id(block), (marker, sup))
        found.references.update(cited)
        return found

    def note_text(self, element) -> str:
        marker, sup = self.notes[id(element)]
        if sup is not None:
            sup.extract()
        for link in element.find_all("a", href=re.compile(r"^#")):
            if BACKREF.fullmatch(" " + link.get_text()):
                link.extract()
        return f"{marker} {BACKREF.sub('', _inline_text(element))}"


def _inline_text(element) -> str:
    """The text as read: inline pieces joined as they stand ("a link."), blocks apart by a space."""
    from bs4 import NavigableString, Tag

    parts = []
    for child in element.children:
        if isinstance(child, NavigableString):
            parts.append(str(child))
        elif isinstance(child, Tag):
            inner = _inline_text(child)
            parts.append(f" {inner} " if child.name.lower() in BLOCK_TAGS else inner)
    return collapse("".join(parts))


def _opens_with(block, sup) -> bool:
    """Whether `sup` is the first thing in `block` with text."""
    from bs4 import NavigableString

    for node in block.descendants:
        if node is sup:
            return True
        if isinstance(node, NavigableString) and node.strip():
            return False
    return False


def _walk(node, out: PageBuilder, inline: list[str], kind: str, notes: _Notes) -> None:
    """Depth-first: inline text gathers in `inline`; a block tag writes it out first."""
    from bs4 import NavigableString, Tag
    from bs4.element import Comment, Doctype, ProcessingInstruction

    for child in list(node.children):
        if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(child, NavigableString):
            inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if id(child) in notes.references:
            inline.append(reference(notes.references[id(child)]))
            continue
        if id(child) in notes.notes:
            _flush(inline, out, kind)
            out.footnote(notes.note_text(child))
            continue
        if name not in BLOCK_TAGS:
            _walk(child, out, inline, kind, notes)
            continue
        _flush(inline, out, kind)
        if name in HEADINGS:
            out.heading(_text_with_references(child, notes))
        elif name == "pre":
            out.preformatted(child.get_text())
        elif name == "table" and not _is_layout_table(child):
            _table(child, out)
        else:
            inner = "item" if name in ITEM_TAGS else kind
            _walk(child, out, inline, inner, notes)
            _flush(inline, out, inner)


def _text_with_references(element, notes: _Notes) -> str:
    """A heading's text without the markers of the notes it cites."""
    for sup in element.find_all("sup"):
        if id(sup) in notes.references:
            sup.replace_with(reference(notes.references[id(sup)]))
    return element.get_text(" ")


def _flush(inline: list[str], out: PageBuilder, kind: str) -> None:
    text = collapse("".join(inline))
    inline.clear()
    if text:
        (out.item if kind == "item" else out.paragraph)(text)


def _table(table, out: PageBuilder) -> None:
    """Row by row; a caption before it; header rows are those in <thead> or all <th>. Cells
    spanning rows or columns are laid out on the grid, so each column has one cell per row: a
    header cell is repeated under its span (a column's name joins the levels above it, as
    "Rate per unit by child's age 3 to 5 years"), a body cell stands once with empty cells
    beside it (the row reads as printed)."""
    caption = table.find("caption")
    if caption is not None and caption.find_parent("table") is table:
        out.paragraph(caption.get_text(" "))
    rows, header = [], 0
    below: dict[int, tuple[int, str]] = {}  # column -> (rows still spanned, the text to repeat there)
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue  # a nested table's rows are read as the text of its cell
        cells = tr.find_all(("td", "th"), recursive=False)
        if not cells:
            continue
        is_header = len(rows) == header and (tr.find_parent("thead") is not None or all(c.name == "th" for c in cells))
        if is_header:
            header += 1
        row: list[str] = []
        for cell in cells:
            while len(row) in below:
                row.append(_spanned(below, len(row)))
            text = cell.get_text(" ")
            across, down = _span(cell.get("colspan")), _span(cell.get("rowspan"))
            for i in range(across):
                if down > 1:
                    below[len(row)] = (down - 1, text if is_header else "")
                row.append(text if i == 0 or is_header else "")
        while len(row) in below:
            row.append(_spanned(below, len(row)))
        rows.append(row)
    out.table(rows, header)


def _span(value) -> int:
    """A colspan or rowspan attribute as a count of 1 to 100 (browsers cap them too)."""
    try:
        return min(max(int(str(value).strip()), 1), 100)
    except (TypeError, ValueError):
        return 1


def _spanned(below: dict[int, tuple[int, str]], column: int) -> str:
    left, text = below.pop(column)
    if left > 1:
        below[column] = (left - 1, text)
    return text


FORMAT = Format(kind="html", label="HTML page", suffixes=(".html", ".htm"), media_types=("text/html",
                "application/xhtml+xml"), accepts=looks_like_text, extract=extract_html)
